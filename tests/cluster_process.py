"""A real ``cloudooo cluster`` for the tests and the benchmark: HAProxy
and N servers started as operators start them, watched through HAProxy's
own stats socket and log, and a bounded load of XML-RPC clients.
"""

import base64
import dataclasses
import os
import queue
import re
import signal
import subprocess
import threading
import time
import xmlrpc.client
from pathlib import Path

import psutil

from cloudooo.cluster import haproxy_server_states
from tests.server import (CLOUDOOO, free_port_range, office_pids_among,
                          write_config)

START_TIMEOUT = 180
STOP_TIMEOUT = 90
CALL_TIMEOUT = 120

# HAProxy's httplog line with the X-Request-Id capture, e.g.
# 127.0.0.1:5 [02/Dec/2026:09:20:41.154] cloudooo cloudooo_servers/cloudooo1
#   0/0/0/266/266 200 37096 - - ---- 1/1/0/0/0 0/0 {id} "POST /RPC2 HTTP/1.1"
HTTPLOG = re.compile(
    r"^\S+ \[[^]]+\] \S+ (?P<backend>[^/ ]+)/(?P<server>\S+) \S+ "
    r"(?P<status>-?\d+) \S+ \S+ \S+ (?P<termination>\S{4}) \S+ \S+ "
    r"\{(?P<request_id>[^}]*)\}")


