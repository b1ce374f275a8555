"""Fault injection against real soffice processes: crashes, stalls, limits.

Every test checks the client's outcome, then that the server is whole again:
it converts, runs exactly pool-size soffice.bin, has no zombie child and no
request files left.
"""

import concurrent.futures
import os
import re
import shutil
import signal
import time
import xmlrpc.client

import psutil
import pytest

from tests import documents
from tests.server import b64, unb64

PDF_MAGIC = b"%PDF-"
SETTLE_SECONDS = 30
# A child killed a moment ago is a zombie until its waiter polls again;
# one that stays longer was never reaped.
REAP_SECONDS = 5


def long_document(paragraphs=6000):
    """A flat ODT that takes LibreOffice a few seconds to lay out."""
    body = "".join("<text:p>Paragraph %d of a long document, with enough "
                   "words to wrap over several lines of the page.</text:p>"
                   % number for number in range(paragraphs))
    return documents.fodt(text="long", extra_body=body)


def small_document(number=0):
    return documents.fodt(text="small document %d" % number)


def convert(proxy, data, source="fodt", destination="pdf"):
    return unb64(proxy.convertFile(b64(data), source, destination))


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


def assert_whole(server, pool_size):
    """The server recovered completely."""
    wait_for(lambda: len(server.office_pids()) == pool_size, SETTLE_SECONDS,
             "%d soffice.bin" % pool_size)
    assert convert(server.proxy(), small_document()).startswith(PDF_MAGIC)
    assert len(server.office_pids()) == pool_size
    wait_for(lambda: server.zombies() == [], REAP_SECONDS, "reaped children")
    assert os.listdir(server.tmp_path) == []


def busy_office_pid(server, timeout=20):
    """The soffice.bin that is using the CPU (serving a conversion)."""
    deadline = time.monotonic() + timeout
    processes = {pid: psutil.Process(pid) for pid in server.office_pids()}
    for process in processes.values():
        process.cpu_percent(None)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        for pid, process in processes.items():
            if process.cpu_percent(None) > 20:
                return pid
    raise AssertionError("no soffice.bin became busy")


def test_kill_during_conversion_is_retried(make_server):
    server = make_server(office_pool_size=1)
    data = long_document()
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        future = executor.submit(convert, server.proxy(), data)
        victim = busy_office_pid(server)
        os.kill(victim, signal.SIGKILL)
        result = future.result(timeout=120)
    assert result.startswith(PDF_MAGIC)
    assert victim not in server.office_pids()
    assert "crashed during convert" in server.log()
    assert_whole(server, 1)


def test_stalled_office_is_killed_and_replaced(make_server):
    timeout = 4
    server = make_server(office_pool_size=1, timeout_response=timeout)
    [victim] = server.office_pids()
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        started = time.monotonic()
        future = executor.submit(convert, server.proxy(), long_document())
        time.sleep(0.3)
        os.kill(victim, signal.SIGSTOP)
        with pytest.raises(xmlrpc.client.Fault) as caught:
            future.result(timeout=timeout + 30)
        elapsed = time.monotonic() - started
    assert caught.value.faultCode == 8
    assert "timeout_response" in caught.value.faultString
    assert elapsed < timeout + 5
    assert not psutil.pid_exists(victim) or \
        psutil.Process(victim).status() == psutil.STATUS_ZOMBIE
    assert_whole(server, 1)
    assert victim not in server.office_pids()


