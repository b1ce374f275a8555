"""The office pool's supervision logic, driven by fake entries.

No LibreOffice here: each fake stands for one instance and records what the
pool asked of it, so that queue order, release, retry, recycle, back-off,
quarantine and stop are checked in milliseconds.  The same logic against
real soffice processes: test_supervision.py.
"""

import contextlib
import threading
import time

import pytest

from cloudooo.errors import (ConversionError, ConversionTimeout, Quarantined,
                             ServerBusy, ServerStopping)
from cloudooo.handler.ooo import pool as pool_module
from cloudooo.handler.ooo import protocol
from cloudooo.handler.ooo.entry import (BROKEN, READY, STOPPED, OfficeCrashed,
                                        OfficeStalled)
from cloudooo.handler.ooo.pool import OfficePool, Quarantine
from cloudooo.settings import Settings
from cloudooo.util import wait_until

# Bounds every wait of these tests; none comes near it when all is well.
WAIT_SECONDS = 5


class FakeEntry:
    """An office instance as the pool sees it, with no process behind.

    ``start_failures``: exceptions the next starts raise, in order.
    ``start_gate``: when set, a start waits for this event (a slow start).
    ``tasks``: what the next runs do, in order: a value to return or an
    exception to raise (default: return "done")."""

    def __init__(self, index, popen=None):
        self.index = index
        self.name = "fake-%d" % index
        self.state = STOPPED
        self.task_count = 0
        self.broken_by = None
        self.last_restart_cause = None
        self.running = False
        self.calls = []
        self.start_failures = []
        self.start_gate = None
        self.tasks = []
        self.requests = []

    @property
    def office_pid(self):
        return 1000 + self.index if self.running else None

    def clean_leftovers(self):
        pass

    def start(self):
        self.calls.append("start")
        if self.start_failures:
            raise self.start_failures.pop(0)
        if self.start_gate is not None:
            assert self.start_gate.wait(WAIT_SECONDS)
        # A start that ignores interrupt(): the worst case for stop().
        self.running = True
        self.state = READY
        self.task_count = 0

    def stop(self):
        self.calls.append("stop")
        self.running = False
        self.state = STOPPED

    def recover(self, reason):
        self.calls.append("recover")
        self.running = False
        self.start()

    def recycle(self, reason):
        self.calls.append("recycle")
        self.stop()
        self.start()

    def sleep(self):
        self.stop()

    def interrupt(self):
        self.calls.append("interrupt")

    def is_healthy(self):
        return self.state == READY and self.running

    def over_memory_limit(self):
        return False

    def idle_too_long(self):
        return False

    def rss_bytes(self):
        return 0

    def hosting(self, workdir, request):
        return contextlib.nullcontext(request)

    def run(self, request, timeout):
        self.task_count += 1
        self.requests.append(request)
        outcome = self.tasks.pop(0) if self.tasks else "done"
        if isinstance(outcome, BaseException):
            if isinstance(outcome, (OfficeCrashed, OfficeStalled)):
                self.running = False
                self.state = BROKEN
            raise outcome
        return outcome


def make_pool(tmp_path, size=1, **settings):
    values = dict(working_path=str(tmp_path), office_pool_size=size,
                  queue_timeout=WAIT_SECONDS, limit_number_request=0,
                  monitor_interval=3600, quarantine_seconds=600)
    values.update(settings)
    pool = OfficePool(Settings(**values), entry_factory=FakeEntry)
    pool.retry_wait = lambda delay: pool._stop_event.is_set()
    return pool


@pytest.fixture
def pools(tmp_path):
    """make(size, **settings): a started pool of fakes, stopped after the
    test, which then checks that no fake is left running."""
    made = []

    def make(size=1, **settings):
        pool = make_pool(tmp_path, size, **settings)
        pool.start()
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.stop(grace=WAIT_SECONDS)
        assert [entry.name for entry in pool.entries if entry.running] == []


def settled(pool):
    """Wait until no entry is being restarted and each restarted one is
    back (a maintenance thread leaves the restarting set just before it
    gives its entry back); the idle entries."""

    def done():
        with pool._condition:
            return not pool._maintaining and all(
                entry in pool._idle or entry in pool._busy
                for entry in pool.entries)

    wait_until(done, WAIT_SECONDS, interval=0.001, what="maintenance done")
    return [entry for entry in pool.entries if entry in pool._idle]


