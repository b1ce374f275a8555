"""Plain HTTP GET beside XML-RPC POST: /health, /ready, /metrics.

``OpsApplication`` is the XML-RPC application with these pages and with an
observing dispatcher that writes one log line and the metrics of every call.
Both answer from state the server already keeps: no office call, no
conversion, so a load balancer may ask every second.
"""

import json
import logging
import time
import xmlrpc.client

from cloudooo.ops import context
from cloudooo.xmlrpc import Dispatcher, XmlRpcApplication

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json"
# Instance statuses that can take work now or start on demand.
SERVING_STATUSES = ("ready", "busy", "sleeping")


def office_pool(handlers):
    office = handlers.get("ooo")
    return getattr(office, "pool", None)


def readiness(draining, handlers, ready_queue_limit):
    """(ready, body): ready when the server is not draining, at least one
    office instance is up or can start on demand, and the queue is below
    ``ready_queue_limit``; servers without LibreOffice only need to be
    serving.  ``handlers``: the started ones, by name."""
    enabled = sorted(handlers)
    body = {"status": "ready", "draining": draining,
            "handlers": enabled, "queue_length": 0,
            "queue_limit": ready_queue_limit, "instances": []}
    reasons = []
    if draining:
        reasons.append("the server is draining before it stops")
    if "ooo" in enabled:
        pool = office_pool(handlers)
        if pool is None:
            reasons.append("LibreOffice is stopped")
        else:
            snapshot = pool.snapshot()
            body["instances"] = snapshot["instances"]
            body["queue_length"] = snapshot["queue_length"]
            if snapshot["closing"]:
                reasons.append("the office pool is stopping")
            if not any(instance["status"] in SERVING_STATUSES
                       for instance in snapshot["instances"]):
                reasons.append("no office instance is up or can start")
            limit = ready_queue_limit
            if limit and snapshot["queue_length"] >= limit:
                reasons.append("%d requests queued (ready_queue_limit = %d)"
                               % (snapshot["queue_length"], limit))
    if reasons:
        body["status"] = "unavailable"
        body["reasons"] = reasons
    return not reasons, body


class OpsApplication(XmlRpcApplication):
    """The XML-RPC application plus the operators' GET pages."""

    def __init__(self, instance, max_request_size, metrics=None,
                 handlers=None, ready_queue_limit=0, **options):
        """``handlers``: the started handlers by name, whose state /ready
        reports; ``ready_queue_limit``: see cloudooo.settings."""
        self.metrics = metrics
        super().__init__(instance, max_request_size, **options)
        self.handlers = dict(handlers or {})
        self.ready_queue_limit = ready_queue_limit
        self._draining = False
        self._pages = {"/health": self._health, "/ready": self._ready,
                       "/metrics": self._metrics}

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        page = self._pages.get(environ.get("PATH_INFO", "/"))
        if page is not None and method in ("GET", "HEAD"):
            status, body, content_type = page()
            if method == "HEAD":
                body = b""
            return self._respond(start_response, status, body, content_type)
        request_id = context.begin_http_request(
            environ.get("HTTP_X_REQUEST_ID"))

        def start_response_with_id(status, headers, exc_info=None):
            # The client (or the proxy) can find this request in our log.
            return start_response(status, list(headers) + [
                ("X-Request-Id", request_id)], exc_info)
        return super().__call__(environ, start_response_with_id)

    def make_dispatcher(self, instance, methods):
        return ObservingDispatcher(instance, methods, self.metrics)

    def drain(self):
        """A stop signal came: /ready answers 503 from now on, so a load
        balancer sends work elsewhere before the server stops accepting."""
        self._draining = True

    def _health(self):
        return "200 OK", b'{"status": "ok"}\n', JSON_TYPE

    def _ready(self):
        ready, body = readiness(self._draining or self.refusing,
                                self.handlers, self.ready_queue_limit)
        status = "200 OK" if ready else "503 Service Unavailable"
        return status, json.dumps(body).encode() + b"\n", JSON_TYPE

    def _metrics(self):
        if self.metrics is None:
            return "404 Not Found", b"no metrics\n", "text/plain"
        body, content_type = self.metrics.exposition()
        return "200 OK", body, content_type


class ObservingDispatcher(Dispatcher):
    """Our dispatcher, timing every call and noting its outcome; the log
    line and the metrics are written when the call ends."""

    def __init__(self, instance, methods, metrics):
        super().__init__(instance, methods)
        self.metrics = metrics

    def _dispatch(self, method, params):
        known = method in self.funcs
        record = context.begin_call(method if known else "unknown")
        try:
            result = super()._dispatch(method, params)
        except xmlrpc.client.Fault as fault:
            record.fault_code = fault.faultCode
            raise
        except BaseException:
            record.fault_code = 1
            raise
        finally:
            duration = time.monotonic() - record.started
            context.end_call(record)
            self._observe(record, duration)
        return result

    def _observe(self, record, duration):
        if record.method.startswith("system."):
            return  # introspection: not worth a line per call
        try:
            if self.metrics is not None:
                self.metrics.observe_call(record, duration)
            from cloudooo.ops.requestlog import log_call
            log_call(record, duration)
        except Exception:
            logger.exception("observing %s failed", record.method)
