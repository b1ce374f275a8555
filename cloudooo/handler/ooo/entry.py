"""One office instance: a soffice.bin, its UNO worker, and their life cycle.

An entry serves one task at a time; whoever holds it (the pool's idle list,
one request, or a maintenance thread) is its only user, so it needs no lock
of its own.  Each way of restarting is its own method, as in JODConverter:
a planned recycle keeps the profile, a crash wipes it, a stall kills first.
"""

import contextlib
import errno
import glob
import logging
import os
import shutil
import subprocess
import time

from cloudooo.sandbox import Sandbox, limits_from_settings
from cloudooo.handler.ooo.connection import WorkerConnection
from cloudooo.handler.ooo.process import (WORKER_FILES, OfficeProcess,
                                          UnoWorkerProcess,
                                          terminate_orphans_on_port)
from cloudooo.handler.ooo.protocol import (OfficeDisposed, ReplyError,
                                           WorkerLost, WorkerTimeout)
from cloudooo.handler.ooo.watchdog import (SAMPLE_SECONDS, StallWatch,
                                           ProcessTreeCpu)

logger = logging.getLogger(__name__)

# States.  Transitions happen only in _set_state().
STOPPED = "stopped"      # no process; started on demand or by maintenance
READY = "ready"          # processes up, bridge connected
BROKEN = "broken"        # processes killed after a crash or stall


# The worker asks soffice to quit and waits up to 5 s for it.
WORKER_STOP_GRACE_SECONDS = 6.0


class OfficeCrashed(Exception):
    """soffice or its bridge died during a task; the task may be retried."""


class OfficeStalled(Exception):
    """A task ran past its time limit, or its soffice stopped working
    (no CPU for ``stall_seconds``); soffice was killed."""


class _TaskStalled(Exception):
    """Raised by the watch inside run(): CPU seconds used in the window."""


