"""Small shared helpers: running tools, temporary directories, polling."""

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from cloudooo.errors import ConversionError, ConversionTimeout, ServerStopping

logger = logging.getLogger(__name__)


def wait_until(condition, timeout, interval=0.05, what="condition",
               pause=None):
    """Poll ``condition()`` until it returns a true value or ``timeout`` passes.

    Returns the value; raises TimeoutError naming ``what``.  Between polls,
    ``pause(interval)`` (``time.sleep`` unless given: a serving loop passes
    what serves connections meanwhile).  This is the only place that waits
    for readiness: no fixed sleeps elsewhere.
    """
    pause = pause or time.sleep
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("%s not reached within %.1f s" % (what, timeout))
        pause(interval)


@contextlib.contextmanager
def temporary_directory(base_path, prefix="req-"):
    """A private directory under ``base_path`` removed on exit, even on error."""
    os.makedirs(base_path, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=base_path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def last_error_line(text):
    """The last non-empty line of a tool's stderr, the one that says why."""
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line:
            return line
    return ""


class RunningCommands:
    """The tools one handler is running, so that a stopping server can end
    them (their requests then get ServerStopping, not a tool error)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._processes = {}  # process -> tool name, for the log line
        self.interrupted = False

    def add(self, process, tool):
        with self._lock:
            self._processes[process] = tool
            interrupted = self.interrupted
        if interrupted:
            kill_process_group(process)

    def discard(self, process):
        with self._lock:
            self._processes.pop(process, None)

    def interrupt(self):
        """Kill every running tool (process group) and any started later."""
        with self._lock:
            self.interrupted = True
            processes = list(self._processes.items())
        for process, tool in processes:
            # The tool's own name: argv[0] may be the sandbox (bwrap).
            logger.warning("interrupting %s pid %d: the server is stopping",
                           tool, process.pid)
            kill_process_group(process)


def run_command(argv, timeout, env=None, cwd=None, input_bytes=None,
                tool=None, running=None, silent_failure="no reason given"):
    """Run an external tool (argv list, never a shell) with a time limit.

    Returns the CompletedProcess (stdout/stderr as bytes).  A non-zero exit
    raises ConversionError carrying the tool's last error line, with the
    working directory ``cwd`` taken out of it (the message goes to the
    client), or ``silent_failure`` when it printed nothing; running past
    ``timeout`` kills the tool's whole process group
    and raises ConversionTimeout.  With ``running`` (a RunningCommands),
    the tool is registered there while it runs; if it was interrupted,
    ServerStopping is raised.
    """
    tool = tool or os.path.basename(argv[0])
    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE if input_bytes is not None
            else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, cwd=cwd,
            start_new_session=True)
    except OSError as error:
        raise ConversionError("cannot run %s: %s" % (tool, error))
    if running is not None:
        running.add(process, tool)
    try:
        stdout, stderr = process.communicate(input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process_group(process)
        process.communicate()
        raise ConversionTimeout(
            "%s did not finish within %s s and was killed" % (tool, timeout))
    except BaseException:
        kill_process_group(process)
        process.communicate()
        raise
    finally:
        if running is not None:
            running.discard(process)
    if running is not None and running.interrupted and process.returncode:
        raise ServerStopping()
    if process.returncode != 0:
        message = last_error_line(stderr.decode("utf-8", "replace")) or \
            silent_failure
        if cwd:
            message = hide_directory(message, cwd)
        raise ConversionError("%s failed (exit %s): %s"
                              % (tool, process.returncode, message))
    return subprocess.CompletedProcess(argv, process.returncode, stdout,
                                       stderr)


def hide_directory(message, directory):
    """``message`` without the server path ``directory`` (or its file URL)."""
    prefix = os.path.join(directory, "")
    return message.replace("file:" + prefix, "").replace(prefix, "")


def kill_process_group(process):
    """SIGKILL a child started with start_new_session=True and its children."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def child_environment(extra_env):
    """The environment for child processes: ours plus the ``env-*`` keys.

    ``PATH`` from the configuration is prepended to the current PATH rather
    than replacing it, so the usual tools stay reachable.
    """
    env = dict(os.environ)
    for name, value in (extra_env or {}).items():
        if name == "PATH" and env.get("PATH"):
            env["PATH"] = value + os.pathsep + env["PATH"]
        else:
            env[name] = value
    return env