def served_order(pool, held, requests):
    """Queue ``requests`` [(name, retry)] one after the other behind the
    entry ``held``, then give it back: the names in the order the pool
    served them."""
    served = []

    def request(name, retry):
        entry = pool.acquire(retry=retry)
        served.append(name)
        pool.release(entry)

    threads = []
    for number, (name, retry) in enumerate(requests):
        thread = threading.Thread(target=request, args=(name, retry))
        thread.start()
        threads.append(thread)
        # The next one arrives once this one waits in the queue.
        wait_until(lambda: pool.snapshot()["queue_length"] == number + 1,
                   WAIT_SECONDS, interval=0.001, what="queued")
    pool.release(held)
    for thread in threads:
        thread.join(WAIT_SECONDS)
    return served


def test_requests_are_served_in_arrival_order(pools):
    pool = pools(1)
    requests = [(number, False) for number in range(4)]
    assert served_order(pool, pool.acquire(), requests) == [0, 1, 2, 3]


def test_a_retry_is_served_before_the_first_tries_waiting(pools):
    """A request whose instance crashed under it (run() retries it) waits
    ahead of the requests that have not had their turn yet, behind the
    retries queued before it."""
    pool = pools(1)
    requests = [("first", False), ("second", False), ("retry 1", True),
                ("third", False), ("retry 2", True)]
    assert served_order(pool, pool.acquire(), requests) == [
        "retry 1", "retry 2", "first", "second", "third"]
    assert pool._retries_waiting == 0


def test_queue_timeout_is_server_busy(pools):
    pool = pools(1)
    held = pool.acquire()
    with pytest.raises(ServerBusy) as caught:
        pool.acquire(timeout=0.01)
    assert str(caught.value).startswith("server busy")
    pool.release(held)
    assert pool.snapshot()["queue_length"] == 0


@pytest.mark.parametrize("outcome, error", [
    ("done", None),
    (protocol.LoadError("cannot open"), protocol.LoadError),
    (OfficeStalled("stalled"), ConversionTimeout),
    (ValueError("a bug"), ValueError),
])
def test_the_entry_comes_back_on_every_path(pools, outcome, error):
    pool = pools(1)
    [entry] = pool.entries
    entry.tasks = [outcome]
    if error is None:
        assert pool.run({"op": protocol.CONVERT}, b"doc") == "done"
    else:
        with pytest.raises(error):
            pool.run({"op": protocol.CONVERT}, b"doc")
    assert settled(pool) == [entry]
    assert entry.is_healthy()
    assert pool._busy_count == 0 and not pool._busy


def test_a_crash_is_retried_once_on_a_healthy_instance(pools):
    pool = pools(1)
    [entry] = pool.entries
    entry.tasks = [OfficeCrashed("killed"), "converted"]
    assert pool.run({"op": protocol.CONVERT}, b"doc") == "converted"
    assert entry.calls.count("recover") == 1
    assert settled(pool) == [entry]


def test_two_crashes_fail_the_request_and_count_for_the_quarantine(pools):
    pool = pools(1)
    [entry] = pool.entries
    entry.tasks = [OfficeCrashed("first"), OfficeCrashed("second")]
    with pytest.raises(ConversionError) as caught:
        pool.run({"op": protocol.CONVERT}, b"doc")
    assert "crashed twice" in str(caught.value)
    assert "first" in str(caught.value) and "second" in str(caught.value)
    settled(pool)
    with pytest.raises(Quarantined):
        pool.run({"op": protocol.CONVERT}, b"doc")
    # Another document is served.
    assert pool.run({"op": protocol.CONVERT}, b"other") == "done"