def test_broken_documents_leave_the_instance_healthy(make_server):
    server = make_server(office_pool_size=1)
    proxy = server.proxy()
    odt = convert(proxy, small_document(), "fodt", "odt")
    doc = convert(proxy, odt, "odt", "doc")
    [office_pid] = server.office_pids()
    # empty data is the client's mistake (2); corrupt data cannot be
    # converted (4).
    cases = [(doc[:len(doc) // 2], "doc", 4), (b"", "docx", 2),
             (os.urandom(4096), "docx", 4)]
    for data, source, code in cases:
        with pytest.raises(xmlrpc.client.Fault) as caught:
            proxy.convertFile(b64(data), source, "pdf")
        assert caught.value.faultCode == code, caught.value.faultString
    assert server.office_pids() == [office_pid]  # no restart was needed
    assert_whole(server, 1)


def test_request_limit_recycles_under_load(make_server):
    server = make_server(office_pool_size=2, limit_number_request=20)
    requests = 200

    def one(number):
        proxy = server.proxy()
        return convert(proxy, small_document(number)).startswith(PDF_MAGIC)

    with concurrent.futures.ThreadPoolExecutor(4) as executor:
        results = list(executor.map(one, range(requests), timeout=600))
    assert results == [True] * requests
    # the whole log: log() is its tail, and each request adds a line
    served = [int(count) for count in re.findall(
        r"served (\d+) requests \(limit_number_request",
        server.log_path.read_text())]
    assert len(served) >= requests // 22 - 2
    # 20 give or take 10%, drawn at each start: not all the same.
    assert set(served) <= set(range(18, 23))
    assert len(set(served)) > 1
    assert_whole(server, 2)


def test_memory_limit_recycles_between_requests(make_server):
    server = make_server(office_pool_size=1, enable_memory_monitor="true",
                         limit_memory_used=1)
    proxy = server.proxy()
    for number in range(4):
        assert convert(proxy, small_document(number)).startswith(PDF_MAGIC)
    recycled_pids = set(re.findall(
        r"recycling soffice pid (\d+): RSS .*over limit_memory_used",
        server.log()))
    assert len(recycled_pids) >= 4  # one fresh soffice per request
    wait_for(lambda: len(server.office_pids()) == 1, SETTLE_SECONDS,
             "1 soffice.bin")
    wait_for(lambda: server.zombies() == [], REAP_SECONDS, "reaped children")
    assert os.listdir(server.tmp_path) == []


def test_sighup_to_daemon_with_requests_in_flight(make_server):
    server = make_server(daemon=True, office_pool_size=2)
    daemon_pid = server.pid
    children = server.children()
    assert len(server.office_pids()) == 2
    data = long_document(3000)

    def attempt():
        try:
            return convert(server.proxy(), data).startswith(PDF_MAGIC)
        except xmlrpc.client.Fault as fault:
            return "stopping" in fault.faultString
        except (ConnectionError, xmlrpc.client.ProtocolError):
            return "refused"

    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        futures = [executor.submit(attempt) for _ in range(2)]
        busy_office_pid(server)
        os.kill(daemon_pid, signal.SIGHUP)
        outcomes = [future.result(timeout=60) for future in futures]
    # A PDF, a "stopping" Fault (both True) or a refused connection;
    # never another Fault or a broken PDF (False).
    assert all(outcome is True or outcome == "refused"
               for outcome in outcomes), outcomes
    assert True in outcomes  # in-flight work was answered, not dropped
    wait_for(lambda: not psutil.pid_exists(daemon_pid), 10, "daemon exit")
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert not server.pid_path.exists()
    server.pid = None


def test_document_that_stalls_twice_is_quarantined(make_server):
    timeout = 3
    server = make_server(office_pool_size=1, timeout_response=timeout)
    proxy = server.proxy()
    data = long_document(2500)
    for attempt in range(2):
        # A small conversion first: the replacement soffice is then past its
        # first-start restart, so its pid is the one serving.
        assert convert(proxy, small_document()).startswith(PDF_MAGIC)
        [victim] = server.office_pids()
        with concurrent.futures.ThreadPoolExecutor(1) as executor:
            future = executor.submit(convert, server.proxy(), data)
            time.sleep(0.3)
            os.kill(victim, signal.SIGSTOP)
            with pytest.raises(xmlrpc.client.Fault) as caught:
                future.result(timeout=timeout + 30)
        assert caught.value.faultCode == 8
    wait_for(lambda: len(server.office_pids()) == 1, SETTLE_SECONDS,
             "soffice.bin")
    [office_pid] = server.office_pids()
    started = time.monotonic()
    with pytest.raises(xmlrpc.client.Fault) as caught:
        convert(proxy, data)
    assert caught.value.faultCode == 9
    assert time.monotonic() - started < 1.0
    assert server.office_pids() == [office_pid]  # nobody was killed
    assert_whole(server, 1)


def test_idle_instances_sleep_and_wake_on_demand(make_server):
    server = make_server(office_pool_size=1, time_before_sleep=1,
                         monitor_interval=0.5)
    assert convert(server.proxy(), small_document()).startswith(PDF_MAGIC)
    wait_for(lambda: server.office_pids() == [], 15, "idle soffice stopped")
    assert "idle for" in server.log()
    assert convert(server.proxy(), small_document(1)).startswith(PDF_MAGIC)
    assert "starting on demand" in server.log()
    assert len(server.office_pids()) == 1


def test_a_failed_start_on_demand_is_a_busy_fault_then_heals(make_server):
    """A sleeping instance that cannot start again (here its folder is a
    file: an OSError) answers as when no instance is free, Fault 7, not
    Fault 1; it is retried in the background and serves once it can."""
    server = make_server(office_pool_size=1, time_before_sleep=1,
                         monitor_interval=0.5, queue_timeout=3)
    assert convert(server.proxy(), small_document()).startswith(PDF_MAGIC)
    wait_for(lambda: server.office_pids() == [], 15, "idle soffice stopped")
    instance = os.path.join(server.settings["working_path"], "instances",
                            "office-0")
    shutil.rmtree(instance)
    with open(instance, "w") as stream:
        stream.write("in the way")
    starts = server.log_path.read_text().count(" started: soffice pid")
    with pytest.raises(xmlrpc.client.Fault) as caught:
        convert(server.proxy(), small_document(1))
    assert caught.value.faultCode == 7, caught.value.faultString
    assert "queue_timeout" in caught.value.faultString
    assert "failed to start for a request" in server.log()
    os.unlink(instance)
    wait_for(lambda: server.log_path.read_text().count(
        " started: soffice pid") > starts, 30, "instance restarted")
    assert convert(server.proxy(), small_document(2)).startswith(PDF_MAGIC)
    assert os.listdir(server.tmp_path) == []


def test_orphan_of_a_killed_server_is_terminated_at_start(make_server,
                                                          tmp_path):
    # Without the sandbox: a sandboxed soffice dies with its server
    # (tests/test_sandbox.py), leaving no orphan to find.
    first = make_server(office_pool_size=1, sandbox="none")
    [orphan] = first.office_pids()
    # Frozen, so that its worker, seeing the server gone, cannot make it
    # quit either: it stays behind as after a hard crash.
    os.kill(orphan, signal.SIGSTOP)
    os.kill(first.pid, signal.SIGKILL)  # no chance to stop its soffice
    first.process.wait(10)
    first.pid = None
    assert psutil.pid_exists(orphan)
    settings = dict(first.settings)
    second = make_server(**settings)
    wait_for(lambda: not psutil.pid_exists(orphan) or psutil.Process(
        orphan).status() == psutil.STATUS_ZOMBIE, 10, "orphan stopped")
    assert "terminating orphan soffice pid %d" % orphan in second.log()
    assert_whole(second, 1)


def test_queue_timeout_gives_a_busy_fault(make_server):
    server = make_server(office_pool_size=1, queue_timeout=1)
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        future = executor.submit(convert, server.proxy(), long_document())
        busy_office_pid(server)
        started = time.monotonic()
        with pytest.raises(xmlrpc.client.Fault) as caught:
            convert(server.proxy(), small_document())
        assert time.monotonic() - started < 5
        assert future.result(timeout=120).startswith(PDF_MAGIC)
    assert caught.value.faultCode == 7
    assert "queue_timeout" in caught.value.faultString
    assert_whole(server, 1)
