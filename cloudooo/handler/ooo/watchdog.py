"""Stall detection: an office task whose processes stopped using the CPU.

A document that makes LibreOffice wait for something that never comes (a
fetch nobody answers, a lock, a deadlock) leaves soffice asleep while the
request waits.  ``timeout_response`` would catch it only after minutes, and
meanwhile the instance serves nobody.  The waiting side samples the CPU time
of the instance's processes (soffice and its UNO worker, with whatever they
started, so that a sandbox wrapper in between changes nothing) and calls it a
stall when, over the last ``stall_seconds``, they used less than
``STALL_CPU_FRACTION`` of one core.  A busy document keeps the CPU busy and
is left to ``timeout_response``.
"""

import collections
import time

import psutil

# "Almost no CPU": under 2% of one core over the whole window.  An idle
# soffice uses well under 0.5%; a working one, a whole core.
STALL_CPU_FRACTION = 0.02
# How often the waiting side looks; a stall is seen at most this late.
SAMPLE_SECONDS = 1.0


def process_tree_cpu_seconds(pids):
    """User + system CPU seconds of the processes ``pids`` and all their
    descendants, those alive now, each counted once (soffice may be the
    worker's descendant)."""
    return _cpu_seconds(_process_trees(pids))


def _process_trees(pids):
    """The processes ``pids`` and their descendants.  Costly: psutil reads
    every process of the machine to find children."""
    processes = {}
    for pid in pids:
        if pid is None or pid in processes:
            continue
        try:
            root = psutil.Process(pid)
            tree = [root] + root.children(recursive=True)
        except psutil.Error:
            continue
        for process in tree:
            processes.setdefault(process.pid, process)
    return list(processes.values())


def _cpu_seconds(processes):
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class ProcessTreeCpu:
    """``process_tree_cpu_seconds(pids)`` as a StallWatch reads it, without
    listing the trees at every reading: the processes found last time are
    read again, and the trees listed anew only when those show less work
    than a stall allows since the previous reading (a new child may be the
    one working).  A busy soffice thus costs a few /proc reads per sample,
    not a read of every process of the machine; a verdict of stall always
    rests on a fresh listing."""

    def __init__(self, pids, clock=time.monotonic,
                 list_processes=_process_trees):
        self.pids = pids
        self.clock = clock
        self.list_processes = list_processes
        self._processes = None
        self._last = None  # (time, reading)

    def __call__(self):
        now = self.clock()
        if self._processes is not None:
            reading = _cpu_seconds(self._processes)
            then, last_reading = self._last
            if reading - last_reading >= STALL_CPU_FRACTION * (now - then):
                self._last = now, reading
                return reading
        self._processes = self.list_processes(self.pids)
        reading = _cpu_seconds(self._processes)
        self._last = now, reading
        return reading


class StallWatch:
    """Fed CPU readings while a task runs; says when it has stalled.

    ``read_cpu_seconds`` returns a cumulative CPU time; only increases count
    (a descendant that exits takes its CPU time with it, which must not look
    like negative work).  ``lazy``: the first reading, where the window
    starts, is the first sample's, not the constructor's: a reading of a
    process tree lists every process of the machine (5-20 ms of CPU), which
    a task answered before its first sample never needs; its stall is seen
    one sample later.
    """

    def __init__(self, read_cpu_seconds, stall_seconds,
                 clock=time.monotonic, lazy=False):
        self.read_cpu_seconds = read_cpu_seconds
        self.stall_seconds = stall_seconds
        self.clock = clock
        self._work = 0.0
        # (time, work done so far), oldest first, covering the window.
        self._samples = collections.deque()
        if not lazy:
            self._start()

    def _start(self):
        self._last_reading = self.read_cpu_seconds()
        self._samples.append((self.clock(), 0.0))

    def sample(self):
        """Take a reading; return the CPU seconds used over the last
        ``stall_seconds`` when that is a stall, else None."""
        if not self._samples:
            self._start()
            return None
        now = self.clock()
        reading = self.read_cpu_seconds()
        self._work += max(0.0, reading - self._last_reading)
        self._last_reading = reading
        self._samples.append((now, self._work))
        # Keep one sample at or before the window's start.
        while len(self._samples) > 1 and \
                self._samples[1][0] <= now - self.stall_seconds:
            self._samples.popleft()
        since, work_then = self._samples[0]
        window = now - since
        if window < self.stall_seconds:
            return None
        used = self._work - work_then
        if used < STALL_CPU_FRACTION * window:
            return used
        return None
