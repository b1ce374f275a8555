"""A daemon's pid file: is it running, stop it and wait.

Shared by ``cloudooo stop/status`` and our ``pserve --stop-daemon/--status``.
Only the pid written in the file is ever signalled.
"""

import os
import signal

import psutil

from cloudooo.util import wait_until

STOP_POLL_SECONDS = 0.1


def read_pid(pid_file):
    """The pid in the file, or None (no file, empty, not a number)."""
    try:
        with open(pid_file) as stream:
            return int(stream.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def is_running(pid):
    """Alive and not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def started_after_pid_file(pid, pid_file):
    """A pid reused by a process born after the pid file was written is not
    our server: never signal it."""
    try:
        born = psutil.Process(pid).create_time()
        written = os.path.getmtime(pid_file)
    except (psutil.Error, OSError):
        return False
    # Servers write their pid file after they start; a second of slack for
    # clocks of different resolutions.
    return born > written + 1.0


def status(pid_file):
    """(code, message), LSB style: 0 running, 1 dead with a pid file left,
    3 not running."""
    pid = read_pid(pid_file)
    if pid is None:
        if os.path.exists(pid_file):
            return 1, "no valid pid in %s" % pid_file
        return 3, "not running (no pid file %s)" % pid_file
    if not is_running(pid) or started_after_pid_file(pid, pid_file):
        return 1, "not running: pid %d in %s is dead" % (pid, pid_file)
    return 0, "running as pid %d (%s)" % (pid, pid_file)


def stop(pid_file, signum=signal.SIGHUP, timeout=60.0):
    """Signal the pid of ``pid_file`` and wait until it is gone.

    (code, message): 0 stopped, 1 it did not stop within ``timeout``,
    3 nothing was running (a stale pid file is removed).
    """
    pid = read_pid(pid_file)
    if pid is not None and started_after_pid_file(pid, pid_file):
        return 3, "not running: pid %d in %s now belongs to a process " \
            "started after the file was written; not signalled" % (
                pid, pid_file)
    if pid is None or not is_running(pid):
        if pid is not None:
            _remove(pid_file)
            return 3, "not running: pid %d in %s was dead; pid file " \
                "removed" % (pid, pid_file)
        return 3, "not running (no pid in %s)" % pid_file
    os.kill(pid, signum)
    try:
        wait_until(lambda: not is_running(pid), timeout, STOP_POLL_SECONDS,
                   what="the end of pid %d" % pid)
    except TimeoutError:
        return 1, "pid %d still running %.0f s after %s" % (
            pid, timeout, signal.Signals(signum).name)
    if read_pid(pid_file) == pid:
        _remove(pid_file)
    return 0, "stopped pid %d (%s)" % (pid, signal.Signals(signum).name)


def _remove(pid_file):
    try:
        os.unlink(pid_file)
    except OSError:
        pass
