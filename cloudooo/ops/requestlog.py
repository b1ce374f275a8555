"""One INFO line per XML-RPC call, and the log format (text or JSON).

The line holds the method, source->destination, input and output bytes
(decoded documents), duration, outcome (``ok`` or ``fault N``) and the
office instance used, and the request id, which every other line logged
for that request (errors, restarts it caused) carries too.  Never document
content, base64 or passwords: only the fields of ``RequestRecord``.
"""

import logging

from pythonjsonlogger.json import JsonFormatter

from cloudooo.ops.context import RequestIdFilter

request_logger = logging.getLogger("cloudooo.request")

TEXT_FORMAT = ("%(asctime)s %(levelname)s [%(name)s] [%(threadName)s]"
               "%(request_tag)s %(message)s")
JSON_FIELDS = ("asctime", "levelname", "name", "threadName", "request_id",
               "message")


def outcome_of(record):
    return "ok" if record.fault_code is None else \
        "fault %d" % record.fault_code


def call_fields(record, duration):
    """The facts of a call, as log fields (JSON) and for the text line."""
    fields = {
        "request_id": record.request_id,
        "method": record.method,
        "source": record.source,
        "destination": record.destination,
        "input_bytes": record.input_bytes,
        "output_bytes": record.output_bytes,
        "duration_ms": round(duration * 1000, 1),
        "outcome": outcome_of(record),
        "handler": record.handler,
        "office": record.office,
    }
    if record.queue_wait is not None:
        fields["queue_wait_ms"] = round(record.queue_wait * 1000, 1)
    return fields


def log_call(record, duration):
    fields = call_fields(record, duration)
    formats = ""
    if record.source:
        formats = " %s->%s" % (record.source, record.destination or "")
    text = "%s%s in=%s out=%s bytes %.0f ms %s" % (
        record.method, formats, _size(record.input_bytes),
        _size(record.output_bytes), fields["duration_ms"], fields["outcome"])
    if record.office:
        text += " on %s" % record.office
    request_logger.info(text, extra={"call": fields})


def _size(value):
    return "-" if value is None else str(value)


class CallJsonFormatter(JsonFormatter):
    """JSON lines; a request line carries its fields at the top level."""

    def add_fields(self, log_record, record, message_dict):
        super().add_fields(log_record, record, message_dict)
        call = log_record.pop("call", None)
        if call:
            log_record.update(call)


def make_formatter(log_format):
    if log_format == "json":
        return CallJsonFormatter(
            " ".join("%%(%s)s" % field for field in JSON_FIELDS),
            rename_fields={"asctime": "time", "levelname": "level",
                           "name": "logger", "threadName": "thread"})
    return logging.Formatter(TEXT_FORMAT)


def configure(log_format, level):
    """Format every handler of the root logger, adding ours if there is
    none; each gets the filter that names the request."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        root.addHandler(handler)
        root.setLevel(level)
        handler.setFormatter(make_formatter(log_format))
    elif log_format == "json":
        for handler in root.handlers:
            handler.setFormatter(make_formatter(log_format))
    for handler in root.handlers:
        if not any(isinstance(item, RequestIdFilter)
                   for item in handler.filters):
            handler.addFilter(RequestIdFilter())
