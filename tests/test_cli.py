"""How operators start and stop the server: cloudooo serve, pserve."""

import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests import documents
from tests.server import ServerProcess, b64, server_with_failing_office, unb64

PSERVE = Path(sys.executable).with_name("pserve")


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


@pytest.mark.skipif(not PSERVE.exists(), reason="pserve not installed")
def test_pserve_serves_and_stops_soffice(tmp_path):
    server = ServerProcess(tmp_path, office_pool_size=1)
    server.process = subprocess.Popen(
        [str(PSERVE), str(server.config_path)],
        stdout=open(server.log_path, "wb"), stderr=subprocess.STDOUT)
    server.pid = server.process.pid
    try:
        server.wait_ready()
        pdf = unb64(server.proxy().convertFile(b64(documents.fodt()), "fodt",
                                               "pdf"))
        assert pdf.startswith(b"%PDF-")
        [office_pid] = server.office_pids()
    finally:
        survivors = server.stop(signal.SIGTERM)
    assert survivors == []
    assert not psutil.pid_exists(office_pid)


def test_office_that_cannot_start_stops_the_server_clearly(tmp_path):
    server = server_with_failing_office(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "cloudooo.cli", "serve",
         str(server.config_path)], capture_output=True, text=True,
        timeout=120)
    assert result.returncode != 0
    assert "no LibreOffice instance could start" in result.stderr
    leftovers = [process for process in psutil.process_iter(["cmdline"])
                 if str(tmp_path) in " ".join(process.info["cmdline"] or [])]
    assert leftovers == []
