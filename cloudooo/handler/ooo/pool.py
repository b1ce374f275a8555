"""A pool of office instances: FIFO hand-out, retry after a crash, upkeep.

Every entry is owned by exactly one party at a time: the idle list (under
``self._condition``), the request that acquired it, or a maintenance thread
restarting it.  Requests wait in arrival order; nobody is handed a dead
instance; recycles and crash recoveries run in background threads so a
request only waits for a start-up when no other instance is free.  Once
stop() has stopped the idle entries, whoever gives an entry back stops it.

The pool builds its entries through ``entry_factory`` (OfficeEntry by
default), so its logic runs with fake entries in unit tests.
"""

import concurrent.futures
import functools
import hashlib
import itertools
import logging
import random
import subprocess
import threading
import time
from collections import Counter, deque

from cloudooo.errors import (ConversionError, ConversionTimeout, Quarantined,
                             ServerBusy, ServerStopping)
from cloudooo.handler.ooo.entry import (READY, STOPPED, OfficeCrashed,
                                        OfficeEntry, OfficeStalled)
from cloudooo.handler.ooo.protocol import ReplyError, WorkerTimeout
from cloudooo.ops.context import note, start_thread_in_context
from cloudooo.spool import SpooledDocument

logger = logging.getLogger(__name__)
queue_logger = logging.getLogger(__name__ + ".queue")

# Delay before another try when an instance fails to start, doubling up to
# the maximum: a broken installation must not spin the CPU.
START_RETRY_SECONDS = 1.0
START_RETRY_MAX_SECONDS = 30.0
# Each instance recycles after limit_number_request, give or take this
# fraction, drawn at each start: instances that serve equal shares of the
# load do not all restart at the same moment.
REQUEST_LIMIT_JITTER = 0.1
# After interrupting the tasks still running at stop: how long their
# requests get to unwind (answer, remove their files) before soffice goes.
UNWIND_SECONDS = 3.0

# Why an instance is restarted or stopped (``_maintain``'s ``why``), as the
# cause operators count (/metrics, /ready).  A crash recovery's cause is
# what broke the entry: "crash" or "timeout".
RESTART_CAUSES = {
    "request limit": "request_limit",
    "memory limit": "memory",
    "death while idle": "crash",
    "sleep": "idle",
    "start failed": "start_failed",
}


class Quarantine:
    """Documents that crashed or stalled LibreOffice twice in a row.

    Keyed by content hash; entries expire after ``seconds``.  A success of
    the same bytes clears its record.
    """

    FAILURES_TO_QUARANTINE = 2

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._failures = {}
        self._lock = threading.Lock()

    @staticmethod
    def key_of(document):
        """The quarantine key of ``document`` (bytes, or a SpooledDocument)
        as a function, which hashes only when first called: only when some
        document is on record (a 20 MB document costs ~30 ms of hashing)."""
        if document is None:
            return None

        @functools.lru_cache(maxsize=1)
        def digest():
            if isinstance(document, SpooledDocument):
                return document.sha256()
            return hashlib.sha256(document).hexdigest()
        return digest

    def check(self, digest):
        """``digest``: the hex digest, or a function giving it, called only
        when some document is on record (hashing a big one costs)."""
        if not self.seconds or digest is None or not self._failures:
            return
        digest = _digest_value(digest)
        with self._lock:
            count, since = self._failures.get(digest, (0, 0))
            if count >= self.FAILURES_TO_QUARANTINE:
                if self.clock() - since < self.seconds:
                    raise Quarantined(
                        "this document crashed or stalled LibreOffice %d "
                        "times in a row; it is refused for %d s"
                        % (count, self.seconds))
                del self._failures[digest]

    def record_failure(self, digest):
        if digest is None:
            return
        digest = _digest_value(digest)
        with self._lock:
            count, _since = self._failures.get(digest, (0, 0))
            self._failures[digest] = (count + 1, self.clock())

    def record_success(self, digest):
        if digest is None or not self._failures:
            return
        digest = _digest_value(digest)
        with self._lock:
            self._failures.pop(digest, None)

    def active_count(self):
        """How many documents are refused right now."""
        now = self.clock()
        with self._lock:
            return sum(1 for count, since in self._failures.values()
                       if count >= self.FAILURES_TO_QUARANTINE
                       and now - since < self.seconds)


def _digest_value(digest):
    return digest() if callable(digest) else digest


