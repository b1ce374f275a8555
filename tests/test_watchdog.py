"""The stall watch on its own: readings and clock passed in, and the CPU
reading of real processes."""

import collections
import subprocess
import sys
import time

from cloudooo.handler.ooo.watchdog import (STALL_CPU_FRACTION,
                                           ProcessTreeCpu, StallWatch,
                                           process_tree_cpu_seconds)


class Timeline:
    """A clock and a CPU counter the test moves by hand."""

    def __init__(self):
        self.now = 100.0
        self.cpu = 5.0

    def advance(self, seconds, cpu_used):
        self.now += seconds
        self.cpu += cpu_used


def watch_of(timeline, stall_seconds=10):
    return StallWatch(lambda: timeline.cpu, stall_seconds,
                      clock=lambda: timeline.now)


def test_no_verdict_before_a_whole_window():
    timeline = Timeline()
    watch = watch_of(timeline)
    for _second in range(9):
        timeline.advance(1, 0.0)
        assert watch.sample() is None


def test_idle_for_a_whole_window_is_a_stall():
    timeline = Timeline()
    watch = watch_of(timeline)
    for _second in range(9):
        timeline.advance(1, 0.001)
        watch.sample()
    timeline.advance(1, 0.001)
    used = watch.sample()
    assert used is not None and used < 0.02


def test_a_lazy_watch_reads_nothing_before_its_first_sample():
    timeline = Timeline()
    readings = []

    def read():
        readings.append(timeline.now)
        return timeline.cpu

    watch = StallWatch(read, 10, clock=lambda: timeline.now, lazy=True)
    assert readings == []
    timeline.advance(1, 0.0)
    assert watch.sample() is None  # where its window starts
    assert readings == [101.0]
    for _second in range(9):
        timeline.advance(1, 0.0)
        assert watch.sample() is None
    timeline.advance(1, 0.0)
    assert watch.sample() == 0.0  # a whole window after the first sample


class FakeProcess:
    """What ProcessTreeCpu reads of a process: its CPU times."""

    def __init__(self, cpu):
        self.cpu = cpu

    def cpu_times(self):
        return collections.namedtuple("times", "user system")(self.cpu, 0.0)


def tree_reader(timeline, tree):
    listings = []

    def list_processes(pids):
        listings.append(timeline.now)
        return list(tree)

    reader = ProcessTreeCpu((1, 2), clock=lambda: timeline.now,
                            list_processes=list_processes)
    return reader, listings


def test_tree_listed_again_only_when_its_known_processes_seem_idle():
    timeline = Timeline()
    office = FakeProcess(1.0)
    tree = [office]
    reader, listings = tree_reader(timeline, tree)
    assert reader() == 1.0 and len(listings) == 1
    for _second in range(5):
        timeline.advance(1, 0.0)
        office.cpu += 0.5  # busy: the known processes are read, no listing
        assert reader() == office.cpu
    assert len(listings) == 1
    # soffice waits while a child it started works: the reading seems idle,
    # so the tree is listed again and the child's work counts.
    child = FakeProcess(2.0)
    tree.append(child)
    timeline.advance(1, 0.0)
    assert reader() == office.cpu + 2.0
    assert len(listings) == 2
    # Idle for real: listed at every reading, each one exact.
    timeline.advance(1, 0.0)
    assert reader() == office.cpu + 2.0
    assert len(listings) == 3


def test_a_busy_process_never_stalls():
    timeline = Timeline()
    watch = watch_of(timeline)
    for _second in range(60):
        timeline.advance(1, 0.9)
        assert watch.sample() is None


def test_work_within_the_window_postpones_the_stall():
    timeline = Timeline()
    watch = watch_of(timeline)
    for _second in range(9):
        timeline.advance(1, 0.0)
        watch.sample()
    timeline.advance(1, 1.0)  # a burst of work at the end of the window
    assert watch.sample() is None
    for _second in range(9):
        timeline.advance(1, 0.0)
        assert watch.sample() is None  # the burst is still in the window
    timeline.advance(1, 0.0)
    timeline.advance(1, 0.0)
    assert watch.sample() is not None


def test_a_falling_reading_is_no_work_and_no_negative_work():
    # A helper process exiting takes its CPU time out of the sum.
    timeline = Timeline()
    watch = watch_of(timeline)
    timeline.advance(5, -3.0)
    assert watch.sample() is None
    timeline.advance(5, 0.0)
    assert watch.sample() == 0.0


def test_threshold_is_a_fraction_of_the_window():
    timeline = Timeline()
    watch = watch_of(timeline, stall_seconds=10)
    timeline.advance(10, STALL_CPU_FRACTION * 10 * 1.5)
    assert watch.sample() is None


def test_cpu_of_a_real_process_tree_counts_its_children():
    # A parent that sleeps while its child burns CPU: only the tree shows
    # the work (as soffice.bin under a sandbox wrapper would).
    burner = ("import time\nend = time.process_time() + 0.5\n"
              "while time.process_time() < end: pass\n"
              "time.sleep(30)\n")
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys; subprocess.run("
                               "[sys.executable, '-c', %r])" % burner])
    try:
        used = 0.0
        for _attempt in range(100):
            used = process_tree_cpu_seconds([parent.pid])
            if used >= 0.5:
                break
            time.sleep(0.1)
        assert used >= 0.5
        assert process_tree_cpu_seconds([None, 2 ** 22 + 12345]) == 0.0
    finally:
        import psutil
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
