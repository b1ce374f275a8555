"""Shared fixtures: a real server (LibreOffice included) and the corpus."""

from pathlib import Path

import pytest

from cloudooo.settings import Settings
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