class ClusterProcess:
    def __init__(self, workdir, servers=2, **settings):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server_count = servers
        self.explicit_settings = dict(settings)
        self.config_path = self.workdir / "cloudooo.conf"
        self.output_path = self.workdir / "cluster.out"
        self._choose_ports()
        self.cluster_path = Path(self.settings["working_path"]) / "cluster"
        self.process = None

    def _choose_ports(self):
        """Free loopback ports: HAProxy's and the servers' in a row, the
        office ports apart from them; the config written with them."""
        servers = self.server_count
        self.port = free_port_range(servers + 1)
        pool_size = int(self.explicit_settings.get("office_pool_size", 1))
        http_ports = range(self.port, self.port + servers + 1)
        while True:
            office_port = free_port_range(pool_size * servers)
            if not set(http_ports) & set(range(
                    office_port, office_port + pool_size * servers)):
                break
        self.settings = {
            "working_path": str(self.workdir / "var"),
            "office_pool_size": pool_size,
            "openoffice_port": office_port,
            "timeout_response": 60,
            "queue_timeout": 60,
            # A healthy start takes seconds; a hung one is retried (by the
            # pool) well within the helpers' start wait.
            "office_start_timeout": 20,
            "monitor_interval": 1,
        }
        self.settings.update(self.explicit_settings)
        self._write_config()

    @property
    def url(self):
        return "http://127.0.0.1:%d/RPC2" % self.port

    @property
    def pid(self):
        return self.process.pid if self.process is not None else None

    def server_names(self):
        return ["cloudooo%d" % number
                for number in range(1, self.server_count + 1)]

    def _write_config(self):
        write_config(self.config_path, self.settings, self.port, threads=8)

    def start(self, attempts=3):
        for attempt in range(attempts):
            with open(self.output_path, "ab") as output:
                self.process = subprocess.Popen(
                    [CLOUDOOO, "cluster", str(self.config_path),
                     "--servers", str(self.server_count), "--port",
                     str(self.port)],
                    stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                    start_new_session=True)
            try:
                self.wait_all_up()
                return self
            except RuntimeError:
                # A port taken meanwhile by another test on this machine:
                # new ports, once more.
                if self.process.poll() is None or attempt == attempts - 1 \
                        or "cannot listen on" not in self.output():
                    self.stop()  # nothing leaks from a failed start
                    raise
                self._choose_ports()

    def output(self):
        try:
            return self.output_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_all_up(self, timeout=START_TIMEOUT, exclude_pids=()):
        """Until HAProxy sees every server UP (and, for servers whose pid
        was in ``exclude_pids``, a new one)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("cluster exited with %s:\n%s" % (
                    self.process.returncode, self.output()[-6000:]))
            try:
                states = self.server_states()
                pids = [self.server_pid(name) for name in states]
            except (OSError, ValueError):
                states, pids = {}, []
            if len(states) == self.server_count and all(
                    state == "UP" for state in states.values()) and not (
                    set(pids) & set(exclude_pids)):
                return states
            if time.monotonic() > deadline:
                raise RuntimeError("servers not all UP: %s\n%s" % (
                    states, self.output()[-6000:]))
            time.sleep(0.2)

    def server_states(self):
        """{server name: HAProxy's status (UP, DOWN...)} from 'show stat'."""
        return haproxy_server_states(self.cluster_path / "haproxy.sock")

    def server_pid(self, name):
        return int((self.cluster_path / (name + ".pid")).read_text())

    def server_log(self, name):
        return (self.cluster_path / (name + ".log")).read_text(
            errors="replace")

    def haproxy_log(self):
        return (self.cluster_path / "haproxy.log").read_text(
            errors="replace")

    def request_entries(self):
        """HAProxy's request lines: [dict(server, status, termination,
        request_id)]."""
        entries = []
        for line in self.haproxy_log().splitlines():
            match = HTTPLOG.match(line)
            if match:
                entry = match.groupdict()
                entry["status"] = int(entry["status"])
                entries.append(entry)
        return entries

    def entries_by_request_id(self, jobs, timeout=15):
        """HAProxy's request lines of ``jobs`` by request id.  HAProxy logs
        a request when it ends, a moment after the client has its answer:
        wait (bounded) until every job's line is there."""
        wanted = {job.request_id for job in jobs}
        deadline = time.monotonic() + timeout
        while True:
            entries = {entry["request_id"]: entry
                       for entry in self.request_entries()}
            if wanted <= entries.keys() or time.monotonic() > deadline:
                return entries
            time.sleep(0.2)

    def descendants(self):
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def office_pids(self, name):
        """Live soffice.bin of one server."""
        try:
            children = psutil.Process(self.server_pid(name)).children(
                recursive=True)
        except (psutil.NoSuchProcess, OSError, ValueError):
            return []
        return office_pids_among(children)

    def stop(self, signum=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal the cluster; return (exit code, processes below it that
        outlived it, which are then killed so no test leaks them)."""
        if self.process is None:
            return None, []
        below = self.descendants()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        _gone, alive = psutil.wait_procs(below, timeout=5)
        survivors = []
        for process in alive:
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    survivors.append(process)
                    process.kill()
            except psutil.NoSuchProcess:
                pass
        self.process = None
        return code, survivors


@dataclasses.dataclass
class Job:
    """One conversion of a load, with what came of it."""

    request_id: str
    data: bytes = dataclasses.field(repr=False)
    source: str
    destination: str
    magic: bytes
    error: object = None
    output: bytes = None

    @property
    def ok(self):
        return self.error is None and self.output is not None and \
            self.output.startswith(self.magic)


class TimeoutTransport(xmlrpc.client.Transport):
    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = CALL_TIMEOUT
        return connection


def convert(url, job):
    """One convertFile with the job's id as X-Request-Id, as a fresh
    client (one connection per request)."""
    proxy = xmlrpc.client.ServerProxy(
        url, allow_none=True,
        transport=TimeoutTransport(headers=[("X-Request-Id",
                                             job.request_id)]))
    try:
        result = proxy.convertFile(
            base64.encodebytes(job.data).decode(), job.source,
            job.destination)
        job.output = base64.decodebytes(result.encode())
    except Exception as error:  # the test looks at every failure
        job.error = error
    finally:
        proxy("close")()


def run_load(url, jobs, threads=4, when_done=None):
    """Send ``jobs`` from ``threads`` client threads; ``when_done`` is
    [(count, action)]: action() runs in this thread once ``count`` jobs
    have been answered.  Bounded: every call has CALL_TIMEOUT."""
    work = queue.Queue()
    for job in jobs:
        work.put(job)
    answered = []
    lock = threading.Condition()

    def client():
        while True:
            try:
                job = work.get_nowait()
            except queue.Empty:
                return
            convert(url, job)
            with lock:
                answered.append(job)
                lock.notify_all()

    workers = [threading.Thread(target=client, daemon=True)
               for _number in range(threads)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + CALL_TIMEOUT * (len(jobs) + 1)
    for count, action in sorted(when_done or [], key=lambda item: item[0]):
        with lock:
            while len(answered) < count and time.monotonic() < deadline:
                lock.wait(1)
        action()
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    if any(worker.is_alive() for worker in workers):
        raise RuntimeError("the load did not finish in time")
    return jobs


def kill_pid(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
