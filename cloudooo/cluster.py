"""``cloudooo cluster CONF --servers N [--port P]``: N servers of one ini
behind HAProxy, on one machine, in the foreground.

HAProxy listens on P (default: the ini's ``[server:main]`` port); server
``cloudoooK`` listens on 127.0.0.1:P+K with its own office ports
(``openoffice_port + (K-1) * office_pool_size``...) and its own working
path, all under ``WORKING_PATH/cluster/``.  Each server is a plain
``cloudooo serve`` of a small ini that inherits CONF (``use =
config:CONF#main``) and overrides only those keys, so what CONF says holds
for every server.  HAProxy runs ``deploy/haproxy.cfg`` with our servers
written in and its ``CLOUDOOO_*`` variables set from CONF.

While the cluster runs, a server that exits is started again on its port:
``kill -HUP`` of one server's pid is a rolling restart of that server (its
/ready turns 503, HAProxy moves new work away, it drains, exits, and its
replacement rejoins once /ready says 200); after ``kill -9`` the
replacement starts the same way.  This process is the child subreaper of
everything below it, so the soffice of a server killed outright comes back
to us and is stopped by its PID.

SIGUSR2 to the cluster restarts every server in turn that way, the next
one only once HAProxy has its predecessor's replacement UP.

SIGHUP, SIGTERM, SIGINT or SIGQUIT to the cluster stops HAProxy (soft stop:
it finishes what is in flight) and every server (drain), then any process
left below us.  A second signal skips the servers' drain notice.
"""

import ctypes
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from cloudooo.errors import ConfigurationError
from cloudooo.util import wait_until

logger = logging.getLogger("cloudooo.cluster")

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = PROJECT / "deploy" / "haproxy.cfg"
SERVERS_BEGIN = "# -- servers --"
SERVERS_END = "# -- end of servers --"
BACKEND_NAME = "cloudooo_servers"

# Must match the template's default-server line and "timeout check" (tests
# check it): a server told to stop keeps serving, /ready at 503, until
# HAProxy has seen that, even when the check answered just before the
# signal and the next one is slow: inter x fall + timeout check.
CHECK_INTERVAL_SECONDS = 0.5
CHECK_FALL = 1
CHECK_TIMEOUT_SECONDS = 2.0
MIN_DRAIN_NOTICE_SECONDS = CHECK_INTERVAL_SECONDS * CHECK_FALL + \
    CHECK_TIMEOUT_SECONDS + 0.5
# Requests a server holds beyond one per office instance: the next one
# waits there, so an instance never idles between two conversions.
DEFAULT_QUEUE_PER_SERVER = 1
# Headroom over every cloudooo time limit for HAProxy's server timeout.
TIMEOUT_MARGIN_SECONDS = 30
WAITRESS_DEFAULT_THREADS = 4