class OfficePool:

    def __init__(self, settings, uno_python=None, env=None, sandbox=None,
                 entry_factory=None):
        """``entry_factory(index, popen)`` builds entry number ``index``,
        its processes started through ``popen``; by default an OfficeEntry
        running ``uno_python`` in ``env`` and ``sandbox``."""
        self.settings = settings
        # Every worker is started from this one thread, alive as long as
        # the pool: bubblewrap's --die-with-parent (PR_SET_PDEATHSIG) kills
        # a sandbox when the *thread* that started it ends, and restarts
        # run in short-lived maintenance threads.
        self._spawner = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="office-spawner")
        if entry_factory is None:
            def entry_factory(index, popen):
                return OfficeEntry(index, settings, uno_python, env, sandbox,
                                   popen=popen)
        self.entries = [entry_factory(index, self._popen_from_spawner)
                        for index in range(settings.office_pool_size)]
        self.quarantine = Quarantine(settings.quarantine_seconds)
        self._condition = threading.Condition()
        self._idle = []
        self._waiting = deque()
        # How many of the waiting tickets, at its front, are retries.
        self._retries_waiting = 0
        self._tickets = itertools.count()
        self._busy_count = 0
        # Entries held by requests, so that a stop can interrupt them.
        self._busy = set()
        self._closing = False
        # Set by stop() once it has stopped the idle entries: from then on,
        # whoever gives an entry back stops it.
        self._stopped = False
        self._monitor = None
        # Maintenance threads by entry (under the condition), joined by
        # stop(); each removes itself when done.
        self._maintenance_threads = {}
        self._stop_event = threading.Event()
        self._start_errors = []
        # For operators: entries being restarted (entry -> cause), and how
        # many restarts each cause made since the server started.
        self._maintaining = {}
        self.restart_counts = Counter()
        # Each entry's request limit since its last start (see
        # REQUEST_LIMIT_JITTER).
        self._request_limits = {}
        self.random = random.Random()
        # Waits between failed restarts; returns True when the pool stops.
        self.retry_wait = self._stop_event.wait

    # -- start and stop -----------------------------------------------------

    def start(self):
        """Start every instance in parallel; return once all have tried.

        An instance that fails to start is retried in the background; the
        pool is usable as soon as one instance is up.
        """
        starters = [threading.Thread(target=self._first_start, args=(entry,),
                                     name="%s-start" % entry.name)
                    for entry in self.entries]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        with self._condition:
            started = bool(self._idle)
        if not started:
            # Nothing will ever answer: say why now rather than time out.
            raise RuntimeError("no LibreOffice instance could start: %s"
                               % "; ".join(self._start_errors))
        self._monitor = start_thread_in_context(self._monitor_loop,
                                                "office-monitor")

    def _first_start(self, entry):
        entry.clean_leftovers()
        try:
            try:
                entry.start()
            except WorkerTimeout as error:
                # Rarely, a first start never answers (seen under load, once
                # in hundreds of starts) where the next one takes a second:
                # one more try before the server gives up.  A start that
                # fails outright (a broken installation) is not retried.
                logger.error("%s: no answer at its first start (%s); "
                             "trying once more", entry.name, error)
                entry.recover("a first start without answer")
        except Exception as error:
            logger.error("%s failed to start: %s", entry.name, error)
            self._start_errors.append("%s: %s" % (entry.name, error))
            self._maintain(entry, "start failed", lambda: entry.recover(
                "failed start"))
            return
        self._give_back(entry)

    def stop(self, grace=10.0):
        """Refuse new work, let running tasks end (up to ``grace`` s; tasks
        still running then are interrupted, their requests told the server
        is stopping), then stop every instance.

        Restarts in progress are interrupted and waited for (up to
        ``grace`` s); an entry still held after that, by a request or a
        restart, is stopped by its holder when it gives the entry back."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
            self._wait_idle(grace)
        if self._busy_count:
            self.interrupt()
            with self._condition:
                self._wait_idle(UNWIND_SECONDS)
        self._stop_event.set()
        with self._condition:
            maintained = dict(self._maintenance_threads)
        for entry in maintained:
            entry.interrupt()
        deadline = time.monotonic() + grace
        for thread in maintained.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._monitor is not None:
            self._monitor.join(grace)
        with self._condition:
            self._stopped = True
            idle, self._idle = self._idle, []
            held = len(self._busy) + len(self._maintenance_threads)
        for entry in idle:
            self._stop_entry(entry)
        if held:
            logger.error("%d office instance(s) still held at stop; each is "
                         "stopped when given back", held)
        self._spawner.shutdown()
        logger.info("office pool stopped")

    def _stop_entry(self, entry):
        try:
            entry.stop()
        except Exception:
            logger.exception("%s: stop failed", entry.name)

    def _popen_from_spawner(self, *args, **kwargs):
        return self._spawner.submit(subprocess.Popen, *args,
                                    **kwargs).result()

    def _wait_idle(self, seconds):
        """Wait (holding the condition) until no request holds an entry."""
        deadline = time.monotonic() + seconds
        while self._busy_count and time.monotonic() < deadline:
            self._condition.wait(deadline - time.monotonic())

    def interrupt(self):
        """Server stopping: refuse new work, and kill the processes under
        every running task; each of their requests gets ServerStopping."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
            running = list(self._busy)
        for entry in running:
            logger.warning("%s: interrupting the task on soffice pid %s: "
                           "the server is stopping", entry.name,
                           entry.office_pid)
            entry.interrupt()

    # -- hand-out -----------------------------------------------------------

    def acquire(self, timeout=None, retry=False):
        """The next running instance, first come first served.  One that
        cannot be started goes to maintenance and the request waits for
        another, within the same queue_timeout (ServerBusy after it, as
        when every instance is busy).  A ``retry`` (a request whose
        instance crashed under it) waits ahead of the first tries: it has
        had its turn once already."""
        timeout = self.settings.queue_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            entry = self._acquire_idle(deadline, timeout, retry)
            try:
                self._ensure_running(entry)
            except Exception as error:
                logger.error("%s failed to start for a request: %s",
                             entry.name, error)
                self._maintain(entry, "start failed", lambda: entry.recover(
                    "failed start"), held_by_request=True)
                continue
            except BaseException:
                self._give_back(entry, held_by_request=True)
                raise
            return entry

    def _acquire_idle(self, deadline, timeout, retry=False):
        """The first idle entry, once this request's turn has come."""
        with self._condition:
            ticket = next(self._tickets)
            if retry:
                # Behind the retries already waiting (all at the front).
                self._waiting.insert(self._retries_waiting, ticket)
                self._retries_waiting += 1
            else:
                self._waiting.append(ticket)
            queue_logger.debug("queued: %d waiting, %d idle",
                               len(self._waiting), len(self._idle))
            try:
                while True:
                    if self._closing:
                        raise ServerStopping()
                    if self._waiting[0] == ticket and self._idle:
                        entry = self._idle.pop(0)
                        self._busy_count += 1
                        self._busy.add(entry)
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ServerBusy(
                            "server busy: no LibreOffice instance became "
                            "free within queue_timeout = %s s" % timeout)
                    self._condition.wait(remaining)
            finally:
                self._waiting.remove(ticket)
                if retry:
                    self._retries_waiting -= 1
                self._condition.notify_all()
        return entry

    def _ensure_running(self, entry):
        """A sleeping instance is woken; one that died while idle restarts."""
        if entry.state == STOPPED:
            logger.info("%s: starting on demand", entry.name)
            entry.start()
        elif not entry.is_healthy():
            entry.recover("death while idle")

    def release(self, entry):
        """Give an instance back; it is recycled first when due."""
        if entry.state != READY:
            self._maintain(entry, "crash recovery",
                           lambda: entry.recover("crash or stall"),
                           held_by_request=True)
        elif self.over_request_limit(entry):
            self._maintain(entry, "request limit", lambda: entry.recycle(
                "served %d requests (limit_number_request, give or take "
                "%d%%)" % (entry.task_count, REQUEST_LIMIT_JITTER * 100)),
                held_by_request=True)
        elif entry.over_memory_limit():
            self._maintain(entry, "memory limit", lambda: entry.recycle(
                "RSS %d MB over limit_memory_used"
                % (entry.rss_bytes() // 1024 ** 2)), held_by_request=True)
        else:
            self._give_back(entry, held_by_request=True)

    def over_request_limit(self, entry):
        """Whether ``entry`` served its share since its last start: about
        limit_number_request tasks, each start drawing its own number."""
        base = self.settings.limit_number_request
        if not base:
            return False
        with self._condition:
            limit = self._request_limits.get(entry)
            if limit is None:
                limit = self._request_limits[entry] = max(1, round(
                    base * self.random.uniform(1 - REQUEST_LIMIT_JITTER,
                                               1 + REQUEST_LIMIT_JITTER)))
        return entry.task_count >= limit

    def _give_back(self, entry, held_by_request=False):
        """``entry`` is idle again: in the idle list, or stopped when the
        pool has stopped."""
        with self._condition:
            if held_by_request:
                self._busy_count -= 1
                self._busy.discard(entry)
            if not self._stopped:
                self._idle.append(entry)
            self._condition.notify_all()
            stop_it = self._stopped
        if stop_it:
            self._stop_entry(entry)

    def _maintain(self, entry, why, action, held_by_request=False):
        """Run ``action`` (a restart, or a stop for sleep) in the background,
        then make the entry idle again; retried with back-off until the pool
        stops.  Nothing is started once the pool is closing: the entry goes
        back as it is, and is stopped with the others."""
        cause = RESTART_CAUSES.get(why) or entry.broken_by or "crash"

        def work():
            delay = START_RETRY_SECONDS
            try:
                while not self._stop_event.is_set():
                    try:
                        action()
                        break
                    except Exception as error:
                        # An OSError (no memory to fork, a full disk) as
                        # well as a lost worker: the entry must come back.
                        logger.error("%s: restart (%s) failed: %s; retrying "
                                     "in %.0f s", entry.name, why, error,
                                     delay)
                        if self.retry_wait(delay):
                            break
                        delay = min(delay * 2, START_RETRY_MAX_SECONDS)
                with self._condition:
                    # A new start, a new share of requests.
                    self._request_limits.pop(entry, None)
            finally:
                with self._condition:
                    self._maintaining.pop(entry, None)
                    self._maintenance_threads.pop(entry, None)
                self._give_back(entry)

        with self._condition:
            closing = self._closing
        if closing:
            self._give_back(entry, held_by_request)
            return
        entry.last_restart_cause = cause
        with self._condition:
            if held_by_request:
                self._busy_count -= 1
                self._busy.discard(entry)
            self._maintaining[entry] = cause
            self.restart_counts[cause] += 1
            # In the caller's context: a restart caused by a request logs
            # with that request's id.  Registered before it can end.
            self._maintenance_threads[entry] = start_thread_in_context(
                work, "%s-%s" % (entry.name, why.replace(" ", "-")))
            self._condition.notify_all()

    # -- for operators (/ready, /metrics) -------------------------------------

    def snapshot(self):
        """The pool as operators see it, cheaply (no office call): per
        instance, its status (ready, busy, sleeping, restarting), soffice
        pid, requests since its start, RSS and last restart cause; and the
        queue length."""
        with self._condition:
            idle = list(self._idle)
            maintaining = dict(self._maintaining)
            queue_length = len(self._waiting)
            closing = self._closing
        instances = []
        for entry in self.entries:
            if entry in maintaining:
                status = "restarting"
            elif entry in idle:
                status = "sleeping" if entry.state == STOPPED else "ready"
            else:
                status = "busy"
            running = entry.state == READY and status != "restarting"
            instances.append({
                "name": entry.name,
                "status": status,
                "soffice_pid": entry.office_pid if running else None,
                "requests_served": entry.task_count,
                "rss_bytes": entry.rss_bytes() if running else 0,
                "last_restart_cause": entry.last_restart_cause,
            })
        return {"instances": instances, "queue_length": queue_length,
                "closing": closing}

    # -- upkeep -------------------------------------------------------------

    def _monitor_loop(self):
        while not self._stop_event.wait(self.settings.monitor_interval):
            with self._condition:
                due = []
                for entry in list(self._idle):
                    if entry.state == READY and not entry.is_healthy():
                        due.append((entry, "death while idle",
                                    lambda e=entry: e.recover(
                                        "death while idle")))
                    elif entry.over_memory_limit():
                        due.append((entry, "memory limit",
                                    lambda e=entry: e.recycle(
                                        "RSS over limit_memory_used")))
                    elif entry.idle_too_long():
                        # Stopped outside the lock, then idle again as
                        # STOPPED: the next request starts it.
                        due.append((entry, "sleep", entry.sleep))
                for entry, _why, _action in due:
                    self._idle.remove(entry)
            for entry, why, action in due:
                self._maintain(entry, why, action)

    # -- running tasks ------------------------------------------------------

    def run(self, request, document=None, workdir=None):
        """Run a task on some instance; after a crash, once more on a healthy
        one.  ``document``, the client's document (bytes or a
        SpooledDocument), is what the quarantine knows it by; ``workdir``,
        the request's folder, is lent to the instance for the task
        (OfficeEntry.hosting).  Returns the task's result; a task that
        failed raises its protocol.ReplyError."""
        digest = self.quarantine.key_of(document)
        self.quarantine.check(digest)
        errors = []
        for attempt in (1, 2):
            queued_at = time.monotonic()
            entry = self.acquire(retry=attempt > 1)
            note(office=entry.name, queue_wait=time.monotonic() - queued_at)
            try:
                with entry.hosting(workdir, request) as hosted_request:
                    result = entry.run(hosted_request,
                                       self.settings.timeout_response)
            except ReplyError:
                # soffice survived the document: no crash to remember.
                self.quarantine.record_success(digest)
                raise
            except (OfficeStalled, OfficeCrashed) as error:
                if self._closing:
                    # Interrupted by the stop, or lost while stopping: not
                    # the document's fault, and no retry.
                    raise ServerStopping()
                self.quarantine.record_failure(digest)
                if isinstance(error, OfficeStalled):
                    raise ConversionTimeout(str(error))
                errors.append(str(error))
                logger.warning("%s crashed during %s (attempt %d): %s",
                               entry.name, request.get("op"), attempt, error)
                continue
            finally:
                self.release(entry)
            self.quarantine.record_success(digest)
            return result
        raise ConversionError("LibreOffice crashed twice on this document: "
                              "first: %s; then: %s" % tuple(errors))
