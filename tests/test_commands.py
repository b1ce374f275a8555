"""The commands operators type, each run as a subprocess on loopback:
pserve (classic interface), paster serve, cloudooo serve/stop/status,
setup.py.  Every test proves that no child outlives the server."""

import os
import signal
import subprocess
import sys

import psutil
import pytest

from cloudooo.ops import control
from tests import documents
from tests.ops_helpers import get, only_registry, wait_for
from tests.server import (CLOUDOOO, PASTER, PROJECT, PSERVE, ServerProcess,
                          b64, office_pids_among, processes_mentioning,
                          server_with_failing_office, unb64)

COMMAND_TIMEOUT = 180


def run(argv, cwd=None, timeout=COMMAND_TIMEOUT):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


_families = []


def family(pid):
    """The process and its descendants, to check later that all died."""
    try:
        process = psutil.Process(pid)
        processes = [process] + process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    _families.append(processes)
    return processes


@pytest.fixture(autouse=True)
def no_daemon_outlives_its_test(tmp_path):
    """A test failing half-way must not leave its daemon running: kill, by
    pid, what it started (the families it saw, the pids its servers wrote
    under tmp_path)."""
    del _families[:]
    yield
    leftovers = [process for processes in _families for process in processes]
    for pid_file in tmp_path.rglob("*.pid"):
        pid = control.read_pid(str(pid_file))
        # (never this test process, nor a pid the file does not own)
        if pid and pid != os.getpid() and control.is_running(pid) and \
                not control.started_after_pid_file(pid, str(pid_file)):
            leftovers.extend(family(pid))
    for process in leftovers:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def assert_all_gone(processes):
    gone, alive = psutil.wait_procs(processes, timeout=30)
    survivors = [process for process in alive
                 if process.status() != psutil.STATUS_ZOMBIE]
    for survivor in survivors:  # do not leak them into the next test
        survivor.kill()
    assert survivors == []


def office_count(processes):
    return len(office_pids_among(processes))