LOOP_TICK_SECONDS = 0.2
READY_POLL_SECONDS = 0.5
# A server that stopped as asked (exit code 0) or ran this long is replaced
# at once; one that failed sooner waits 1, 2, 4... up to RESTART_DELAY_MAX
# seconds, so a server that cannot start does not spin.
RESTART_QUICK_EXIT_SECONDS = 30.0
RESTART_DELAY_MAX = 30.0
# Stopping: a server's notice and drain (cli.DRAIN_GRACE_SECONDS) plus its
# children's TERM grace; then KILL.
SERVER_STOP_EXTRA_SECONDS = 30.0
HAPROXY_STOP_SECONDS = 5.0
ORPHAN_GRACE_SECONDS = 3.0

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def find_haproxy(configured=None):
    """The haproxy binary: given, in PATH, or Debian's /usr/sbin (not in
    a normal user's PATH)."""
    for candidate in (configured, shutil.which("haproxy"),
                      "/usr/sbin/haproxy"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigurationError(
        "haproxy not found%s (on Debian: apt-get install haproxy)"
        % (" at %s" % configured if configured else ""))


def haproxy_server_states(socket_path, backend=BACKEND_NAME):
    """{server name: status (UP, DOWN, MAINT...)} from HAProxy's stats
    socket ('show stat')."""
    with socket.socket(socket.AF_UNIX) as connection:
        connection.settimeout(10)
        connection.connect(str(socket_path))
        connection.sendall(b"show stat\n")
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    lines = b"".join(chunks).decode("utf-8", "replace").splitlines()
    if not lines:
        return {}
    header = lines[0].lstrip("# ").split(",")
    states = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == backend and \
                row.get("svname") not in (None, "BACKEND"):
            states[row["svname"]] = row.get("status", "")
    return states


def haproxy_seconds(value):
    return "%ds" % math.ceil(value)


def haproxy_address(host, port):
    if ":" in host:  # IPv6
        return "[%s]:%d" % (host, port) if not host.startswith("[") \
            else "%s:%d" % (host, port)
    return "%s:%d" % (host, port)


class ServerPlan:
    """Where one server of the cluster listens and keeps its files."""

    def __init__(self, number, port, openoffice_port, cluster_path):
        self.name = "cloudooo%d" % number
        self.port = port
        self.openoffice_port = openoffice_port
        self.working_path = cluster_path / self.name
        self.config_path = cluster_path / (self.name + ".ini")
        self.log_path = cluster_path / (self.name + ".log")
        self.pid_path = cluster_path / (self.name + ".pid")

    @property
    def ready_url(self):
        return "http://127.0.0.1:%d/ready" % self.port


class ClusterPlan:
    """Everything the cluster derives from CONF, before starting anything:
    ports, paths, the servers' inis, HAProxy's configuration and
    environment.  Raises ConfigurationError on a clash."""

    def __init__(self, config_path, servers, port=None, host=None,
                 queue_per_server=DEFAULT_QUEUE_PER_SERVER,
                 template_path=DEFAULT_TEMPLATE):
        from cloudooo.cli import read_server_options
        from cloudooo.ops.preflight import load_settings
        if servers < 1:
            raise ConfigurationError("--servers must be at least 1")
        if queue_per_server < 0:
            raise ConfigurationError("--queue-per-server must be at least 0")
        self.config_path = Path(config_path).resolve()
        self.settings = load_settings(str(self.config_path))
        self.server_options = read_server_options(str(self.config_path))
        self.host = host or self.server_options.get("host", "0.0.0.0")
        self.port = int(port or self.server_options.get("port", 8080))
        self.template_path = Path(template_path)
        self.cluster_path = Path(self.settings.working_path) / "cluster"
        self.socket_path = self.cluster_path / "haproxy.sock"
        self.haproxy_config_path = self.cluster_path / "haproxy.cfg"
        self.haproxy_log_path = self.cluster_path / "haproxy.log"
        pool = self.settings.office_pool_size
        self.server_maxconn = pool + queue_per_server
        self.drain_notice_seconds = max(self.settings.drain_notice_seconds,
                                        MIN_DRAIN_NOTICE_SECONDS)
        self.threads = max(int(self.server_options.get(
            "threads", WAITRESS_DEFAULT_THREADS)), self.server_maxconn + 2)
        self.servers = [
            ServerPlan(number, self.port + number,
                       self.settings.openoffice_port + (number - 1) * pool,
                       self.cluster_path)
            for number in range(1, servers + 1)]
        self._check_ports()

    def _check_ports(self):
        http_ports = [self.port] + [server.port for server in self.servers]
        if http_ports[-1] > 65535:
            raise ConfigurationError(
                "--port %d + %d servers goes past 65535"
                % (self.port, len(self.servers)))
        pool = self.settings.office_pool_size
        first_office = self.servers[0].openoffice_port
        last_office = first_office + len(self.servers) * pool - 1
        if last_office > 65535:
            raise ConfigurationError(
                "openoffice_port %d + %d servers x office_pool_size %d goes "
                "past 65535" % (first_office, len(self.servers), pool))
        clash = [port for port in http_ports
                 if first_office <= port <= last_office]
        if clash:
            raise ConfigurationError(
                "the servers' office ports %d-%d include the HTTP port %d "
                "(HAProxy on %d, servers on %d-%d): move openoffice_port or "
                "--port" % (first_office, last_office, clash[0], self.port,
                            http_ports[1], http_ports[-1]))

    def timeout_server_seconds(self):
        """Longer than any answer cloudooo may take, Faults included."""
        settings = self.settings
        return settings.queue_timeout + max(
            2 * settings.timeout_response, settings.ffmpeg_timeout,
            settings.tool_timeout) + TIMEOUT_MARGIN_SECONDS

    def haproxy_environment(self):
        """The CLOUDOOO_* variables deploy/haproxy.cfg reads."""
        return {
            "CLOUDOOO_BIND": haproxy_address(self.host, self.port),
            "CLOUDOOO_HAPROXY_SOCKET": str(self.socket_path),
            "CLOUDOOO_TIMEOUT_SERVER": haproxy_seconds(
                self.timeout_server_seconds()),
            "CLOUDOOO_TIMEOUT_QUEUE": haproxy_seconds(
                self.settings.queue_timeout),
            "CLOUDOOO_MAX_REQUEST_SIZE": str(self.settings.max_request_size),
            "CLOUDOOO_SERVER_MAXCONN": str(self.server_maxconn),
        }

    def haproxy_config(self):
        """The template with our servers between its markers."""
        try:
            template = self.template_path.read_text()
        except OSError as error:
            raise ConfigurationError("cannot read the HAProxy template %s: "
                                     "%s" % (self.template_path,
                                             error.strerror))
        lines = template.splitlines()
        try:
            begin = next(index for index, line in enumerate(lines)
                         if line.strip() == SERVERS_BEGIN)
            end = next(index for index, line in enumerate(lines)
                       if line.strip() == SERVERS_END)
        except StopIteration:
            raise ConfigurationError(
                "%s: no '%s' ... '%s' lines to put the servers between"
                % (self.template_path, SERVERS_BEGIN, SERVERS_END))
        indent = lines[begin][:len(lines[begin]) - len(
            lines[begin].lstrip())]
        servers = ["%sserver %s 127.0.0.1:%d" % (indent, server.name,
                                                 server.port)
                   for server in self.servers]
        return "\n".join(lines[:begin + 1] + servers + lines[end:]) + "\n"

    def server_config(self, server):
        """A server's ini: CONF's app with its own ports and paths."""
        def value(text):
            return str(text).replace("%", "%%")
        lines = [
            "# Written by `cloudooo cluster` at every start: server %s of %d,"
            % (server.name, len(self.servers)),
            "# inheriting %s." % self.config_path,
            "[app:main]",
            "use = config:%s#main" % value(self.config_path),
            "openoffice_port = %d" % server.openoffice_port,
            "working_path = %s" % value(server.working_path),
            "drain_notice_seconds = %s" % self.drain_notice_seconds,
            "",
            "[server:main]",
            "use = egg:waitress#main",
            "host = 127.0.0.1",
            "port = %d" % server.port,
            "threads = %d" % self.threads,
        ]
        for key, option in sorted(self.server_options.items()):
            if key not in ("host", "port", "threads", "listen",
                           "unix_socket"):
                lines.append("%s = %s" % (key, value(option)))
        return "\n".join(lines) + "\n"

    def write_files(self):
        self.cluster_path.mkdir(parents=True, exist_ok=True)
        for server in self.servers:
            server.config_path.write_text(self.server_config(server))
        self.haproxy_config_path.write_text(self.haproxy_config())


class ServerChild:
    """One ``cloudooo serve`` of the cluster, restarted when it exits."""

    def __init__(self, plan):
        self.plan = plan
        self.popen = None
        self.started_at = None
        self.restart_at = None
        self.restart_delay = 0.0

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def start(self):
        argv = [sys.executable, "-m", "cloudooo.cli", "serve",
                str(self.plan.config_path), "--log-file",
                str(self.plan.log_path), "--pid-file",
                str(self.plan.pid_path)]
        # Its own session: a Ctrl-C in the terminal reaches the cluster
        # alone, which stops everything in order.
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      start_new_session=True,
                                      preexec_fn=stop_with_parent)
        self.started_at = time.monotonic()
        self.restart_at = None
        logger.info("%s started as pid %d on 127.0.0.1:%d (office ports "
                    "from %d, log %s)", self.plan.name, self.popen.pid,
                    self.plan.port, self.plan.openoffice_port,
                    self.plan.log_path)

    def exited(self):
        """The exit status once, when the process has just ended."""
        if self.popen is None or self.restart_at is not None:
            return None
        return self.popen.poll()

    def schedule_restart(self, exit_code):
        ran = time.monotonic() - self.started_at
        if exit_code == 0 or ran >= RESTART_QUICK_EXIT_SECONDS:
            self.restart_delay = 0.0
        else:
            self.restart_delay = min(max(1.0, 2 * self.restart_delay),
                                     RESTART_DELAY_MAX)
        self.restart_at = time.monotonic() + self.restart_delay
        return self.restart_delay

    def restart_due(self):
        return self.restart_at is not None and \
            time.monotonic() >= self.restart_at

    def is_running(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum):
        if self.is_running():
            try:
                os.kill(self.popen.pid, signum)
            except ProcessLookupError:
                pass

    def remove_request_files(self):
        """What a server killed mid-request left in its tmp/: nobody uses
        that working path while it is down."""
        tmp_path = self.plan.working_path / "tmp"
        try:
            entries = list(tmp_path.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                try:
                    entry.unlink()
                except OSError:
                    pass
        if entries:
            logger.info("%s: removed %d request files left in %s",
                        self.plan.name, len(entries), tmp_path)

    def is_ready(self):
        try:
            with urllib.request.urlopen(self.plan.ready_url, timeout=2):
                return True
        except (OSError, urllib.error.HTTPError):
            return False


def describe_exit(code):
    if code is None:
        return "still running"
    if code < 0:
        try:
            return "killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit code %d" % code


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def stop_with_parent():
    """In a child before exec: SIGTERM when the cluster dies, even by
    SIGKILL, so no server or HAProxy is left without its supervisor (a
    server then drains and stops its soffice itself)."""
    try:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def become_subreaper():
    """Orphans below us (the soffice of a server killed with -9) become
    our children instead of init's, so we can stop them by PID."""
    try:
        return _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Cluster:
    def __init__(self, plan, haproxy_binary):
        self.plan = plan
        self.haproxy_binary = haproxy_binary
        self.servers = [ServerChild(server) for server in plan.servers]
        self.haproxy = None
        self.stop_signals = 0
        self.rolling_requested = False
        # The servers still to restart in the rolling restart under way,
        # the first one's pid when it was asked to stop, and by when its
        # replacement must be UP.
        self.rolling = []
        self.rolling_pid = None
        self.rolling_deadline = None

    def _on_signal(self, signum, _frame):
        self.stop_signals += 1
        if self.stop_signals > 1:
            # Ends the servers' drain notice: stop now.
            for server in self.servers:
                server.signal(signal.SIGTERM)

    def _on_rolling_signal(self, _signum, _frame):
        self.rolling_requested = True

    def run(self):
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGUSR2, self._on_rolling_signal)
        if not become_subreaper():
            logger.warning("cannot become child subreaper: the soffice of "
                           "a server killed outright is left to its "
                           "replacement's start-up clean-up")
        self.plan.write_files()
        self._check_haproxy_config()
        try:
            for server in self.servers:
                server.start()
            if not self._wait_servers_ready():
                return 1 if not self.stop_signals else 0
            self._start_haproxy()
            logger.info("cloudooo cluster serving on http://%s/RPC2: %d "
                        "servers on 127.0.0.1:%d-%d behind HAProxy (log %s)",
                        haproxy_address(self.plan.host, self.plan.port),
                        len(self.servers), self.plan.servers[0].port,
                        self.plan.servers[-1].port, self.plan.haproxy_log_path)
            return self._supervise()
        finally:
            self._stop_everything()

    def _check_haproxy_config(self):
        result = subprocess.run(
            [self.haproxy_binary, "-c", "-q", "-f",
             str(self.plan.haproxy_config_path)],
            env=self._haproxy_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=60)
        if result.returncode != 0:
            raise ConfigurationError(
                "haproxy refuses %s: %s" % (
                    self.plan.haproxy_config_path,
                    result.stdout.decode(errors="replace").strip()))

    def _haproxy_env(self):
        env = dict(os.environ)
        env.update(self.plan.haproxy_environment())
        return env

    def _wait_servers_ready(self):
        """True once every server answers /ready with 200; False if one
        exits first or a stop signal comes."""
        timeout = self.plan.settings.office_start_timeout + 120
        waiting = list(self.servers)

        def start_up_outcome():
            """"ready", "failed" or "stopped"; None while servers start."""
            if self.stop_signals:
                return "stopped"
            for server in list(waiting):
                code = server.popen.poll()
                if code is not None:
                    logger.error("%s exited during start-up (%s); its log "
                                 "%s ends with:\n%s", server.plan.name,
                                 describe_exit(code), server.plan.log_path,
                                 _tail(server.plan.log_path))
                    return "failed"
                if server.is_ready():
                    logger.info("%s ready", server.plan.name)
                    waiting.remove(server)
            return None if waiting else "ready"

        try:
            return wait_until(start_up_outcome, timeout, READY_POLL_SECONDS,
                              what="every server ready") == "ready"
        except TimeoutError:
            logger.error("%s not ready after %.0f s", ", ".join(
                server.plan.name for server in waiting), timeout)
            return False

    def _start_haproxy(self):
        with open(self.plan.haproxy_log_path, "ab") as log:
            self.haproxy = subprocess.Popen(
                [self.haproxy_binary, "-db", "-f",
                 str(self.plan.haproxy_config_path)],
                env=self._haproxy_env(), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True,
                preexec_fn=stop_with_parent)
        logger.info("haproxy started as pid %d", self.haproxy.pid)

    def _supervise(self):
        while not self.stop_signals:
            code = self.haproxy.poll()
            if code is not None:
                logger.error("haproxy exited (%s); stopping the cluster; "
                             "see %s", describe_exit(code),
                             self.plan.haproxy_log_path)
                return 1
            for server in self.servers:
                code = server.exited()
                if code is not None:
                    logger.warning("%s pid %d ended (%s)", server.plan.name,
                                   server.pid, describe_exit(code))
                    self._stop_orphans()
                    server.remove_request_files()
                    delay = server.schedule_restart(code)
                    logger.info("%s: starting a replacement on port %d%s",
                                server.plan.name, server.plan.port,
                                " in %.0f s" % delay if delay else "")
                if server.restart_due() and not self.stop_signals:
                    server.start()
            self._roll_on()
            time.sleep(LOOP_TICK_SECONDS)
        logger.info("stop signal received: stopping HAProxy and %d servers",
                    len(self.servers))
        return 0

    def _roll_on(self):
        """One step of a rolling restart (SIGUSR2): ask the first server
        to stop (it drains, exits, is replaced); move to the next once
        HAProxy has the replacement UP."""
        if self.rolling_requested and not self.rolling:
            self.rolling_requested = False
            self.rolling = list(self.servers)
            logger.info("rolling restart of %d servers", len(self.rolling))
        if not self.rolling:
            return
        server = self.rolling[0]
        if self.rolling_pid is None:
            if not server.is_running():
                return  # being replaced already: wait for it
            self.rolling_pid = server.pid
            self.rolling_deadline = time.monotonic() + \
                self.plan.drain_notice_seconds + SERVER_STOP_EXTRA_SECONDS + \
                self.plan.settings.office_start_timeout + 120
            logger.info("rolling restart: stopping %s pid %d",
                        server.plan.name, server.pid)
            server.signal(signal.SIGHUP)
            return
        if server.is_running() and server.pid != self.rolling_pid:
            try:
                state = haproxy_server_states(self.plan.socket_path).get(
                    server.plan.name)
            except OSError:
                state = None
            if state == "UP":
                logger.info("rolling restart: %s is back as pid %d",
                            server.plan.name, server.pid)
                self.rolling.pop(0)
                self.rolling_pid = None
                if not self.rolling:
                    logger.info("rolling restart done")
                return
        if time.monotonic() > self.rolling_deadline:
            logger.error("rolling restart abandoned: %s is not back in "
                         "HAProxy; the other servers were left running",
                         server.plan.name)
            self.rolling = []
            self.rolling_pid = None

    def _stop_everything(self):
        if self.haproxy is not None and self.haproxy.poll() is None:
            # Soft stop: no new connection; what is in flight finishes.
            self.haproxy.send_signal(signal.SIGUSR1)
        for server in self.servers:
            server.signal(signal.SIGTERM)
        try:
            wait_until(lambda: not any(server.is_running()
                                       for server in self.servers),
                       self.plan.drain_notice_seconds +
                       SERVER_STOP_EXTRA_SECONDS, LOOP_TICK_SECONDS,
                       what="every server stopped")
        except TimeoutError:
            pass  # those still running are killed here:
        for server in self.servers:
            if server.is_running():
                logger.warning("%s pid %d did not stop: killed",
                               server.plan.name, server.pid)
                server.signal(signal.SIGKILL)
                server.popen.wait()
        if self.haproxy is not None:
            _stop_process(self.haproxy, HAPROXY_STOP_SECONDS)
        self._stop_orphans()
        logger.info("cloudooo cluster stopped")

    def _stop_orphans(self):
        """Stop, by PID, every child we did not start ourselves: what a
        dead server left behind (soffice.bin, its UNO worker)."""
        ours = {server.pid for server in self.servers if server.is_running()}
        if self.haproxy is not None:
            ours.add(self.haproxy.pid)
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return
        orphans = [child for child in children if child.pid not in ours]
        for orphan in orphans:
            try:
                logger.warning("stopping orphan %s pid %d", orphan.name(),
                               orphan.pid)
                orphan.terminate()
            except psutil.Error:
                pass
        _gone, alive = psutil.wait_procs(orphans,
                                         timeout=ORPHAN_GRACE_SECONDS)
        for orphan in alive:
            try:
                orphan.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=ORPHAN_GRACE_SECONDS)


