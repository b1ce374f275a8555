"""The server's end of the channel to one UNO worker.

``WorkerConnection`` speaks the protocol (``protocol.py``) over the
worker's stdin and stdout, with a deadline on every read; it knows nothing
of how the worker was started or is stopped (``process.py``).
"""

import os
import selectors
import time

from cloudooo.handler.ooo import protocol
from cloudooo.handler.ooo.protocol import WorkerLost, WorkerTimeout


class JsonLineReader:
    """One JSON object per line from a child's pipe, with a deadline."""

    def __init__(self, stream):
        self.stream = stream
        self._buffer = b""

    def read(self, timeout):
        """The next object; WorkerTimeout after ``timeout`` seconds,
        WorkerLost when the child closed the pipe or wrote garbage."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.stream, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise WorkerTimeout("no answer within %.1f s" % timeout)
                chunk = os.read(self.stream.fileno(), 65536)
                if not chunk:
                    raise WorkerLost("the child process closed its output")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return protocol.decode(line)
        except ValueError:
            raise WorkerLost("the child process sent garbage: %r"
                             % line[:200])


class WorkerConnection:
    """Requests to one worker and its replies, over its pipes.

    ``popen``: the worker's Popen (its stdin and stdout are the channel;
    its exit code, once it has one, goes into WorkerLost's message).
    Every failure is typed: WorkerTimeout, WorkerLost (the channel), or a
    protocol.ReplyError (the task).
    """

    def __init__(self, popen):
        self.popen = popen
        self._reader = JsonLineReader(popen.stdout)

    def wait_ready(self, timeout):
        """The worker's pid once it holds its bridge to soffice."""
        return protocol.check_ready(self._read(timeout))

    def call(self, request, timeout):
        """Send one request; return its result."""
        self.send(request)
        return self.receive(timeout)

    def send(self, request):
        """Send one request without waiting for its reply."""
        if self.popen.poll() is not None:
            raise WorkerLost("uno worker is not running")
        try:
            self.popen.stdin.write(protocol.encode(request).encode())
            self.popen.stdin.flush()
        except (OSError, ValueError) as error:
            raise WorkerLost("uno worker pipe closed: %s" % error)

    def receive(self, timeout):
        """The result of the request sent, waiting up to ``timeout``
        seconds (WorkerTimeout then, and a later receive() goes on waiting
        for the same reply)."""
        return protocol.result_of(self._read(timeout))

    def close(self):
        """End of input: the worker asks soffice to quit, then exits."""
        try:
            self.popen.stdin.close()
        except OSError:
            pass

    def _read(self, timeout):
        try:
            return self._reader.read(timeout)
        except WorkerTimeout:
            raise
        except (WorkerLost, OSError, ValueError) as error:
            # Another thread may have killed the worker meanwhile (the
            # server stopping) and closed our end of the pipes.
            raise WorkerLost("uno worker: %s (exit code %s)"
                             % (error, self.popen.poll()))
