"""The in-process UNO floor: load + store + close on a warm bridge, timed.

Run under a Python that can ``import uno`` (Debian's /usr/bin/python3); the
benchmark (bench/bench.py) starts it as a child and speaks JSON lines:

    stdout, once:  {"ready": true, "soffice_pid": PID, "port": P,
                    "tempdir": DIR, "version": "LibreOffice 7.4..."}
                   or {"ready": false, "error": ...}
    stdin:         {"input": PATH, "output": PATH, "filter": NAME,
                    "filter_data": {...} or null, "repeat": N}
    stdout:        {"ok": true, "ms": [N timings]}  or {"ok": false, ...}

Throughput mode, a request of its own on the same channel:

    stdin:         {"jobs": [{"input": PATH, "output": PATH, "filter": NAME,
                              "filter_data": {...} or null,
                              "magic": "%PDF-"}, ...]}
    stdout:        {"ok": true, "count": N, "seconds": S}  or {"ok": false}

converts the jobs one after the other, as a sequential client would, and
checks that every output starts with its job's "magic" (latin-1 string).
"seconds" is the wall time of the whole list in this process; the
benchmark times the request itself, so that two such clients running at
once are timed over the same wall clock.

It starts a soffice.bin of its own (private profile in a temporary
directory, its own free port), connects once, and times only what
LibreOffice does: loadComponentFromURL (the same load options as
cloudooo's UNO worker), storeToURL with the given filter, close(True).
On end of input, SIGTERM or any error it stops that soffice by PID and
removes the temporary directory.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import uno
from com.sun.star.connection import NoConnectException

# The worker's own helpers, so the floor builds properties and replies the
# way cloudooo does (the package imports only the standard library here).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from cloudooo.handler.ooo import unoworker  # noqa: E402
from cloudooo.handler.ooo.unoworker import properties, reply  # noqa: E402

SOFFICE_BIN = "/usr/lib/libreoffice/program/soffice.bin"
# soffice.bin exits with this code once after creating a new profile.
EXIT_CODE_PROFILE_CREATED = 81
MAX_STARTS = 3
STOP_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.05
# Load options of cloudooo's worker (unoworker.Office._load): Hidden, macros
# never run (MacroExecutionMode 0), links never updated (UpdateDocMode 0).
LOAD_OPTIONS = {"Hidden": True, "MacroExecutionMode": 0, "UpdateDocMode": 0,
                "ReadOnly": False}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FloorOffice:
    """A private soffice.bin and one warm bridge to it."""

    def __init__(self, soffice_bin, start_timeout):
        self.soffice_bin = soffice_bin
        self.start_timeout = start_timeout
        self.tempdir = tempfile.mkdtemp(prefix="cloudooo-floor-")
        self.profile = os.path.join(self.tempdir, "profile")
        self.port = free_port()
        self.popen = None
        self.desktop = None
        self.context = None

    def argv(self):
        # tcpNoDelay as in cloudooo (process.OfficeProcess): without it the
        # floor would pay Nagle delays cloudooo does not, and flatter us.
        return [self.soffice_bin, "--headless", "--invisible", "--norestore",
                "--nologo", "--nodefault",
                "-env:UserInstallation=" + uno.systemPathToFileUrl(
                    self.profile),
                "--accept=socket,host=127.0.0.1,port=%d,tcpNoDelay=1;urp;"
                % self.port]

    def _spawn(self):
        # Its temporary files (lu*.tmp) in our folder, removed with it.
        self.popen = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
            env=dict(os.environ, TMPDIR=self.tempdir))

    def start(self):
        """Start soffice (again after its profile-creating exit 81) and
        connect, polling until ``start_timeout``."""
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local)
        url = ("uno:socket,host=127.0.0.1,port=%d,tcpNoDelay=1;urp;"
               "StarOffice.ComponentContext" % self.port)
        self._spawn()
        starts = 1
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self.popen.poll()
            if code == EXIT_CODE_PROFILE_CREATED and starts < MAX_STARTS:
                self._spawn()
                starts += 1
            elif code is not None:
                raise RuntimeError("soffice.bin exited with code %s" % code)
            try:
                self.context = resolver.resolve(url)
                break
            except NoConnectException:
                if time.monotonic() > deadline:
                    raise RuntimeError("soffice.bin did not accept a UNO "
                                       "connection within %s s"
                                       % self.start_timeout)
                time.sleep(POLL_SECONDS)
        self.desktop = self.context.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", self.context)

    def version(self):
        try:
            provider = self.context.ServiceManager.createInstanceWithContext(
                "com.sun.star.configuration.ConfigurationProvider",
                self.context)
            access = provider.createInstanceWithArguments(
                "com.sun.star.configuration.ConfigurationAccess",
                properties({"nodepath": "/org.openoffice.Setup/Product"}))
            return "%s %s" % (access.getByName("ooName"),
                              access.getByName("ooSetupVersionAboutBox"))
        except Exception as error:  # informative only
            return "unknown (%s)" % error

    def convert_once(self, input_url, output_url, store_options):
        """One timed load + store + close; milliseconds."""
        started = time.perf_counter()
        document = self.desktop.loadComponentFromURL(
            input_url, "_blank", 0, properties(LOAD_OPTIONS))
        if document is None:
            raise RuntimeError("LibreOffice could not open %s" % input_url)
        try:
            document.storeToURL(output_url, store_options)
        finally:
            document.close(True)
        return (time.perf_counter() - started) * 1000.0

    def stop(self):
        """Ask our soffice to quit through UNO, as cloudooo's worker does
        (then it removes its OSL_PIPE socket in /tmp, which a signal leaves
        behind); TERM, then KILL, by PID if it does not; wipe its
        profile."""
        popen, self.popen = self.popen, None
        if popen is not None and popen.poll() is None and self.desktop:
            try:
                self.desktop.terminate()
            except Exception:
                pass  # the bridge dropped as soffice quit, or was gone
            try:
                popen.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        if popen is not None and popen.poll() is None:
            for signum in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.kill(popen.pid, signum)
                except ProcessLookupError:
                    break
                try:
                    popen.wait(STOP_GRACE_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    continue
        shutil.rmtree(self.tempdir, ignore_errors=True)


def store_options_for(request):
    store = {"FilterName": request["filter"], "Overwrite": True}
    if request.get("filter_data"):
        store["FilterData"] = request["filter_data"]
    return properties(store)


def run_jobs(office, jobs):
    """Throughput mode: the jobs in order; (count, wall seconds)."""
    # URLs and store options are prepared before the clock starts: what
    # is timed is LibreOffice's load + store + close and the output check.
    prepared = []
    for job in jobs:
        prepared.append((
            uno.systemPathToFileUrl(os.path.abspath(job["input"])),
            uno.systemPathToFileUrl(os.path.abspath(job["output"])),
            store_options_for(job), job["output"],
            job.get("magic", "").encode("latin-1")))
    started = time.perf_counter()
    for input_url, output_url, store_options, output, magic in prepared:
        office.convert_once(input_url, output_url, store_options)
        if magic:
            with open(output, "rb") as written:
                head = written.read(len(magic))
            if head != magic:
                raise RuntimeError("%s: output starts with %r, not %r"
                                   % (output, head, magic))
    return len(prepared), time.perf_counter() - started


def serve(office):
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if "jobs" in request:
                count, seconds = run_jobs(office, request["jobs"])
                reply({"ok": True, "count": count, "seconds": seconds})
                continue
            store_options = store_options_for(request)
            input_url = uno.systemPathToFileUrl(
                os.path.abspath(request["input"]))
            output_url = uno.systemPathToFileUrl(
                os.path.abspath(request["output"]))
            timings = [office.convert_once(input_url, output_url,
                                           store_options)
                       for _ in range(int(request.get("repeat", 1)))]
            reply({"ok": True, "ms": timings})
        except Exception as error:
            reply({"ok": False, "error": "%s: %s" % (
                type(error).__name__,
                getattr(error, "Message", "") or error)})


def terminate(signum, frame):
    raise SystemExit(128 + signum)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soffice", default=SOFFICE_BIN)
    parser.add_argument("--start-timeout", type=float, default=60.0)
    arguments = parser.parse_args()
    unoworker.take_over_stdout()
    signal.signal(signal.SIGTERM, terminate)
    office = FloorOffice(arguments.soffice, arguments.start_timeout)
    try:
        try:
            office.start()
        except Exception as error:
            reply({"ready": False, "error": str(error)})
            return 2
        reply({"ready": True, "soffice_pid": office.popen.pid,
               "port": office.port, "tempdir": office.tempdir,
               "version": office.version()})
        serve(office)
        return 0
    finally:
        office.stop()
        unoworker.REPLY_STREAM.flush()


if __name__ == "__main__":
    code = main()
    # Skip interpreter teardown: the pyuno bridge's writer thread sometimes
    # segfaults there, after the work is done.
    os._exit(code)
