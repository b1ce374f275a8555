"""waitress, run one loop tick at a time: the only module that knows its
internals (its socket map, trigger and task dispatcher).

``cloudooo serve`` needs more than ``waitress.serve``: a stop signal must
close the listening socket while the requests in flight are still answered,
then stop the request threads.  waitress has no public API for that, so
what it takes is here, in one place to check when waitress is upgraded.
"""

import contextlib
import io

import waitress
from waitress import wasyncore


class WaitressServer:

    def __init__(self, app, options):
        """``options``: the ``[server:main]`` keys, as waitress takes them."""
        self._server = waitress.create_server(app, **options)
        self._map = self._server._map

    def listening_lines(self, template="cloudooo serving on http://{}:{}"):
        """Where it listens, one line per socket; waitress prints them,
        which would put non-JSON lines in a JSON log."""
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            self._server.print_listen(template)
        return printed.getvalue().splitlines()

    def tick(self, timeout):
        """Accept, read and write what is ready, waiting up to ``timeout``
        seconds."""
        wasyncore.loop(timeout=timeout, map=self._map, use_poll=True,
                       count=1)

    def stop_listening(self):
        """Close the listening socket(s) only.  waitress's own close() of
        a single-socket server also closes the trigger by which a request
        thread wakes the loop to send its answer: the answers still to
        come would fail with EBADF."""
        if hasattr(self._server, "trigger"):
            wasyncore.dispatcher.close(self._server)
        else:  # several listening sockets: each is its own dispatcher
            self._server.close()

    def has_pending_output(self):
        """A connection still has a request being read or an answer being
        written."""
        return any(getattr(channel, "total_outbufs_len", 0)
                   or getattr(channel, "requests", None)
                   for channel in self._map.values())

    def close(self, thread_timeout=1):
        """Stop the request threads and close every connection."""
        self._server.task_dispatcher.shutdown(timeout=thread_timeout)
        for channel in list(self._map.values()):
            channel.close()