def test_quarantine_expires_and_a_success_clears_the_record():
    now = [1000.0]
    quarantine = Quarantine(60, clock=lambda: now[0])
    key = Quarantine.key_of(b"document")
    quarantine.record_failure(key)
    quarantine.check(key)  # one failure is not enough
    quarantine.record_failure(key)
    with pytest.raises(Quarantined):
        quarantine.check(key)
    assert quarantine.active_count() == 1
    now[0] += 59
    with pytest.raises(Quarantined):
        quarantine.check(key)
    now[0] += 2
    quarantine.check(key)  # expired
    assert quarantine.active_count() == 0
    quarantine.record_failure(key)
    quarantine.record_success(key)
    quarantine.record_failure(key)
    quarantine.check(key)  # not twice in a row


def test_the_quarantine_key_is_hashed_only_when_needed(monkeypatch):
    hashed = []
    real_sha256 = pool_module.hashlib.sha256
    monkeypatch.setattr(pool_module.hashlib, "sha256",
                        lambda data: hashed.append(data) or real_sha256(data))
    quarantine = Quarantine(60)
    key = Quarantine.key_of(b"document")
    quarantine.check(key)
    quarantine.record_success(key)
    assert hashed == []  # nothing on record: no hashing
    quarantine.record_failure(key)
    quarantine.check(key)
    assert hashed == [b"document"]  # once, remembered


def test_recycles_are_spread_by_jitter(pools):
    pool = pools(8, limit_number_request=100)
    limits = set()
    for entry in pool.entries:
        entry.task_count = 0
        assert not pool.over_request_limit(entry)
        limit = pool._request_limits[entry]
        assert 90 <= limit <= 110
        limits.add(limit)
        entry.task_count = limit
        assert pool.over_request_limit(entry)
        entry.task_count = 0
    # Eight draws from 21 values: all equal has odds of 21**-7.
    assert len(limits) > 1


def test_a_recycle_draws_a_new_limit(pools):
    pool = pools(1, limit_number_request=10)
    [entry] = pool.entries
    pool.random.seed(1)
    served = 0
    while "recycle" not in entry.calls:
        assert pool.acquire() is entry
        entry.task_count += 1  # as run() counts
        served += 1
        pool.release(entry)
        assert served <= 11
    assert 9 <= served <= 11
    settled(pool)
    assert entry.task_count == 0
    # The next start's share is drawn afresh.
    assert entry not in pool._request_limits
    assert not pool.over_request_limit(entry)
    assert pool._request_limits[entry] in range(9, 12)


def test_failed_restarts_back_off_up_to_the_maximum(pools):
    pool = pools(1)
    [entry] = pool.entries
    delays = []
    pool.retry_wait = lambda delay: delays.append(delay) or False
    entry.start_failures = [protocol.WorkerLost("no soffice")] * 7
    entry.tasks = [OfficeCrashed("killed")]
    pool.run({"op": protocol.CONVERT}, b"doc")
    assert settled(pool) == [entry]
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert entry.is_healthy()


def test_a_restart_failing_with_oserror_keeps_the_pool_full(pools):
    """Was: the maintenance thread died on anything but WorkerLost, and
    the entry never came back (the pool shrank for good)."""
    pool = pools(2)
    held = pool.acquire()
    held.start_failures = [OSError(12, "Cannot allocate memory")]
    held.state = BROKEN  # as after a crash
    held.running = False
    pool.release(held)
    assert sorted(settled(pool), key=lambda entry: entry.index) == \
        pool.entries
    assert held.calls[-2:] == ["recover", "start"]
    assert held.is_healthy()


def test_a_failed_start_on_demand_is_server_busy_not_internal(pools):
    """Was: an OSError starting a sleeping instance for a request reached
    the client as Fault 1; now the request waits for an instance like any
    other, and the entry goes to maintenance."""
    pool = pools(1)
    [entry] = pool.entries
    entry.stop()  # asleep: the next request starts it
    entry.start_failures = [OSError(11, "Resource temporarily unavailable")]
    gate = threading.Event()
    entry.start_gate = gate
    with pytest.raises(ServerBusy):
        pool.acquire(timeout=0.05)
    gate.set()
    assert settled(pool) == [entry]
    assert entry.is_healthy()
    pool.release(pool.acquire())