class OfficeEntry:

    def __init__(self, index, settings, uno_python, env, sandbox=None,
                 popen=subprocess.Popen):
        self.index = index
        self.settings = settings
        self.port = settings.openoffice_port + index
        self.profile_root = os.path.join(settings.working_path, "profiles")
        self.profile_path = os.path.join(self.profile_root,
                                         "office-%d" % index)
        # What the instance's sandbox may write besides its profile: its
        # /tmp and the folder of the request it is serving (see hosting).
        self.instance_path = os.path.join(settings.working_path, "instances",
                                          "office-%d" % index)
        self.tmp_path = os.path.join(self.instance_path, "tmp")
        self.requests_path = os.path.join(self.instance_path, "requests")
        self.sandbox = sandbox or Sandbox.from_settings(settings)
        # soffice's temporary files in our folder, not the host's /tmp.
        env = self.sandbox.environment(dict(env, TMPDIR=self.tmp_path),
                                       settings.env)
        self.office = OfficeProcess(settings.office_binary_path,
                                    settings.application_hostname, self.port,
                                    self.profile_path, env)
        self.worker = UnoWorkerProcess(uno_python, settings.uno_path,
                                       settings.application_hostname,
                                       self.port, env, wrap=self._sandboxed,
                                       popen=popen)
        self.connection = None
        # Set by interrupt() (the server stopping): no start may finish.
        self._interrupted = False
        self.state = STOPPED
        self.last_office_pid = None
        self.task_count = 0
        self.last_used = time.monotonic()
        # For operators: what broke it last ("crash" or "timeout"), and why
        # it was last restarted (set by the pool).
        self.broken_by = None
        self.last_restart_cause = None

    def __repr__(self):
        return "<OfficeEntry %d port %d %s pid %s>" % (
            self.index, self.port, self.state, self.office.pid)

    @property
    def name(self):
        return "office-%d" % self.index

    @property
    def office_pid(self):
        return self.office.pid

    def _sandboxed(self, argv):
        """The worker's argv in this instance's sandbox: soffice shares it."""
        return self.sandbox.wrap(
            argv, writable=[self.profile_path, self.requests_path],
            private_tmp=self.tmp_path, read_only=list(WORKER_FILES),
            limits=limits_from_settings(
                self.settings, self.settings.sandbox_office_memory_limit))

    def _set_state(self, state, why=""):
        logger.debug("%s: %s -> %s %s", self.name, self.state, state, why)
        self.state = state

    # -- life cycle ---------------------------------------------------------

    def clean_leftovers(self):
        """At server start: an orphan soffice of an earlier run on our port,
        and its stale profile (lock files, a half-written registry)."""
        terminate_orphans_on_port(self.settings.application_hostname,
                                  self.port, self.profile_root)
        shutil.rmtree(self.profile_path, ignore_errors=True)
        shutil.rmtree(self.instance_path, ignore_errors=True)

    def start(self):
        """Start soffice and the worker; raise WorkerLost (or OSError) on
        failure, with nothing left running."""
        if self._interrupted:
            raise WorkerLost("not started: the server is stopping")
        # A fresh /tmp each start: what a killed soffice left goes.
        shutil.rmtree(self.tmp_path, ignore_errors=True)
        os.makedirs(self.tmp_path)
        os.makedirs(self.requests_path, exist_ok=True)
        self.office.start()
        connect_timeout = self.settings.office_start_timeout
        try:
            popen = self.worker.start(connect_timeout, self.office.argv())
            if self._interrupted:
                # interrupt() came before there was a worker to kill.
                raise WorkerLost("interrupted while starting: the server "
                                 "is stopping")
            self.connection = WorkerConnection(popen)
            # Twice: the worker's clock starts again after the profile is
            # made.
            self.connection.wait_ready(2 * connect_timeout + 5)
            self.office.attach(popen.pid)
        except BaseException:
            self._kill_processes()
            self._set_state(BROKEN, "start failed")
            raise
        self.task_count = 0
        self.last_used = time.monotonic()
        self.last_office_pid = self.office.pid
        self._set_state(READY)
        logger.info("%s started: soffice pid %d, port %d", self.name,
                    self.office.pid, self.port)

    def stop(self):
        """Graceful stop: the worker asks soffice to quit through UNO and
        waits for it, then exits; soffice is killed if still there."""
        if self.connection is not None:
            self.connection.close()
        self.worker.stop(grace=WORKER_STOP_GRACE_SECONDS)
        self.office.stop(grace=0.5)
        shutil.rmtree(self.tmp_path, ignore_errors=True)
        self._set_state(STOPPED)

    def interrupt(self):
        """Kill the processes under a running task or start, from another
        thread (server stopping): the task ends as after a crash, a start
        fails; no later start succeeds."""
        self._interrupted = True
        self.worker.interrupt()
        self.office.interrupt()

    def _kill_processes(self):
        if self.office.pid is not None:
            # Remembered for the restart's log line, once it is gone.
            self.last_office_pid = self.office.pid
        self.worker.kill()
        self.office.kill()

    def recycle(self, reason):
        """Planned restart (request count, memory): keeps the profile."""
        logger.info("%s: recycling soffice pid %s: %s", self.name,
                    self.office.pid, reason)
        self.stop()
        self.start()

    def recover(self, reason):
        """Restart after a crash or stall: kill, wipe the profile, start."""
        logger.warning("%s: restarting after %s (soffice pid was %s)",
                       self.name, reason, self.last_office_pid)
        self._kill_processes()
        self.office.wipe_profile()
        self.start()

    def sleep(self):
        logger.info("%s: idle for %.0f s, stopping soffice pid %s", self.name,
                    time.monotonic() - self.last_used, self.office.pid)
        self.stop()

    # -- work ---------------------------------------------------------------

    @contextlib.contextmanager
    def hosting(self, workdir, request):
        """Move the request's folder ``workdir`` into this instance's
        request area, the only one its sandbox sees, for the time of the
        task; yield ``request`` with its paths moved along."""
        if not workdir:
            yield request
            return
        hosted = os.path.join(self.requests_path, os.path.basename(workdir))
        _move_folder(workdir, hosted)
        try:
            yield {key: hosted + value[len(workdir):]
                   if isinstance(value, str) and (
                       value == workdir or value.startswith(workdir + os.sep))
                   else value for key, value in request.items()}
        finally:
            _move_folder(hosted, workdir)

    def is_healthy(self):
        return (self.state == READY and self.office.is_running()
                and self.worker.is_running())

    def rss_bytes(self):
        return self.office.rss_bytes()

    def over_memory_limit(self):
        if not self.settings.enable_memory_monitor or self.state != READY:
            return False
        return self.rss_bytes() > self.settings.limit_memory_used * 1024 ** 2

    def idle_too_long(self):
        limit = self.settings.time_before_sleep
        return (bool(limit) and self.state == READY
                and time.monotonic() - self.last_used > limit)

    def run(self, request, timeout):
        """Send one task to the worker; return its result.

        Raises OfficeStalled after ``timeout`` seconds or when soffice stops
        using the CPU for ``stall_seconds``, and OfficeCrashed when soffice
        or the bridge died; in every case the processes are already killed
        and the entry is BROKEN until recovered.  A task that failed with
        soffice alive raises its protocol.ReplyError (the document's
        fault, or LibreOffice's).
        """
        self.task_count += 1
        self.last_used = time.monotonic()
        try:
            return self._call_watched(request, timeout)
        except _TaskStalled as stall:
            pid = self.office.pid
            self._kill_processes()
            # Counted with the timeouts: a stall is one, caught earlier.
            self.broken_by = "timeout"
            self._set_state(BROKEN, "stalled")
            raise OfficeStalled(
                "LibreOffice stalled: soffice pid %s used %.2f s of CPU in "
                "stall_seconds = %s s while working on this document; it "
                "was killed" % (pid, stall.args[0],
                                self.settings.stall_seconds))
        except WorkerTimeout:
            pid = self.office.pid
            self._kill_processes()
            self.broken_by = "timeout"
            self._set_state(BROKEN, "stalled")
            raise OfficeStalled("LibreOffice did not finish within "
                                "timeout_response = %s s (soffice pid %s "
                                "was killed)" % (timeout, pid))
        except WorkerLost as error:
            self._crashed(request, "worker lost")
            raise OfficeCrashed(str(error))
        except OfficeDisposed as error:
            self._crashed(request, "disposed")
            raise OfficeCrashed(str(error))
        except ReplyError as error:
            if self.office.is_running():
                raise
            # The document was not to blame: soffice died under it (the
            # worker's own check may have come a moment too early).
            self._crashed(request, "soffice died")
            raise OfficeCrashed("soffice exited while working: %s" % error)
        finally:
            self.last_used = time.monotonic()

    def _crashed(self, request, why):
        """Kill what is left, and forget the lock files of the document and
        of its output: the dead soffice cannot remove them, and the next
        instance would refuse a locked file (a load returning None, a store
        failing with "Abort": Fault 4 for a valid document on the retry)."""
        self._kill_processes()
        self.broken_by = "crash"
        self._set_state(BROKEN, why)
        for path in (request.get("input"), request.get("output")):
            remove_lock_files(path)

    def _call_watched(self, request, timeout):
        """The task's result, watching soffice's CPU while waiting:
        _TaskStalled when it stops working, WorkerTimeout after
        ``timeout``."""
        self.connection.send(request)
        stall_seconds = self.settings.stall_seconds
        if not stall_seconds or stall_seconds >= timeout:
            return self.connection.receive(timeout)
        deadline = time.monotonic() + timeout
        # Not read before the first sample: most tasks end sooner.
        watch = StallWatch(ProcessTreeCpu((self.office.pid,
                                           self.worker.pid)),
                           stall_seconds, lazy=True)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout("no answer within %.1f s" % timeout)
            try:
                return self.connection.receive(min(remaining,
                                                   SAMPLE_SECONDS))
            except WorkerTimeout:
                used = watch.sample()
                if used is not None:
                    raise _TaskStalled(used)


def _move_folder(source, destination):
    """A rename: both live under working_path, and this is on the way of
    every task (shutil.move first stats both sides).  A copy only if an
    operator mounted tmp/ on another filesystem."""
    try:
        os.rename(source, destination)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        shutil.move(source, destination)


def remove_lock_files(input_path):
    """Remove LibreOffice's ``.~lock.NAME#`` files beside ``input_path``."""
    if not input_path:
        return
    folder = os.path.dirname(input_path)
    for lock_file in glob.glob(os.path.join(glob.escape(folder),
                                            ".~lock.*#")):
        try:
            os.unlink(lock_file)
        except OSError:
            pass
