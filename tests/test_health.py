"""GET /health and GET /ready, beside XML-RPC, on a real server."""

import signal
import socket

import psutil

from tests import documents
from tests.ops_helpers import get, get_json, only_registry, wait_for
from tests.server import ServerProcess, b64, unb64


def test_health_is_ok_without_asking_the_office(server):
    status, body, content_type = get(server.port, "/health")
    assert status == 200
    assert content_type == "application/json"
    assert body == b'{"status": "ok"}\n'


def test_ready_describes_every_instance(server):
    status, body = get_json(server.port, "/ready")
    assert status == 200, body
    assert body["status"] == "ready"
    assert body["draining"] is False
    assert "ooo" in body["handlers"] and "ffmpeg" in body["handlers"]
    assert body["queue_length"] == 0
    instances = body["instances"]
    assert [instance["name"] for instance in instances] == \
        ["office-0", "office-1"]
    assert sorted(instance["soffice_pid"] for instance in instances) == \
        server.office_pids()
    for instance in instances:
        assert instance["status"] in ("ready", "busy")
        assert instance["rss_bytes"] > 0
        assert instance["requests_served"] >= 0


def test_xmlrpc_still_answers_beside_the_pages(proxy):
    pdf = unb64(proxy.convertFile(b64(documents.fodt()), "fodt", "pdf"))
    assert pdf.startswith(b"%PDF-")


def test_ready_without_libreoffice_needs_no_instance(tmp_path):
    server = only_registry(ServerProcess(tmp_path), ["video/* * ffmpeg"])
    server.start()
    try:
        status, body = get_json(server.port, "/ready")
        assert status == 200, body
        assert body["handlers"] == ["ffmpeg"]
        assert body["instances"] == []
        assert server.office_pids() == []
    finally:
        assert server.stop() == []


def _block_port(port, timeout=15):
    """Listen on ``port`` as soon as the dead soffice has let it go, so
    that no new soffice can accept UNO connections there."""
    blocker = socket.socket()
    # The dead bridge's connections linger in TIME_WAIT on this port.
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def bound():
        try:
            blocker.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
    wait_for(bound, timeout=timeout, interval=0.01, what="the UNO port")
    blocker.listen(1)
    return blocker


def test_ready_is_503_while_no_instance_can_start_then_200(make_server):
    # office_start_timeout: long enough for a loaded machine's first start;
    # each blocked restart attempt fails after it.  Without the sandbox: a
    # sandboxed soffice has a loopback of its own, where a port taken on the
    # host does not stop it.
    server = make_server(office_pool_size=1, office_start_timeout=30,
                         sandbox="none")
    [office_pid] = server.office_pids()
    port = server.settings["openoffice_port"]
    psutil.Process(office_pid).kill()
    blocker = _block_port(port)
    try:
        def unavailable():
            status, body = get_json(server.port, "/ready")
            return (status, body) if status == 503 else None
        status, body = wait_for(unavailable, what="/ready 503")
        assert body["status"] == "unavailable"
        assert body["instances"][0]["status"] == "restarting"
        assert body["instances"][0]["last_restart_cause"] == "crash"
        assert "no office instance is up or can start" in body["reasons"]
        # still alive: liveness is not readiness
        assert get(server.port, "/health")[0] == 200
    finally:
        blocker.close()

    def available():
        status, body = get_json(server.port, "/ready")
        return body if status == 200 else None
    body = wait_for(available, timeout=120, what="/ready 200 again")
    assert body["instances"][0]["status"] == "ready"
    new_pid = body["instances"][0]["soffice_pid"]
    assert new_pid != office_pid and new_pid in server.office_pids()
    pdf = unb64(server.proxy().convertFile(b64(documents.fodt()), "fodt",
                                           "pdf"))
    assert pdf.startswith(b"%PDF-")


def test_ready_is_503_during_the_drain_notice(make_server):
    server = make_server(office_pool_size=1, drain_notice_seconds=600)
    children = server.children()
    assert get_json(server.port, "/ready")[0] == 200
    import os
    os.kill(server.pid, signal.SIGHUP)
    status, body = wait_for(
        lambda: (lambda answer: answer if answer[0] == 503 else None)(
            get_json(server.port, "/ready")), what="/ready 503 on SIGHUP")
    assert body["draining"] is True
    assert "the server is draining before it stops" in body["reasons"]
    # During the notice, work is still done: the balancer moves away first.
    pdf = unb64(server.proxy().convertFile(b64(documents.fodt()), "fodt",
                                           "pdf"))
    assert pdf.startswith(b"%PDF-")
    # A second signal ends the notice; everything stops.
    assert server.stop(signal.SIGTERM) == []
    assert not any(child.is_running() and child.status() !=
                   psutil.STATUS_ZOMBIE for child in children)
    assert "not ready: serving 600 s more before draining" in server.log()


def test_ready_is_503_while_the_queue_is_at_its_limit(make_server):
    import threading
    server = make_server(office_pool_size=1, ready_queue_limit=1,
                         timeout_response=120)
    [office_pid] = server.office_pids()
    office = psutil.Process(office_pid)
    answers = []

    def convert():
        answers.append(server.proxy().convertFile(
            b64(documents.fodt()), "fodt", "pdf"))

    # A stopped soffice holds the first request; the second one queues.
    office.suspend()
    clients = [threading.Thread(target=convert) for _index in range(2)]
    try:
        for client in clients:
            client.start()

        def queue_full():
            status, body = get_json(server.port, "/ready")
            return body if status == 503 else None
        body = wait_for(queue_full, what="/ready 503 for the queue")
        assert body["queue_length"] == 1
        assert body["instances"][0]["status"] == "busy"
        assert "1 requests queued (ready_queue_limit = 1)" in body["reasons"]
    finally:
        office.resume()
        for client in clients:
            client.join(150)
    assert len(answers) == 2
    assert all(unb64(answer).startswith(b"%PDF-") for answer in answers)
    assert get_json(server.port, "/ready")[0] == 200
