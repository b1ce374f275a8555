"""cloudooo serve in the foreground, and what start-up does to the process."""

import logging
import signal
import subprocess
import sys

import psutil

from cloudooo import cli
from cloudooo.app import GIL_SWITCH_INTERVAL_SECONDS, build_app
from cloudooo.settings import Settings
from tests.server import (ServerProcess, processes_mentioning,
                          server_with_failing_office)


def test_foreground_sighup_stops_everything(make_server):
    server = make_server(office_pool_size=2)
    children = server.children()
    assert len(server.office_pids()) == 2
    assert server.stop(signal.SIGHUP) == []
    assert not any(child.is_running() and child.status() !=
                   psutil.STATUS_ZOMBIE for child in children)
    assert "received SIGHUP: stopping" in server.log()


def test_bad_configuration_is_refused_with_the_key(tmp_path):
    server = ServerProcess(tmp_path, limit_memory_usd=5)
    result = subprocess.run([sys.executable, "-m", "cloudooo.cli", "serve",
                             str(server.config_path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "limit_memory_usd" in result.stderr


def test_office_that_cannot_start_stops_the_server_clearly(tmp_path):
    server = server_with_failing_office(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "cloudooo.cli", "serve",
         str(server.config_path)], capture_output=True, text=True,
        timeout=120)
    assert result.returncode != 0
    assert "no LibreOffice instance could start" in result.stderr
    assert processes_mentioning(tmp_path) == []


def process_wide_state():
    return (sys.getswitchinterval(),
            [signal.getsignal(signum) for signum in cli.STOP_SIGNALS],
            logging.getLogger("cloudooo").level,
            list(logging.getLogger().handlers))


def test_build_app_touches_nothing_process_wide(tmp_path):
    """Wiring only: tests and embedders may build several apps in one
    process; what changes the process is configure_process's job."""
    settings = Settings(working_path=str(tmp_path / "var"),
                        mimetype_registry="video/* * ffmpeg")
    before = process_wide_state()
    app = build_app(settings)
    try:
        assert sorted(app.handlers) == ["ffmpeg"]
        assert process_wide_state() == before
    finally:
        app.close()


def test_configure_process_sets_every_process_wide_effect(tmp_path):
    script = (
        "import signal, sys, logging\n"
        "from cloudooo.app import configure_process\n"
        "from cloudooo.settings import Settings\n"
        "configure_process(Settings(working_path=%r, debug_mode=True))\n"
        "print(sys.getswitchinterval())\n"
        "print(signal.getsignal(signal.SIGTERM).__name__)\n"
        "print(logging.getLogger('cloudooo').level)\n" % str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    switch_interval, on_sigterm, level = result.stdout.split()
    assert float(switch_interval) == GIL_SWITCH_INTERVAL_SECONDS
    assert on_sigterm == "_exit_on_signal"
    assert int(level) == logging.DEBUG
