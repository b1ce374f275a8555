"""Prometheus metrics, one registry per server (never the library's global
default registry: tests run several servers in one process, and each
process of a cluster must count only its own work).

Calls are counted when they end (``observe_call``); the office pool's
state (instances, queue, restarts, RSS, quarantine) is read when /metrics
is scraped, by a collector, so the pool knows nothing of Prometheus.
"""

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry,
                               Counter, Histogram, generate_latest)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from cloudooo.ops.requestlog import outcome_of

# Seconds: a small document takes ~30 ms in LibreOffice, a video minutes.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                   60, 180, 600, 3600)
QUEUE_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60)
# The methods that take a source and a destination format.
CONVERSION_METHODS = ("convertFile", "run_generate")
RESTART_CAUSES = ("crash", "timeout", "memory", "request_limit", "idle",
                  "start_failed")
INSTANCE_STATUSES = ("ready", "busy", "sleeping", "restarting")


class ServerMetrics:

    def __init__(self, handlers):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cloudooo_requests", "XML-RPC calls answered, by method, the "
            "handler that served them and outcome (ok or fault N)",
            ["method", "handler", "outcome"], registry=self.registry)
        self.call_seconds = Histogram(
            "cloudooo_request_duration_seconds", "Time to answer an XML-RPC "
            "call, by method", ["method"], buckets=LATENCY_BUCKETS,
            registry=self.registry)
        self.conversion_seconds = Histogram(
            "cloudooo_conversion_duration_seconds", "Time of successful "
            "conversions, by source and destination format",
            ["source", "destination"], buckets=LATENCY_BUCKETS,
            registry=self.registry)
        self.input_bytes = Counter(
            "cloudooo_input_bytes", "Bytes of documents received (decoded)",
            ["method"], registry=self.registry)
        self.output_bytes = Counter(
            "cloudooo_output_bytes", "Bytes of documents sent back (decoded)",
            ["method"], registry=self.registry)
        self.queue_wait_seconds = Histogram(
            "cloudooo_queue_wait_seconds", "Time a request waited for a free "
            "office instance", buckets=QUEUE_WAIT_BUCKETS,
            registry=self.registry)
        self.registry.register(OfficePoolCollector(handlers))

    def observe_call(self, record, duration):
        outcome = outcome_of(record)
        self.requests.labels(record.method, record.handler or "none",
                             outcome).inc()
        self.call_seconds.labels(record.method).observe(duration)
        # Format labels only for successes: a client's typo in a format
        # name must not become a new time series.
        if outcome == "ok" and record.method in CONVERSION_METHODS \
                and record.source and record.destination:
            self.conversion_seconds.labels(
                record.source, record.destination).observe(duration)
        if record.input_bytes:
            self.input_bytes.labels(record.method).inc(record.input_bytes)
        if record.output_bytes:
            self.output_bytes.labels(record.method).inc(record.output_bytes)
        if record.queue_wait is not None:
            self.queue_wait_seconds.observe(record.queue_wait)

    def exposition(self):
        """(body, content type) in Prometheus' text format."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class OfficePoolCollector:
    """The office pool's state, read at scrape time."""

    def __init__(self, handlers):
        self.handlers = handlers

    def collect(self):
        office = self.handlers.get("ooo")
        pool = getattr(office, "pool", None)
        instances = GaugeMetricFamily(
            "cloudooo_office_instances", "Office instances by status",
            labels=["status"])
        queue = GaugeMetricFamily(
            "cloudooo_queue_length", "Requests waiting for an office "
            "instance")
        restarts = CounterMetricFamily(
            "cloudooo_office_restarts", "Office instance restarts (and "
            "idle stops) by cause", labels=["cause"])
        rss = GaugeMetricFamily(
            "cloudooo_office_rss_bytes", "Resident memory of each "
            "soffice.bin", labels=["instance"])
        quarantined = GaugeMetricFamily(
            "cloudooo_quarantined_documents", "Documents refused right now "
            "because they crashed or stalled LibreOffice twice")
        if pool is not None:
            snapshot = pool.snapshot()
            for status in INSTANCE_STATUSES:
                instances.add_metric([status], sum(
                    1 for instance in snapshot["instances"]
                    if instance["status"] == status))
            queue.add_metric([], snapshot["queue_length"])
            counts = dict(pool.restart_counts)
            for cause in RESTART_CAUSES + tuple(
                    sorted(set(counts) - set(RESTART_CAUSES))):
                restarts.add_metric([cause], counts.get(cause, 0))
            for instance in snapshot["instances"]:
                rss.add_metric([instance["name"]], instance["rss_bytes"])
            quarantined.add_metric([], pool.quarantine.active_count())
        yield instances
        yield queue
        yield restarts
        yield rss
        yield quarantined