def test_pserve_daemon_status_stop_with_classic_defaults(tmp_path):
    server = ServerProcess(tmp_path, office_pool_size=1)
    # A config variable given on the command line (key=value).
    text = server.config_path.read_text().replace(
        "port = %d" % server.port, "port = %(http_port)s")
    server.config_path.write_text(text)
    result = run([PSERVE, "cloudooo.conf", "--daemon",
                  "http_port=%d" % server.port], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # The classic defaults, in the current folder; the command returned
    # only once the server serves.
    pid = int((tmp_path / "pserve.pid").read_text())
    assert (tmp_path / "pserve.log").exists()
    assert get(server.port, "/health")[0] == 200
    processes = family(pid)
    assert office_count(processes) == 1
    status = run([PSERVE, "--status"], cwd=tmp_path)
    assert status.returncode == 0
    assert "Server running in PID %d" % pid in status.stdout
    stop = run([PSERVE, "--stop-daemon"], cwd=tmp_path)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert_all_gone(processes)
    assert not (tmp_path / "pserve.pid").exists()
    status = run([PSERVE, "--status"], cwd=tmp_path)
    assert status.returncode == 1


def test_pserve_start_stop_subcommands_with_named_files(tmp_path):
    server = only_registry(ServerProcess(tmp_path), ["video/* * ffmpeg"])
    pid_file, log_file = tmp_path / "run.pid", tmp_path / "run.log"
    files = ["--pid-file", str(pid_file)]
    result = run([PSERVE, str(server.config_path), "start", "--log-file",
                  str(log_file)] + files)
    assert result.returncode == 0, result.stderr
    pid = int(pid_file.read_text())
    processes = family(pid)
    assert run([PSERVE, str(server.config_path), "status"] +
               files).returncode == 0
    assert run([PSERVE, str(server.config_path), "stop"] +
               files).returncode == 0
    assert_all_gone(processes)
    assert "cloudooo ready: handlers ffmpeg" in log_file.read_text()


def test_pserve_foreground_converts_and_sigterm_stops_soffice(tmp_path):
    server = ServerProcess(tmp_path, office_pool_size=1)
    server.launch([PSERVE, str(server.config_path)])
    try:
        server.wait_ready()
        processes = family(server.pid)
        assert office_count(processes) == 1
        pdf = unb64(server.proxy().convertFile(b64(documents.fodt()), "fodt",
                                               "pdf"))
        assert pdf.startswith(b"%PDF-")
    finally:
        survivors = server.stop(signal.SIGTERM)
    assert survivors == []
    assert_all_gone(processes)


def test_pserve_refuses_reload_clearly(tmp_path):
    result = run([PSERVE, "x.conf", "--reload"], cwd=tmp_path)
    assert result.returncode == 2
    assert "--reload is not supported" in result.stderr


def test_paster_serve_daemon_stops_everything_on_sighup(tmp_path):
    server = ServerProcess(tmp_path, office_pool_size=1)
    result = run([PASTER, "serve", str(server.config_path), "--daemon",
                  "--pid-file", str(server.pid_path), "--log-file",
                  str(server.log_path)], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # PasteScript creates the file empty first, and writes it later.
    pid = int(wait_for(lambda: server.pid_path.exists() and
                       server.pid_path.read_text().strip(),
                       what="paster's pid file"))
    server.pid = pid
    server.wait_ready()
    processes = family(pid)
    assert office_count(processes) == 1
    assert get(server.port, "/ready")[0] == 200
    os.kill(pid, signal.SIGHUP)
    assert_all_gone(processes)
    wait_for(lambda: not server.pid_path.exists(), timeout=30,
             what="paster to remove its pid file")


def test_paster_serve_foreground_config_error_exits_nonzero(tmp_path):
    server = ServerProcess(tmp_path, limit_memory_usd=5)
    result = run([PASTER, "serve", str(server.config_path)], cwd=tmp_path)
    assert result.returncode != 0
    assert "limit_memory_usd" in result.stdout + result.stderr


def test_cloudooo_serve_daemon_status_stop(tmp_path):
    server = ServerProcess(tmp_path, office_pool_size=1)
    server.start(daemon=True)
    processes = family(server.pid)
    assert office_count(processes) == 1
    pid_file = ["--pid-file", str(server.pid_path)]
    status = run([CLOUDOOO, "status"] + pid_file)
    assert status.returncode == 0
    assert "running as pid %d" % server.pid in status.stdout
    stop = run([CLOUDOOO, "stop"] + pid_file)
    assert stop.returncode == 0, stop.stderr
    assert "stopped pid %d (SIGHUP)" % server.pid in stop.stdout
    assert_all_gone(processes)
    assert "received SIGHUP: stopping" in server.log()
    status = run([CLOUDOOO, "status"] + pid_file)
    assert status.returncode == 3
    assert run([CLOUDOOO, "stop"] + pid_file).returncode == 3
    server.pid = None


BAD_CONFIGURATIONS = [
    # (settings, registry rules or None for the sample's, expected text)
    ({"limit_memory_usd": 5}, None, "unknown configuration key "
     "'limit_memory_usd'"),
    ({"queue_timeout": "soon"}, None, "queue_timeout"),
    ({}, ["text/* * nosuchhandler"], "unknown handler 'nosuchhandler'"),
    ({}, [], "mimetype_registry: no rules"),
    ({"working_path": "/etc/hostname/var"}, None,
     "working_path: /etc/hostname is not a directory"),
    ({"office_binary_path": "/nonexistent/program"}, None,
     "/nonexistent/program/soffice.bin is missing"),
    ({"env-PATH": "/nonexistent", "log_format": "xml"}, None,
     "log_format: must be one of text | json"),
]


@pytest.mark.parametrize("command", ["cloudooo", "pserve"])
@pytest.mark.parametrize("settings, rules, expected", BAD_CONFIGURATIONS)
def test_configuration_errors_come_before_detaching(tmp_path, command,
                                                    settings, rules,
                                                    expected):
    server = ServerProcess(tmp_path, **settings)
    if rules is not None:
        only_registry(server, rules)
    argv = [CLOUDOOO, "serve", str(server.config_path), "--daemon"] \
        if command == "cloudooo" else \
        [PSERVE, str(server.config_path), "--daemon"]
    result = run(argv + ["--pid-file", str(server.pid_path)],
                 cwd=tmp_path)
    assert result.returncode != 0
    assert expected in result.stderr
    assert not server.pid_path.exists()
    assert processes_mentioning(tmp_path) == []


def test_port_in_use_is_reported_before_detaching(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        server = ServerProcess(tmp_path)
        server.port = taken.getsockname()[1]
        server._write_config()
        result = run([CLOUDOOO, "serve", str(server.config_path),
                      "--daemon", "--pid-file", str(server.pid_path)])
    assert result.returncode != 0
    assert "cannot listen on 127.0.0.1 port %d" % server.port \
        in result.stderr
    assert not server.pid_path.exists()


def test_office_start_failure_reaches_the_terminal_of_daemon(tmp_path):
    server = server_with_failing_office(tmp_path)
    result = run([CLOUDOOO, "serve", str(server.config_path),
                  "--daemon", "--pid-file", str(server.pid_path),
                  "--log-file", str(server.log_path)])
    assert result.returncode == 1
    assert "no LibreOffice instance could start" in result.stderr
    assert_all_gone(processes_mentioning(tmp_path))


def test_setup_py_shim_reads_pyproject():
    result = run([sys.executable, "setup.py", "--name", "--version"],
                 cwd=PROJECT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["cloudooo", "0.1.0"]


def test_stop_never_signals_a_process_that_reused_the_pid(tmp_path):
    pid_file = tmp_path / "old.pid"
    pid_file.write_text("%d\n" % os.getpid())
    old = os.path.getmtime(pid_file) - 3600
    os.utime(pid_file, (old, old))  # written long before we started
    # (this pytest process is younger than the file: a reused pid)
    result = run([CLOUDOOO, "stop", "--pid-file", str(pid_file)])
    assert result.returncode == 3
    assert "not signalled" in result.stderr
    assert run([CLOUDOOO, "status", "--pid-file",
                str(pid_file)]).returncode == 1


def test_missing_tools_are_named_before_detaching(tmp_path):
    # A PATH without ffmpeg or poppler (soffice.bin, the UNO Python and
    # Debian's ImageMagick are found by absolute paths).
    server = ServerProcess(tmp_path)
    result = subprocess.run(
        [CLOUDOOO, "serve", str(server.config_path), "--daemon",
         "--pid-file", str(server.pid_path)], capture_output=True,
        text=True, timeout=COMMAND_TIMEOUT,
        env=dict(os.environ, PATH=str(tmp_path / "empty-bin")))
    assert result.returncode != 0
    assert "ffmpeg not found in PATH" in result.stderr
    assert "pdftotext not found in PATH" in result.stderr
    assert not server.pid_path.exists()


@pytest.mark.parametrize("command", ["cloudooo", "pserve"])
def test_middleware_is_refused_rather_than_left_out(tmp_path, command):
    """The commands build the app from its settings: a filter-with would
    be dropped silently, so it is refused before detaching."""
    server = ServerProcess(tmp_path)
    server.config_path.write_text(server.config_path.read_text().replace(
        "use = egg:cloudooo\n", "use = egg:cloudooo\nfilter-with = log\n")
        + "\n[filter:log]\nuse = egg:Paste#translogger\n")
    argv = [CLOUDOOO, "serve"] if command == "cloudooo" else [PSERVE]
    result = run(argv + [str(server.config_path), "--daemon", "--pid-file",
                         str(server.pid_path)], cwd=tmp_path)
    assert result.returncode != 0
    assert "no filter-with, no pipeline" in result.stderr
    assert not server.pid_path.exists()
    assert processes_mentioning(tmp_path) == []