def _stop_process(popen, grace):
    try:
        popen.wait(grace)
        return
    except subprocess.TimeoutExpired:
        popen.terminate()
    try:
        popen.wait(grace)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def _tail(path, size=4000):
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(0, stream.tell() - size))
            return stream.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"


def add_cluster_command(commands):
    parser = commands.add_parser(
        "cluster", help="run N servers of one ini behind HAProxy, in the "
        "foreground (one machine)")
    parser.add_argument("config", help="PasteDeploy ini file")
    parser.add_argument("--servers", type=int, required=True,
                        help="number of cloudooo servers")
    parser.add_argument("--port", type=int,
                        help="HAProxy's port (default: the ini's "
                        "[server:main] port); servers use the next ones")
    parser.add_argument("--host", help="HAProxy's address (default: the "
                        "ini's [server:main] host)")
    parser.add_argument("--queue-per-server", type=int,
                        default=DEFAULT_QUEUE_PER_SERVER,
                        help="requests a server may hold beyond one per "
                        "office instance (default %(default)s)")
    parser.add_argument("--haproxy", help="haproxy binary (default: from "
                        "PATH, then /usr/sbin/haproxy)")
    parser.add_argument("--haproxy-template", default=str(DEFAULT_TEMPLATE),
                        help="HAProxy configuration template (default "
                        "%(default)s)")
    parser.set_defaults(run=cluster_command)


def cluster_command(arguments):
    from cloudooo.ops.preflight import check_port_free, check_settings
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=(
            "%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    try:
        plan = ClusterPlan(arguments.config, arguments.servers,
                           port=arguments.port, host=arguments.host,
                           queue_per_server=arguments.queue_per_server,
                           template_path=arguments.haproxy_template)
        haproxy = find_haproxy(arguments.haproxy)
        problems = check_settings(plan.settings)
        for host, port in [(plan.host, plan.port)] + [
                ("127.0.0.1", server.port) for server in plan.servers]:
            problem = check_port_free(host, port)
            if problem:
                problems.append(problem.replace("[server:main]", "cluster"))
        if problems:
            raise ConfigurationError("; ".join(problems))
        return Cluster(plan, haproxy).run()
    except ConfigurationError as error:
        raise SystemExit("cloudooo cluster: %s: %s" % (arguments.config,
                                                        error))
