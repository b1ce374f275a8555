"""Child processes of one office instance: soffice.bin and its UNO worker.

``ChildProcess`` owns the start/stop mechanics of a child (its own session
so a kill reaches its helpers, TERM then KILL after a grace period, reaping
so no zombie stays).  ``UnoWorkerProcess`` is the one child the server
starts per instance, inside the instance's sandbox; what is said over its
pipes is ``connection.py``'s business.  The worker starts soffice.bin
itself (and handles the first-start exit-81 dance).  ``OfficeProcess`` builds
soffice's argv and follows the running soffice by pid.
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import psutil

from cloudooo.handler.ooo.protocol import WorkerLost
from cloudooo.util import wait_until

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 3.0

_HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_SCRIPT = os.path.join(_HERE, "unoworker.py")
# What the worker's sandbox must show it: the script and the protocol
# module it imports as its sibling.
WORKER_FILES = (WORKER_SCRIPT, os.path.join(_HERE, "protocol.py"))


class ChildProcess:
    """One child started in its own session, stopped by PID, always reaped."""

    name = "child"

    def __init__(self, env, popen=subprocess.Popen):
        self.env = env
        # Starts the child; see OfficePool for why it may run elsewhere.
        self.popen_factory = popen
        self.popen = None

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def is_running(self):
        return self.popen is not None and self.popen.poll() is None

    def _spawn(self, argv, env=None, **options):
        self.popen = self.popen_factory(argv, env=env or self.env,
                                        start_new_session=True, **options)
        logger.debug("started %s pid %d: %s", self.name, self.popen.pid,
                     " ".join(argv))

    def stop(self, grace=STOP_GRACE_SECONDS):
        """TERM, wait ``grace`` seconds, then KILL; reap in every case."""
        if self.popen is None:
            return
        popen, self.popen = self.popen, None
        if popen.poll() is None:
            self._signal_group(popen, signal.SIGTERM)
            try:
                popen.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal_group(popen, signal.SIGKILL)
                popen.wait()
        else:
            # The leader may be gone while helpers it started live on.
            self._signal_group(popen, signal.SIGKILL)
        self._close_pipes(popen)

    def kill(self):
        """Immediate SIGKILL, for a stalled or crashed child."""
        if self.popen is None:
            return
        popen, self.popen = self.popen, None
        self._signal_group(popen, signal.SIGKILL)
        popen.wait()
        self._close_pipes(popen)

    def interrupt(self):
        """SIGKILL sent from another thread than the one using this child:
        nothing is reaped or closed here; the user's next read sees the end
        of the pipe and cleans up as after a crash."""
        popen = self.popen
        if popen is not None and popen.poll() is None:
            self._signal_group(popen, signal.SIGKILL)

    @staticmethod
    def _signal_group(popen, signum):
        try:
            os.killpg(popen.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            # A SIGSTOPped process only acts on TERM once continued.
            if signum == signal.SIGTERM:
                os.killpg(popen.pid, signal.SIGCONT)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _close_pipes(popen):
        for stream in (popen.stdin, popen.stdout, popen.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class OfficeProcess:
    """A headless soffice.bin listening for UNO on host:port.

    Its UNO worker starts it (they share one sandbox, see
    cloudooo.sandbox): this object builds its argv and, once the worker is
    ready, follows it by its pid as the server sees it, for memory checks,
    log lines and kills.
    """

    name = "soffice.bin"

    def __init__(self, office_binary_path, host, port, profile_path, env):
        self.env = env
        self.binary = os.path.join(office_binary_path, "soffice.bin")
        self.host = host
        self.port = port
        self.profile_path = profile_path
        self._process = None
        self._start_ticks = None

    @property
    def pid(self):
        return self._process.pid if self._process else None

    def argv(self):
        return [self.binary, "--headless", "--invisible", "--nocrashreport",
                "--nodefault", "--nologo", "--nofirststartwizard",
                "--norestore", "--nolockcheck",
                "-env:UserInstallation=file://" + self.profile_path,
                "--accept=socket,host=%s,port=%d,tcpNoDelay=1;urp;"
                "StarOffice.ComponentContext" % (self.host, self.port)]

    def start(self):
        """Prepare for a start by the worker (see UnoWorkerProcess)."""
        os.makedirs(self.profile_path, exist_ok=True)
        self._process = None

    def attach(self, worker_pid):
        """Find the soffice.bin the worker ``worker_pid`` started (a
        descendant, across the sandbox's PID namespace)."""
        try:
            descendants = psutil.Process(worker_pid).children(recursive=True)
        except psutil.Error:
            descendants = []
        for process in descendants:
            try:
                if process.name() == "soffice.bin":
                    stat = _proc_stat(process.pid)
                    if stat is None:
                        continue
                    self._process = process
                    self._start_ticks = stat[1]
                    return process.pid
            except psutil.Error:
                continue
        raise WorkerLost("the worker is ready but no soffice.bin runs "
                         "under it")

    def is_running(self):
        """soffice.bin alive, not a zombie, and still the process attached
        (same start time: a PID can be reused).  Asked before every task,
        so one read of /proc/PID/stat rather than psutil's three."""
        if self._process is None:
            return False
        stat = _proc_stat(self._process.pid)
        return stat is not None and stat[0] != b"Z" and \
            stat[1] == self._start_ticks

    def stop(self, grace=STOP_GRACE_SECONDS):
        """After the worker asked soffice to quit: wait ``grace`` seconds
        for it to go, then KILL."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(grace)
        except psutil.TimeoutExpired:
            self._kill(process)
        except psutil.Error:
            pass

    def kill(self):
        """Immediate SIGKILL, for a stalled or crashed soffice."""
        process, self._process = self._process, None
        if process is not None:
            self._kill(process)

    def interrupt(self):
        """SIGKILL from another thread than the one using this instance
        (server stopping); that one notices and cleans up."""
        process = self._process
        if process is not None:
            try:
                process.kill()
            except psutil.Error:
                pass

    @staticmethod
    def _kill(process):
        try:
            process.kill()
            process.wait(STOP_GRACE_SECONDS)
        except psutil.Error:
            pass

    def rss_bytes(self):
        """Resident memory of soffice.bin, 0 when it is not running."""
        try:
            return self._process.memory_info().rss
        except (psutil.Error, AttributeError):
            return 0

    def wipe_profile(self):
        shutil.rmtree(self.profile_path, ignore_errors=True)


def _proc_stat(pid):
    """(state, start time in clock ticks) of process ``pid`` from
    /proc/PID/stat (fields 3 and 22 of proc(5)), or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb", buffering=0) as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (in parentheses) may hold spaces and parentheses.
    fields = data[data.rfind(b")") + 2:].split()
    return fields[0], fields[19]


class UnoWorkerProcess(ChildProcess):
    """The ``unoworker.py`` child, its stdin and stdout piped to us."""

    name = "uno worker"

    def __init__(self, python, uno_path, host, port, env,
                 wrap=lambda argv: argv, popen=subprocess.Popen):
        super().__init__(env, popen)
        self.python = python
        self.uno_path = uno_path
        self.host = host
        self.port = port
        # Turns the worker's argv into its sandboxed argv (Sandbox.wrap).
        self.wrap = wrap

    def start(self, connect_timeout, office_argv):
        """Start the worker, which starts soffice (``office_argv``) as its
        child and connects to it within ``connect_timeout`` seconds;
        return its Popen, whose pipes carry a WorkerConnection."""
        env = dict(self.env)
        if self.uno_path:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [self.uno_path, env.get("PYTHONPATH")]))
        self._spawn(self.wrap([
            self.python, "-u", WORKER_SCRIPT, "--host", self.host,
            "--port", str(self.port),
            "--connect-timeout", str(connect_timeout),
            "--office-argv", json.dumps(office_argv)]), env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
        return self.popen

    def stop(self, grace=STOP_GRACE_SECONDS):
        """Once its input is closed (WorkerConnection.close), the worker asks
        soffice to quit through UNO (soffice then removes its own files)
        and exits: wait ``grace`` seconds for that, then TERM, then KILL."""
        if self.popen is not None and self.popen.poll() is None:
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        super().stop(grace=STOP_GRACE_SECONDS)


def find_uno_python(configured, office_binary_path):
    """The first Python that can ``import uno``, with what was tried.

    Order: the configured one, LibreOffice's bundled ``program/python``,
    Debian's /usr/bin/python3, then the server's own interpreter.
    Returns (path or None, [(candidate, reason), ...]).
    """
    candidates = [configured] if configured else [
        os.path.join(office_binary_path, "python"), "/usr/bin/python3",
        sys.executable]
    tried = []
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            tried.append((candidate, "not found"))
            continue
        try:
            subprocess.run([candidate, "-c", "import uno"], check=True,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
            return candidate, tried
        except (subprocess.SubprocessError, OSError):
            tried.append((candidate, "cannot import uno"))
    return None, tried


def port_is_free(host, port):
    import socket
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def terminate_orphans_on_port(host, port, profile_root):
    """Stop a soffice from an earlier run still listening on our port.

    Only a soffice.bin whose profile lies under our own working path is
    touched: the port alone could belong to somebody else's office.
    """
    stopped = []
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if not cmdline or not os.path.basename(cmdline[0]).startswith(
                "soffice"):
            continue
        joined = " ".join(cmdline)
        if ("port=%d" % port) not in joined or profile_root not in joined:
            continue
        logger.warning("terminating orphan soffice pid %d on port %d",
                       process.pid, port)
        try:
            process.terminate()
            process.wait(STOP_GRACE_SECONDS)
        except psutil.TimeoutExpired:
            process.kill()
        except psutil.Error:
            pass
        stopped.append(process.pid)
    if stopped:
        wait_until(lambda: port_is_free(host, port), 10,
                   what="port %d free" % port)
    return stopped
