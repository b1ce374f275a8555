"""What the current request is doing, for its log line and its metrics.

One ``RequestRecord`` per XML-RPC call lives in a context variable of the
thread serving it.  Code deep in the server (the manager, the registry, the
office pool) adds facts with ``note()`` without knowing who reads them; the
observing dispatcher (``cloudooo.ops.endpoints``) writes the log line and
the metrics when the call ends.  Threads started on behalf of a request
(restarts after its crash) run in a copy of its context, so their log lines
carry its request id.
"""

import contextvars
import dataclasses
import logging
import re
import threading
import time
import uuid
from typing import Optional

_current_record = contextvars.ContextVar("cloudooo_request", default=None)
_current_request_id = contextvars.ContextVar("cloudooo_request_id",
                                             default=None)

# An X-Request-Id from a proxy is kept only if it is short and plain: it
# goes into log lines and a response header.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclasses.dataclass(eq=False)  # one call's record: equal only to itself
class RequestRecord:
    """The facts of one call; ``None`` where they do not apply."""

    request_id: str
    method: str
    handler: Optional[str] = None
    source: Optional[str] = None
    destination: Optional[str] = None
    input_bytes: Optional[int] = None
    output_bytes: Optional[int] = None
    office: Optional[str] = None
    queue_wait: Optional[float] = None  # seconds
    fault_code: Optional[int] = None  # a Fault answered, or swallowed (legacy)
    started: float = dataclasses.field(default_factory=time.monotonic)


def new_request_id(proposed=None):
    if proposed and SAFE_REQUEST_ID.match(proposed):
        return proposed
    return uuid.uuid4().hex[:16]


def begin_http_request(proposed_id=None):
    """Called once per HTTP request, in the thread that serves it; returns
    the request id.  Not reset afterwards: the thread's next request
    overwrites it, and a lazily produced response still sees it."""
    request_id = new_request_id(proposed_id)
    _current_request_id.set(request_id)
    _current_record.set(None)
    return request_id


def begin_call(method):
    """A record for one XML-RPC call (several per system.multicall)."""
    request_id = _current_request_id.get() or new_request_id()
    record = RequestRecord(request_id, method)
    _current_record.set(record)
    return record


def end_call(record):
    if _current_record.get() is record:
        _current_record.set(None)


def current():
    return _current_record.get()


def note(**facts):
    """Add facts to the current call's record; a no-op outside a call (at
    start-up, in the monitor thread)."""
    record = _current_record.get()
    if record is not None:
        for name, value in facts.items():
            getattr(record, name)  # a misspelt fact fails (AttributeError)
            setattr(record, name, value)


def note_bytes(name, size):
    """Add to input_bytes or output_bytes (a call may read several
    documents, granulation writes several)."""
    record = _current_record.get()
    if record is not None:
        setattr(record, name, (getattr(record, name) or 0) + size)


def start_thread_in_context(target, name, *args, daemon=True):
    """A thread running ``target`` in a copy of the caller's context: its
    log lines name the request that caused it."""
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target,) + args,
                              name=name, daemon=daemon)
    thread.start()
    return thread


class RequestIdFilter(logging.Filter):
    """Gives every record ``request_id`` ('-' outside a request) and
    ``request_tag`` (' [req ID]', or '' outside a request) for formats."""

    def filter(self, record):
        request = _current_record.get()
        request_id = request.request_id if request is not None else \
            _current_request_id.get()
        if not hasattr(record, "request_id"):
            record.request_id = request_id or "-"
        record.request_tag = " [req %s]" % record.request_id \
            if record.request_id != "-" else ""
        return True
