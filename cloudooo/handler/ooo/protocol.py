"""The UNO worker protocol: what the server and ``unoworker.py`` say.

Standard library only.  The server imports it as
``cloudooo.handler.ooo.protocol``; the worker, which runs under a Python
that can ``import uno`` and not in the server's virtualenv, imports it as
the sibling file of its script (a script's folder is first on sys.path),
and the worker's sandbox gets this file read-only beside the script.

Wire format: one JSON object per line, each way.

- worker, once it holds a bridge to soffice: ``{"ready": true, "pid": N}``;
  when it cannot: ``{"ready": false, "message": TEXT}`` (then it exits);
- server, one per task: ``{"op": OPERATION, ...}`` (see OPERATIONS);
- worker, one per task: ``{"ok": true, "result": VALUE}`` or
  ``{"ok": false, "kind": KIND, "message": TEXT}``, KIND naming one of the
  ReplyError classes below.

The worker raises the ReplyError classes and replies with
``error_reply(error)``; the server's ``result_of(reply)`` raises them again:
a reply kind is spelled and interpreted here only.
"""

import json

# -- operations (the "op" of a request) ----------------------------------

CATALOGUE = "catalogue"        # LibreOffice's filters and types
CONVERT = "convert"            # load "input", store "output" by "targets"
GET_METADATA = "get_metadata"  # load "input", read its properties
SET_METADATA = "set_metadata"  # load "input", write "metadata" to "output"
OPERATIONS = (CATALOGUE, CONVERT, GET_METADATA, SET_METADATA)


# -- the channel broke ------------------------------------------------------

class WorkerLost(Exception):
    """The UNO worker died, timed out or broke the protocol."""


class WorkerTimeout(WorkerLost):
    """The worker did not answer within the call's deadline."""


# -- a task failed: the reply kinds -------------------------------------------

class ReplyError(Exception):
    """A task failed in the worker; ``kind`` is its name on the wire."""

    kind = "error"

    def __str__(self):
        return self.args[0] if self.args else self.__class__.__name__


class TaskError(ReplyError):
    """Anything else went wrong in LibreOffice during the task."""

    kind = "error"


class LoadError(ReplyError):
    """LibreOffice refused the document (corrupt, wrong type, locked): the
    client's fault."""

    kind = "load"


class UnsupportedExport(ReplyError):
    """No target the server offered fits the kind of document loaded."""

    kind = "unsupported"


class PasswordFailure(ReplyError):
    """The document is password-protected: no password, or a wrong one."""

    kind = "password"


class InvalidOption(ReplyError):
    """An export option this document cannot honour (a page it lacks)."""

    kind = "invalid"


class OfficeDisposed(ReplyError):
    """soffice died or the bridge broke during the task; the worker exits
    after replying.  Not the document's fault: the task may be retried."""

    kind = "disposed"


REPLY_ERROR_BY_KIND = {error.kind: error for error in (
    TaskError, LoadError, UnsupportedExport, PasswordFailure, InvalidOption,
    OfficeDisposed)}


# -- messages ---------------------------------------------------------------

def ready_message(pid):
    return {"ready": True, "pid": pid}


def not_ready_message(message):
    return {"ready": False, "message": message}


def ok_reply(result):
    return {"ok": True, "result": result}


def error_reply(error):
    """The reply for ``error``, a ReplyError."""
    return {"ok": False, "kind": error.kind, "message": str(error)}


def encode(message):
    """One line of the channel (text, ending in a line break)."""
    return json.dumps(message) + "\n"


def decode(line):
    """The message on ``line`` (bytes or text); ValueError if it is not a
    JSON object."""
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    return message


def operation_of(message):
    """The operation a request asks for; ValueError if unknown."""
    operation = message.get("op")
    if operation not in OPERATIONS:
        raise ValueError("unknown operation %r" % (operation,))
    return operation


def check_ready(message):
    """The worker's pid from its first message; WorkerLost if it is not
    ready."""
    if message.get("ready") is not True:
        raise WorkerLost(message.get("message") or "worker not ready")
    return message.get("pid")


def result_of(reply):
    """The result a reply carries, or the ReplyError it reports."""
    if reply.get("ok") is True:
        return reply.get("result")
    error_class = REPLY_ERROR_BY_KIND.get(reply.get("kind"), TaskError)
    raise error_class(reply.get("message") or "conversion failed")
