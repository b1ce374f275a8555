"""GET /metrics (Prometheus text format, one registry per server) and the
request log (one line per call, text or JSON, request ids, no document
content or base64 at any level), on real servers."""

import base64
import json
import xmlrpc.client

import psutil
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from cloudooo.ops.metrics import ServerMetrics
from tests import documents
from tests.ops_helpers import get, wait_for
from tests.server import b64, unb64


def scrape(server):
    status, body, content_type = get(server.port, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class RequestIdTransport(xmlrpc.client.Transport):
    """Sends X-Request-Id, as a proxy in front of the server would."""

    def __init__(self, request_id):
        super().__init__()
        self.request_id = request_id

    def send_headers(self, connection, headers):
        connection.putheader("X-Request-Id", self.request_id)
        super().send_headers(connection, headers)


def test_metrics_move_with_conversions_faults_and_restarts(make_server):
    server = make_server(office_pool_size=1, limit_number_request=3)
    proxy = server.proxy()
    before = scrape(server)
    document = documents.fodt()
    for _attempt in range(3):
        pdf = unb64(proxy.convertFile(b64(document), "fodt", "pdf"))
        assert pdf.startswith(b"%PDF-")
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.convertFile("not base64!", "fodt", "pdf")
    assert fault.value.faultCode == 2
    after = scrape(server)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("cloudooo_requests_total", method="convertFile",
                 handler="ooo", outcome="ok") == 3
    assert moved("cloudooo_requests_total", method="convertFile",
                 handler="none", outcome="fault 2") == 1
    assert moved("cloudooo_conversion_duration_seconds_count",
                 source="fodt", destination="pdf") == 3
    assert moved("cloudooo_request_duration_seconds_count",
                 method="convertFile") == 4
    assert moved("cloudooo_input_bytes_total",
                 method="convertFile") == 3 * len(document)
    assert moved("cloudooo_output_bytes_total", method="convertFile") > 0
    assert moved("cloudooo_queue_wait_seconds_count") == 3
    # The third request reached limit_number_request: one recycle.
    assert moved("cloudooo_office_restarts_total",
                 cause="request_limit") == 1
    assert value(after, "cloudooo_queue_length") == 0
    assert value(after, "cloudooo_quarantined_documents") == 0
    # A fault's made-up format never becomes a time series.
    assert not any("nosuchformat" in str(key) for key in after)

    def recycled():
        samples = scrape(server)
        return samples if value(samples, "cloudooo_office_instances",
                                status="ready") == 1 else None
    samples = wait_for(recycled, what="the recycled instance")
    [office_pid] = server.office_pids()
    assert value(samples, "cloudooo_office_rss_bytes",
                 instance="office-0") > 0

    # A crash while idle is counted under its cause.
    psutil.Process(office_pid).kill()
    wait_for(lambda: value(scrape(server), "cloudooo_office_restarts_total",
                           cause="crash") == 1, what="a crash restart")


def test_each_server_has_its_own_registry():
    first, second = ServerMetrics({}), ServerMetrics({})
    first.requests.labels("convertFile", "ooo", "ok").inc()
    assert first.registry.get_sample_value(
        "cloudooo_requests_total", {"method": "convertFile",
                                    "handler": "ooo", "outcome": "ok"}) == 1
    assert second.registry.get_sample_value(
        "cloudooo_requests_total", {"method": "convertFile",
                                    "handler": "ooo", "outcome": "ok"}) is None
    assert REGISTRY.get_sample_value(
        "cloudooo_requests_total", {"method": "convertFile",
                                    "handler": "ooo", "outcome": "ok"}) is None


SECRET_TEXT = "Confidential canary paragraph 7f3a9c"


def _no_document_in(log, *payloads):
    for payload in payloads:
        encoded = base64.b64encode(payload).decode()
        # any 40-character piece of the base64, wherever lines were cut
        pieces = {encoded[index:index + 40]
                  for index in range(0, max(1, len(encoded) - 40), 40)}
        assert not any(piece in log for piece in pieces)
    assert SECRET_TEXT not in log


def test_one_text_line_per_call_with_the_request_id(make_server):
    server = make_server(office_pool_size=1, limit_number_request=1,
                         debug_mode="true")
    proxy = xmlrpc.client.ServerProxy(
        server.url, transport=RequestIdTransport("ops-test-42"),
        allow_none=True)
    document = documents.fodt(text=SECRET_TEXT)
    pdf = unb64(proxy.convertFile(b64(document), "fodt", "pdf"))
    assert pdf.startswith(b"%PDF-")
    with pytest.raises(xmlrpc.client.Fault):
        proxy.convertFile(b64(b"\x00garbage"), "docx", "pdf")
    # limit_number_request = 1: the conversion's release recycles soffice,
    # in a maintenance thread started on the request's behalf.
    log = wait_for(lambda: (lambda text: text if "[req ops-test-42] "
                            "office-0: recycling soffice" in text else None)(
                                server.log()),
                   what="the recycle caused by the request")
    lines = [line for line in log.splitlines()
             if "[cloudooo.request]" in line]
    assert len(lines) == 2, lines
    ok_line, fault_line = lines
    assert "[req ops-test-42] convertFile fodt->pdf in=%d out=%d bytes" % (
        len(document), len(pdf)) in ok_line
    assert ok_line.rstrip().endswith("ms ok on office-0")
    assert "convertFile docx->pdf in=8 out=- bytes" in fault_line
    assert " fault 4" in fault_line
    # That request's restart and error lines carry its id too.
    # (the recycle after start-up's own catalogue call has no request id)
    assert [line for line in log.splitlines() if "recycling soffice" in line
            and "[req " not in line]
    [error_line] = [line for line in log.splitlines()
                    if "convertFile failed" in line]
    assert "[req ops-test-42]" in error_line
    _no_document_in(log, document, pdf)


def test_json_lines_for_log_shippers(make_server):
    server = make_server(office_pool_size=1, log_format="json",
                         debug_mode="true")
    document = documents.fodt(text=SECRET_TEXT)
    pdf = unb64(server.proxy().convertFile(b64(document), "fodt", "pdf"))
    # Nothing but JSON lines, waitress's "serving on" included.
    records = [json.loads(line) for line in server.log().splitlines()]
    assert any(record["message"].startswith("cloudooo serving on http://")
               for record in records)
    calls = [record for record in records
             if record["logger"] == "cloudooo.request"]
    assert len(calls) == 1
    [call] = calls
    assert call["level"] == "INFO"
    assert call["method"] == "convertFile"
    assert (call["source"], call["destination"]) == ("fodt", "pdf")
    assert call["input_bytes"] == len(document)
    assert call["output_bytes"] == len(pdf)
    assert call["outcome"] == "ok"
    assert call["office"] == "office-0"
    assert call["handler"] == "ooo"
    assert call["duration_ms"] > 0
    assert len(call["request_id"]) == 16
    _no_document_in(server.log(), document, pdf)


def test_response_names_its_request_id(server):
    import urllib.request
    body = xmlrpc.client.dumps((), "system.listMethods").encode()
    given = urllib.request.Request(server.url, data=body, headers={
        "Content-Type": "text/xml", "X-Request-Id": "from-the-proxy-1"})
    with urllib.request.urlopen(given, timeout=30) as response:
        assert response.headers["X-Request-Id"] == "from-the-proxy-1"
    # An id that could forge log lines is replaced by one of ours.
    forged = urllib.request.Request(server.url, data=body, headers={
        "Content-Type": "text/xml", "X-Request-Id": "x] ok\tevil"})
    with urllib.request.urlopen(forged, timeout=30) as response:
        replaced = response.headers["X-Request-Id"]
    assert replaced and "evil" not in replaced and len(replaced) == 16


def test_the_ini_files_own_logging_sections_get_request_ids(tmp_path):
    from tests.ops_helpers import only_registry
    from tests.server import ServerProcess
    server = only_registry(ServerProcess(tmp_path), ["video/* * ffmpeg"])
    with open(server.config_path, "a") as config:
        config.write("\n[loggers]\nkeys = root\n\n[handlers]\nkeys = out\n\n"
                     "[formatters]\nkeys = plain\n\n[logger_root]\n"
                     "level = INFO\nhandlers = out\n\n[handler_out]\n"
                     "class = StreamHandler\nargs = (sys.stderr,)\n"
                     "formatter = plain\n\n[formatter_plain]\n"
                     "format = OURS %(request_id)s | %(message)s\n")
    server.start()
    try:
        transport = RequestIdTransport("ini-format-7")
        proxy = xmlrpc.client.ServerProxy(server.url, transport=transport)
        targets = proxy.getAllowedExtensionList({"extension": "webm"})
        assert "mp4" in [target for target, _title in targets]
        wait_for(lambda: "OURS ini-format-7 | getAllowedExtensionList"
                 in server.log(), what="the request line")
    finally:
        assert server.stop() == []


def test_multicall_logs_each_call_under_one_request_id(server):
    proxy = xmlrpc.client.ServerProxy(
        server.url, transport=RequestIdTransport("multi-call-3"))
    calls = xmlrpc.client.MultiCall(proxy)
    calls.getAllowedExtensionList({"extension": "odt"})
    calls.getAllowedExtensionList({"extension": "ods"})
    assert len(list(calls())) == 2
    lines = wait_for(lambda: (lambda found: found if len(found) == 2
                              else None)(
        [line for line in server.log_path.read_text().splitlines()
         if "[req multi-call-3] getAllowedExtensionList" in line]),
        what="two request lines")
    assert all(line.rstrip().endswith(" ok") for line in lines)
