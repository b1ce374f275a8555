"""A real cloudooo server for the tests: started as operators start it.

``ServerProcess`` writes a config, runs ``cloudooo serve`` on free loopback
ports, waits until it answers, and on stop checks that no child survives.
"""

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client
from pathlib import Path

import psutil

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLOUDOOO = str(BIN / "cloudooo")
PSERVE = str(BIN / "pserve")
PASTER = str(BIN / "paster")
SAMPLE_CONF = PROJECT / "cloudooo" / "sample" / "sample.conf"
START_TIMEOUT = 90


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_range(count):
    """A base port with ``count`` free ports after it (for soffice)."""
    for _attempt in range(200):
        base = free_port()
        if base + count > 65000:
            continue
        ports = range(base, base + count)
        if all(_is_free(port) for port in ports):
            return base
    raise RuntimeError("no free port range")


def _is_free(port):
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def registry_from_sample():
    """The sample config's registry lines, so tests route as operators do."""
    lines, inside = [], False
    for line in SAMPLE_CONF.read_text().splitlines():
        if line.startswith("mimetype_registry"):
            inside = True
            continue
        if inside:
            if line.startswith("  ") and line.strip():
                lines.append(line.strip())
            elif line.strip() and not line.startswith("#"):
                break
    return lines


def processes_mentioning(path):
    """Live processes whose command line names ``path``: what a test's
    servers started under its tmp_path and left behind."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if str(path) in " ".join(process.info["cmdline"] or []) and \
                    process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.NoSuchProcess:
            pass
    return found


def office_pids_among(processes):
    """The live soffice.bin among ``processes`` (a zombie is not an
    office), sorted."""
    pids = []
    for process in processes:
        try:
            if process.name() == "soffice.bin" and \
                    process.status() != psutil.STATUS_ZOMBIE:
                pids.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return sorted(pids)


def write_config(path, settings, port, **server_options):
    """A config as operators write one: ``settings`` and the sample's
    registry in [app:main], waitress on 127.0.0.1:``port``."""
    lines = ["[app:main]", "use = egg:cloudooo"]
    for key, value in settings.items():
        lines.append("%s = %s" % (key, value))
    lines.append("mimetype_registry =")
    lines.extend("  " + rule for rule in registry_from_sample())
    lines += ["", "[server:main]", "use = egg:waitress#main",
              "host = 127.0.0.1", "port = %d" % port]
    lines += ["%s = %s" % item for item in server_options.items()]
    Path(path).write_text("\n".join(lines + [""]))


def b64(data):
    return base64.encodebytes(data).decode()


def unb64(text):
    return base64.decodebytes(text.encode())


class ServerProcess:
    def __init__(self, workdir, **settings):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        pool_size = int(settings.get("office_pool_size", 1))
        self.settings = {
            "working_path": str(self.workdir / "var"),
            "office_pool_size": pool_size,
            "openoffice_port": free_port_range(pool_size),
            "timeout_response": 60,
            "queue_timeout": 60,
            # A healthy start takes seconds; a hung one is retried (by the
            # pool) well within the helpers' start wait.
            "office_start_timeout": 20,
            "monitor_interval": 1,
        }
        self.settings.update(settings)
        self.config_path = self.workdir / "cloudooo.conf"
        self.log_path = self.workdir / "cloudooo.log"
        self.pid_path = self.workdir / "cloudooo.pid"
        self.process = None
        self.pid = None
        self._write_config()

    @property
    def url(self):
        return "http://127.0.0.1:%d/RPC2" % self.port

    @property
    def tmp_path(self):
        return Path(self.settings["working_path"]) / "tmp"

    def proxy(self):
        return xmlrpc.client.ServerProxy(self.url, allow_none=True)

    def _write_config(self):
        write_config(self.config_path, self.settings, self.port,
                     threads=8, recv_bytes=262144)

    def serve_argv(self, *options):
        """``cloudooo serve`` of this config, with its log and pid files."""
        return [CLOUDOOO, "serve", str(self.config_path),
                "--log-file", str(self.log_path),
                "--pid-file", str(self.pid_path)] + list(options)

    def launch(self, argv, env=None):
        """Run ``argv``, a command serving this config in the foreground,
        as this server's process, its output appended to the log; not
        waited for (see wait_ready)."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log,
                                            stderr=subprocess.STDOUT,
                                            env=env)
        self.pid = self.process.pid
        return self

    def start(self, daemon=False):
        argv = self.serve_argv()
        if daemon:
            argv.append("--daemon")
            # returns once the server serves (or failed to start)
            subprocess.run(argv, check=True, timeout=START_TIMEOUT)
            deadline = time.monotonic() + START_TIMEOUT
            while not self.pid_path.exists():
                assert time.monotonic() < deadline, self.log()
                time.sleep(0.1)
            self.pid = int(self.pid_path.read_text())
        else:
            self.launch(argv)
        self.wait_ready()
        return self

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("server exited with %s:\n%s"
                                   % (self.process.returncode, self.log()))
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/" % self.port, timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server not ready:\n" + self.log())
                time.sleep(0.2)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def children(self):
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def office_pids(self):
        return office_pids_among(self.children())

    def zombies(self):
        found = []
        for child in self.children():
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    found.append(child)
            except psutil.NoSuchProcess:
                pass
        return found

    def stop(self, signum=signal.SIGTERM, timeout=30):
        """Signal the server; return the pids of its children that outlived
        it (should be none)."""
        if self.pid is None:
            return []
        children = self.children()
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass
        if self.process is not None:
            self.process.wait(timeout)
        else:
            psutil.wait_procs([psutil.Process(self.pid)], timeout=timeout) \
                if psutil.pid_exists(self.pid) else None
        gone, alive = psutil.wait_procs(children, timeout=5)
        for survivor in alive:  # do not leak them into the next test
            survivor.kill()
        self.pid = None
        return [process.pid for process in alive]


def server_with_failing_office(tmp_path):
    """A ServerProcess (not started) whose soffice.bin exits at once, so
    every office start fails.  (A port taken on the host would not stop a
    sandboxed soffice: each sandbox has its own loopback.)"""
    program = Path(tmp_path) / "office" / "program"
    program.mkdir(parents=True)
    fake = program / "soffice.bin"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    return ServerProcess(tmp_path, office_pool_size=1,
                         office_binary_path=str(program),
                         uno_python="/usr/bin/python3",
                         office_start_timeout=5)