def test_stop_during_a_restart_leaves_nothing_running(pools):
    """Was: stop() stopped an entry that a maintenance thread was still
    starting; the start then finished and its soffice outlived the pool."""
    pool = pools(1)
    [entry] = pool.entries
    gate = threading.Event()
    entry.start_gate = gate
    entry.tasks = [OfficeCrashed("killed")]
    running = threading.Thread(
        target=lambda: pytest.raises(Exception, pool.run,
                                     {"op": protocol.CONVERT}, b"doc"))
    running.start()
    wait_until(lambda: "recover" in entry.calls, WAIT_SECONDS,
               interval=0.001, what="restart begun")
    pool.stop(grace=0.01)
    gate.set()  # the start ends after stop() returned
    running.join(WAIT_SECONDS)
    wait_until(lambda: not pool._maintaining, WAIT_SECONDS, interval=0.001,
               what="restart done")
    assert not entry.running
    assert entry.calls[-1] == "stop"


class RestartAsTheMonitorTidies(list):
    """What the monitor of the pool before this test read and rebuilt as
    its thread list: once the monitor has read it to the end, a restart
    begins (in another thread) before the monitor stores the new list."""

    def __init__(self, begin_restart):
        super().__init__()
        self.begin_restart = begin_restart

    def __iter__(self):
        yield from list.__iter__(self)
        if self.begin_restart is not None:
            begin, self.begin_restart = self.begin_restart, None
            begin()


def test_a_restart_begun_while_the_monitor_runs_is_waited_for_by_stop(
        pools):
    """Was: the monitor replaced the pool's thread list while a request
    appended a restart to the old one; stop() then never waited for that
    restart.  The pool now keeps no list for the monitor to tidy: each
    restart thread is registered under the pool's lock and removes
    itself."""
    pool = pools(1, monitor_interval=0.001)
    [entry] = pool.entries
    gate = threading.Event()
    entry.start_gate = gate
    entry.tasks = [OfficeCrashed("killed")]

    fired = threading.Event()
    begun = threading.Event()

    def begin_restart():
        fired.set()
        threading.Thread(target=lambda: pytest.raises(
            Exception, pool.run, {"op": protocol.CONVERT}, b"doc")).start()
        wait_until(lambda: "recover" in entry.calls, WAIT_SECONDS,
                   interval=0.001, what="restart begun")
        begun.set()

    hook = RestartAsTheMonitorTidies(begin_restart)
    if hasattr(pool, "_threads"):
        # A pool whose monitor tidies a thread list: the monitor passes
        # every millisecond, and may store a list of its own just after
        # ours.
        deadline = time.monotonic() + WAIT_SECONDS
        while not fired.is_set() and time.monotonic() < deadline:
            if pool._threads is not hook:
                pool._threads = hook
            time.sleep(0.001)
    else:
        begin_restart()
    assert begun.wait(WAIT_SECONDS)
    stopping = threading.Thread(target=pool.stop, args=(WAIT_SECONDS,))
    stopping.start()
    # stop() must wait for the restart (held by the gate) to end.
    stopping.join(0.2)
    assert stopping.is_alive()
    gate.set()
    stopping.join(WAIT_SECONDS)
    assert not entry.running
    assert entry.calls[-1] == "stop"


def test_stop_refuses_new_requests_and_stops_every_entry(pools):
    pool = pools(3)
    held = pool.acquire()
    stopping = threading.Thread(target=pool.stop, args=(WAIT_SECONDS,))
    stopping.start()
    wait_until(lambda: pool.snapshot()["closing"], WAIT_SECONDS,
               interval=0.001, what="closing")
    with pytest.raises(ServerStopping):
        pool.acquire()
    pool.release(held)
    stopping.join(WAIT_SECONDS)
    assert [entry.running for entry in pool.entries] == [False] * 3


def test_an_entry_held_past_the_stop_is_stopped_when_given_back(
        pools, monkeypatch):
    monkeypatch.setattr(pool_module, "UNWIND_SECONDS", 0.01)
    pool = pools(2)
    held = pool.acquire()
    pool.stop(grace=0.01)  # the request ignores the interruption
    assert "interrupt" in held.calls
    [other] = [entry for entry in pool.entries if entry is not held]
    assert not other.running
    assert held.running
    pool.release(held)
    assert not held.running
    assert held.calls[-1] == "stop"
