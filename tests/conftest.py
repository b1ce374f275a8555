"""Shared fixtures: a real server (LibreOffice included) and the corpus."""

import http.server
import os
import threading
from pathlib import Path

import pytest

from cloudooo.settings import Settings
from tests import documents
from tests.server import ServerProcess

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server shared by the end-to-end tests, pool of 2."""
    process = ServerProcess(tmp_path_factory.mktemp("server"),
                            office_pool_size=2).start()
    yield process
    survivors = process.stop()
    assert survivors == [], "children outlived the server: %s" % survivors


@pytest.fixture
def proxy(server):
    return server.proxy()


@pytest.fixture
def corpus():
    if not CORPUS.is_dir():
        pytest.skip("sample corpus %s is absent" % CORPUS)
    return CORPUS


@pytest.fixture
def settings(tmp_path):
    """Settings for a handler tested on its own, files under tmp_path."""
    return Settings(working_path=str(tmp_path))


@pytest.fixture
def make_server(tmp_path):
    """Start servers with specific settings; all stopped after the test."""
    started = []

    def start(daemon=False, **settings):
        process = ServerProcess(tmp_path / ("server%d" % len(started)),
                                **settings)
        started.append(process)
        return process.start(daemon=daemon)

    yield start
    for process in started:
        assert process.stop() == []


@pytest.fixture
def spy_http_server():
    """An HTTP server of our own on loopback that counts what it is asked:
    yields (a URL on it, the list of paths requested)."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(documents.png())

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/spy.png" % httpd.server_address[1], hits
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def no_request_files_left(server):
    """After the test, the shared server's tmp/ is empty: every request
    removed its files, failed ones too."""
    yield
    assert os.listdir(server.tmp_path) == [], "request files left behind"
