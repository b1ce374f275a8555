"""Robustness end to end (issue 9, sections 4 to 7): wrong argument types,
stalls, crashes taken for bad documents, SIGHUP with requests in flight,
and a decompression bomb; against a real server and real LibreOffice.
"""

import concurrent.futures
import itertools
import os
import signal
import threading
import xmlrpc.client

import psutil
import pytest

from tests import documents
from tests.ops_helpers import get_json
from tests.server import b64, unb64
from tests.test_supervision import (PDF_MAGIC, assert_whole, long_document,
                                    small_document, wait_for)

# Generous bounds on how long a client waits: they only keep a broken
# server from hanging the suite; they are no measure of speed.
CLIENT_TIMEOUT_SECONDS = 90


class TimeoutTransport(xmlrpc.client.Transport):
    def __init__(self, timeout):
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection


def bounded_proxy(server, timeout=CLIENT_TIMEOUT_SECONDS):
    """A client that gives up (socket timeout) after ``timeout`` seconds."""
    return xmlrpc.client.ServerProxy(server.url, allow_none=True,
                                     transport=TimeoutTransport(timeout))


def full_log(server):
    """The whole log (server.log() keeps only its end, which per-request
    lines fill quickly)."""
    return server.log_path.read_text(errors="replace")


def fault_of(call):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call()
    return caught.value


# -- wrong argument types (section 7) ---------------------------------------

def wrong_type_calls(proxy, document):
    """(call, name of the wrong argument) for every published method."""
    return [
        (lambda: proxy.convertFile(document, 5, "pdf"), "source_format"),
        (lambda: proxy.convertFile(document, "odt", ["pdf"]),
         "destination_format"),
        (lambda: proxy.convertFile(document, "odt", "pdf", "yes"), "zip"),
        (lambda: proxy.convertFile(document, "odt", "pdf", False, 7),
         "refresh"),
        (lambda: proxy.convertFile(document, "odt", "pdf", False, False,
                                   "x"), "conversion_kw"),
        (lambda: proxy.convertFile(5, "odt", "pdf"), "file"),
        (lambda: proxy.getFileMetadataItemList(document, "odt", "yes"),
         "base_document"),
        (lambda: proxy.updateFileMetadata(document, "odt", ["Title"]),
         "metadata_dict"),
        (lambda: proxy.updateFileMetadata(document, "odt",
                                          {"Title": {"a": 1}}),
         "metadata_dict['Title']"),
        (lambda: proxy.getAllowedExtensionList({"extension": ["odt"]}),
         "request_dict['extension']"),
        (lambda: proxy.getAllowedExtensionList({"mimetype": 5}),
         "request_dict['mimetype']"),
        (lambda: proxy.getAllowedExtensionList("odt"), "request_dict"),
        (lambda: proxy.getAllowedConversionFormatList(5), "source_mimetype"),
        (lambda: proxy.getTableItemList(document, 5), "source_format"),
        (lambda: proxy.getTable(document, 5), "table_id"),
        (lambda: proxy.getColumnItemList(document, ["x"]), "table_id"),
        (lambda: proxy.getLineItemList(document, {}), "table_id"),
        (lambda: proxy.getImageItemList(True), "data"),
        (lambda: proxy.getImage(document, 3), "image_id"),
        (lambda: proxy.getImage(document, "a.png", "odt", 5), "format"),
        (lambda: proxy.getParagraphItemList(document, None),
         "source_format"),
        (lambda: proxy.getParagraph(document, "0"), "paragraph_id"),
        (lambda: proxy.getChapterItemList(document, 1.5), "source_format"),
        (lambda: proxy.getChapterItem("1", document), "chapter_id"),
        (lambda: proxy.convertFile(document), "destination_format"),
    ]


def legacy_wrong_type_calls(proxy, document):
    return [
        (lambda: proxy.run_convert(None, document), "filename"),
        (lambda: proxy.run_convert("a.odt", 5), "data"),
        (lambda: proxy.run_setmetadata("a.odt", document, "Title"), "meta"),
        (lambda: proxy.run_getmetadata("a.odt", document, None, 5),
         "extension"),
        (lambda: proxy.run_generate("a.odt", document, None, 5,
                                    documents.ODT_MIMETYPE), "extension"),
        (lambda: proxy.run_generate("a.odt", document, None, "pdf", 5),
         "orig_format"),
        (lambda: proxy.getAllowedTargetItemList(5), "content_type"),
        (lambda: proxy.run_convert("a", "b", None, None, None, "extra"),
         "too many"),
    ]


def test_wrong_argument_types_get_fault_2_naming_the_argument(server):
    proxy = server.proxy()
    document = b64(documents.fodt(text="typed"))
    tracebacks_before = full_log(server).count("Traceback")
    for call, argument in wrong_type_calls(proxy, document):
        fault = fault_of(call)
        assert fault.faultCode == 2, (argument, fault.faultString)
        assert argument in fault.faultString, fault.faultString
    for call, argument in legacy_wrong_type_calls(proxy, document):
        status, response, message = call()
        assert (status, response) == (402, {}), (argument, message)
        assert argument in message.splitlines()[-1], message
        assert message.splitlines()[-1].startswith("InvalidRequest:")
    # Client mistakes are no internal errors: nothing logged as one.
    assert full_log(server).count("Traceback") == tracebacks_before
    # Right types still work, 0/1 flags of old clients included.
    assert proxy.getAllowedExtensionList({"extension": "odt"}) != [("", "")]
    converted = proxy.convertFile(document, "fodt", "odt", 0, 0)
    assert proxy.getParagraphItemList(converted, "odt")


# -- stalls (section 4) -------------------------------------------------------

def stop_office_while_converting(server, data):
    """Convert ``data`` while this test stops soffice (SIGSTOP, by the pid
    of the instance the pool started): a real soffice that sleeps for good.
    Returns the Fault and the stopped pid."""
    [victim] = server.office_pids()
    proxy = bounded_proxy(server)
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        future = executor.submit(proxy.convertFile, b64(data), "fodt", "pdf")
        wait_for(lambda: psutil.Process(victim).cpu_percent(0.2) > 20, 30,
                 "soffice busy converting")
        os.kill(victim, signal.SIGSTOP)
        with pytest.raises(xmlrpc.client.Fault) as caught:
            future.result(timeout=CLIENT_TIMEOUT_SECONDS)
    return caught.value, victim


def test_stalled_office_is_killed_long_before_timeout_response(make_server):
    # timeout_response far beyond the client's patience: only the stall
    # watch can answer in time.
    server = make_server(office_pool_size=1, stall_seconds=3,
                         timeout_response=CLIENT_TIMEOUT_SECONDS * 3)
    data = long_document()
    for attempt in (1, 2):
        if attempt == 2:
            # The replacement instance has served once, so its pid is final.
            assert unb64(server.proxy().convertFile(
                b64(small_document()), "fodt", "pdf")).startswith(PDF_MAGIC)
        fault, victim = stop_office_while_converting(server, data)
        assert fault.faultCode == 8, fault.faultString
        assert "stalled" in fault.faultString
        assert "stall_seconds = 3" in fault.faultString
        assert "timeout_response" not in fault.faultString
        wait_for(lambda: not psutil.pid_exists(victim) or psutil.Process(
            victim).status() == psutil.STATUS_ZOMBIE, 10, "stalled soffice "
            "killed")
    # Counted for the quarantine, as a crash is: a third try is refused.
    fault = fault_of(lambda: server.proxy().convertFile(b64(data), "fodt",
                                                        "pdf"))
    assert fault.faultCode == 9, fault.faultString
    assert "LibreOffice stalled" in full_log(server)
    assert_whole(server, 1)


# -- the 1x1 data: background page (section 4) ------------------------------

# A transparent 1x1 PNG, as pages carry it to paint with CSS.
TINY_PNG_BASE64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
                   "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def tiny_background_pages():
    uri = "data:image/png;base64," + TINY_PNG_BASE64
    yield "css", ('<!DOCTYPE html>\n<html><head><title>t</title></head>\n'
                  '<body style="background:url(%s)">\n<p>Hello world</p>\n'
                  '</body></html>\n' % uri).encode()
    yield "attribute", ('<html><body background="%s"><p>Hello</p></body>'
                        '</html>' % uri).encode()
    yield "stylesheet", ('<html><head><style>body { background-image: '
                         'url("%s") }</style></head><body><p>Hi</p></body>'
                         '</html>' % uri).encode()


def test_tiny_data_background_page_converts_and_frees_the_instance(
        make_server):
    # If the page hung soffice again, timeout_response would answer with
    # Fault 8 before the client gives up: the test fails, never hangs.
    server = make_server(office_pool_size=1, timeout_response=60)
    [office_pid] = server.office_pids()
    proxy = bounded_proxy(server)
    for name, page in tiny_background_pages():
        assert len(page) < 400
        pdf = unb64(proxy.convertFile(b64(page), "html", "pdf"))
        assert pdf.startswith(PDF_MAGIC), name
    odt = unb64(proxy.convertFile(b64(page), "html", "odt"))
    assert odt.startswith(b"PK")
    # The instance is free: the next document is served by the same soffice.
    assert unb64(proxy.convertFile(b64(small_document()), "fodt", "pdf")) \
        .startswith(PDF_MAGIC)
    assert server.office_pids() == [office_pid]
    assert "enlarged 1 tiny background image" in full_log(server)


def test_tiny_background_file_of_a_zipped_page(make_server):
    import base64
    import io
    import zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", '<html><head><link rel="stylesheet" '
                         'href="style.css"></head><body><p>Zipped</p>'
                         '<img src="spacer.png"></body></html>')
        archive.writestr("style.css", "body { background: url(dot.png) }")
        archive.writestr("dot.png", base64.b64decode(TINY_PNG_BASE64))
        archive.writestr("spacer.png", base64.b64decode(TINY_PNG_BASE64))
    server = make_server(office_pool_size=1, timeout_response=60)
    proxy = bounded_proxy(server)
    pdf = unb64(proxy.convertFile(b64(buffer.getvalue()), "zip", "pdf"))
    assert pdf.startswith(PDF_MAGIC)
    assert "enlarged a tiny background image file" in full_log(server)


def test_only_background_images_are_enlarged():
    from cloudooo.handler.ooo.backgrounds import enlarge_tiny_backgrounds
    uri = "data:image/png;base64," + TINY_PNG_BASE64
    spacer = ('<p><img src="%s" alt=""></p>' % uri).encode()
    assert enlarge_tiny_backgrounds(spacer) == spacer
    for _name, page in tiny_background_pages():
        enlarged = enlarge_tiny_backgrounds(page)
        assert TINY_PNG_BASE64.encode() not in enlarged
        assert b"data:image/png;base64," in enlarged


# -- crash versus bad document (section 5) ----------------------------------

# The load runs for at least LOAD_REQUESTS requests and on until MIN_KILLS
# kills have landed (a fast machine ends 160 requests before the third
# kill), never beyond MAX_LOAD_REQUESTS.
LOAD_REQUESTS = 160
MAX_LOAD_REQUESTS = 800
LOAD_CLIENTS = 4
MIN_KILLS = 3
MAX_KILLS = 8
CORPUS_CONVERSIONS = (("test.odt", "pdf"), ("test.doc", "odt"),
                      ("test.docx", "pdf"), ("test.ods", "xlsx"),
                      ("test.odp", "pdf"), ("test.pptx", "odp"),
                      ("test.odg", "pdf"))


def valid_documents(proxy):
    """(data, source, destination) of valid documents of every kind."""
    fodt = documents.fodt(text="valid under fire")
    docx = unb64(proxy.convertFile(b64(fodt), "fodt", "docx"))
    items = [(fodt, "fodt", "pdf"), (documents.odt_with_image(), "odt", "pdf"),
             (documents.fods(), "fods", "xlsx"), (documents.fodp(), "fodp",
                                                  "pdf"),
             (documents.fodg(), "fodg", "png"), (docx, "docx", "odt"),
             (b"<html><body><h1>Page</h1><p>text</p></body></html>", "html",
              "odt")]
    from tests.conftest import CORPUS
    if CORPUS.is_dir():
        for name, destination in CORPUS_CONVERSIONS:
            items.append(((CORPUS / name).read_bytes(),
                          name.rsplit(".", 1)[1], destination))
    return items


def test_kill_9_under_load_never_blames_a_valid_document(make_server):
    server = make_server(office_pool_size=2, queue_timeout=120,
                         timeout_response=60)
    items = valid_documents(server.proxy())
    done = threading.Event()
    killed = []
    in_flight = set()
    in_flight_lock = threading.Lock()

    def serving_office_pids():
        """soffice pids of the instances up and serving (none restarting),
        or [] while one is not."""
        _status, body = get_json(server.port, "/ready")
        instances = body.get("instances", [])
        if len(instances) != 2 or any(
                instance["status"] not in ("ready", "busy")
                or not instance["soffice_pid"] for instance in instances):
            return []
        return sorted(instance["soffice_pid"] for instance in instances)

    def killer():
        # Each request may crash once (it is retried); it is killed twice
        # only if the next kill comes before its retry ends.  So the next
        # kill waits until every request in flight at the last one has
        # ended, and both instances are serving again.
        survivors_of_last_kill = set()
        while not done.is_set() and len(killed) < MAX_KILLS:
            done.wait(3.0)
            with in_flight_lock:
                if survivors_of_last_kill & in_flight:
                    continue
            pids = serving_office_pids()
            if not pids:
                continue
            victim = pids[len(killed) % 2]
            with in_flight_lock:
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed.append(victim)
                survivors_of_last_kill = set(in_flight)

    def one(number):
        data, source, destination = items[number % len(items)]
        with in_flight_lock:
            in_flight.add(number)
        try:
            bounded_proxy(server, 300).convertFile(b64(data), source,
                                                   destination)
            return None
        except xmlrpc.client.Fault as fault:
            return (source, destination, fault.faultCode, fault.faultString)
        finally:
            with in_flight_lock:
                in_flight.discard(number)

    numbers = itertools.count()
    outcomes = []

    def client():
        while True:
            with in_flight_lock:
                number = next(numbers)
                if number >= MAX_LOAD_REQUESTS or (
                        number >= LOAD_REQUESTS and len(killed) >= MIN_KILLS):
                    return
            outcomes.append(one(number))

    with concurrent.futures.ThreadPoolExecutor(LOAD_CLIENTS + 1) as executor:
        killing = executor.submit(killer)
        clients = [executor.submit(client) for _ in range(LOAD_CLIENTS)]
        try:
            for finished in concurrent.futures.as_completed(clients,
                                                            timeout=1800):
                finished.result()
        finally:
            done.set()
        killing.result(timeout=30)
    faults = [outcome for outcome in outcomes if outcome]
    assert len(killed) >= MIN_KILLS, "too few kills landed during the load"
    assert [fault for fault in faults if fault[2] == 4] == [], faults
    assert faults == [], faults
    assert "crashed during" in full_log(server)
    assert_whole(server, 2)


# -- SIGHUP with requests in flight (section 6) -----------------------------

DRAIN_SECONDS = 10


def test_sighup_during_a_stalled_request(make_server):
    # Neither the stall watch nor timeout_response may answer first: the
    # drain must, by itself.
    server = make_server(daemon=True, office_pool_size=2, stall_seconds=120,
                         timeout_response=240)
    daemon_pid = server.pid
    children = server.children()
    proxy_stalled = bounded_proxy(server, DRAIN_SECONDS * 3)
    proxy_working = bounded_proxy(server, DRAIN_SECONDS * 3)

    def outcome(proxy, data):
        try:
            return unb64(proxy.convertFile(b64(data), "fodt", "pdf"))[:5]
        except xmlrpc.client.Fault as fault:
            return (fault.faultCode, fault.faultString)

    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        stalled = executor.submit(outcome, proxy_stalled, long_document())
        wait_for(lambda: any(psutil.Process(pid).cpu_percent(0.2) > 20
                             for pid in server.office_pids()), 30,
                 "a soffice busy converting")
        [victim] = [pid for pid in server.office_pids()
                    if psutil.Process(pid).cpu_percent(0.2) > 20] or \
            server.office_pids()[:1]
        os.kill(victim, signal.SIGSTOP)
        working = executor.submit(outcome, proxy_working,
                                  long_document(1500))
        wait_for(lambda: any(psutil.Process(pid).cpu_percent(0.2) > 20
                             for pid in server.office_pids()
                             if pid != victim), 30, "the other one busy")
        os.kill(daemon_pid, signal.SIGHUP)
        stalled_outcome = stalled.result(timeout=DRAIN_SECONDS * 3)
        working_outcome = working.result(timeout=DRAIN_SECONDS * 3)
    assert stalled_outcome == (2, "the server is stopping")
    assert working_outcome == PDF_MAGIC  # answered, not dropped
    wait_for(lambda: not psutil.pid_exists(daemon_pid), 15, "daemon exit")
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert not server.pid_path.exists()
    server.pid = None
    log = full_log(server)
    assert "internal error" not in log and "Traceback" not in log, log
    assert "interrupting" in log
    assert os.listdir(server.tmp_path) == []


# -- a 1 GB zip bomb (section 3, what test_security_linkcheck leaves out) ----

GIGABYTE = 1024 ** 3
BOMB_RSS_ALLOWANCE = 100 * 1024 * 1024


def bomb_package(small_files, bomb_name, head=b""):
    """A zip whose ``bomb_name`` inflates to 1 GB: ``head``, then spaces,
    deflated chunk by chunk as the member is written (zlib streaming: the
    gigabyte never exists anywhere)."""
    import io
    import zipfile
    buffer = io.BytesIO()
    chunk = b" " * (1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED,
                         compresslevel=1) as archive:
        for name, data in small_files.items():
            archive.writestr(name, data)
        with archive.open(bomb_name, "w", force_zip64=True) as member:
            member.write(head)
            for _index in range(GIGABYTE // len(chunk)):
                member.write(chunk)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bombs():
    from tests import odt_fixtures
    odt = bomb_package(
        {"mimetype": documents.ODT_MIMETYPE,
         "META-INF/manifest.xml": odt_fixtures.manifest_xml(["content.xml"])},
        "content.xml", b'<?xml version="1.0"?>\n<office:document-content '
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
        b'<office:body><office:text><text:p>')
    docx = bomb_package(
        {"[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http:'
         b'//schemas.openxmlformats.org/package/2006/content-types"/>'},
        "word/document.xml")
    return {"odt": odt, "docx": docx}


def test_gigabyte_bomb_gets_fault_2_at_once_with_bounded_memory(server,
                                                                bombs):
    from tests.big_documents import PeakRss
    offices = server.office_pids()
    # The bound only keeps a regression from hanging the suite: a bomb that
    # reached LibreOffice would take minutes.
    proxy = bounded_proxy(server, 60)
    odt, docx = b64(bombs["odt"]), b64(bombs["docx"])
    assert len(bombs["odt"]) < 16 * 1024 * 1024
    calls = (lambda: proxy.convertFile(odt, "odt", "pdf"),
             lambda: proxy.convertFile(docx, "docx", "pdf"),
             lambda: proxy.updateFileMetadata(odt, "odt", {"Title": "x"}),
             lambda: proxy.getTableItemList(odt, "odt"))
    for call in calls:
        # Each bomb against the RSS just before it: what it costs, not what
        # the allocator kept of the earlier ones.
        with PeakRss(server.pid) as watch:
            fault = fault_of(call)
        assert fault.faultCode == 2, fault.faultString
        assert "document expands beyond" in fault.faultString
        assert watch.peak - watch.idle < BOMB_RSS_ALLOWANCE, \
            "server RSS grew by %d MB" % ((watch.peak - watch.idle) >> 20)
    status, _response, message = proxy.run_convert("bomb.odt", odt)
    assert status == 402 and "document expands beyond" in message
    # LibreOffice never saw a byte of it: no instance was replaced.
    assert server.office_pids() == offices
    assert os.listdir(server.tmp_path) == []


def test_sighup_during_a_long_ffmpeg_conversion(make_server, tmp_path):
    import subprocess
    video = tmp_path / "long.mpg"
    # Six minutes of 640x480: seconds to make as MPEG-1, far longer than
    # the drain as WebM (two minutes were once converted within it, on a
    # quiet machine).
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=360:size=640x480:rate=25",
                    "-c:v", "mpeg1video", "-q:v", "8", str(video)],
                   check=True, timeout=120)
    server = make_server(daemon=True, office_pool_size=1)
    daemon_pid = server.pid
    proxy = bounded_proxy(server, DRAIN_SECONDS * 3)

    def ffmpeg_pids():
        pids = []
        for child in server.children():
            try:
                if child.name() == "ffmpeg":
                    pids.append(child.pid)
            except psutil.NoSuchProcess:
                pass
        return pids

    def outcome():
        try:
            return proxy.convertFile(b64(video.read_bytes()), "mpg", "webm")
        except xmlrpc.client.Fault as fault:
            return (fault.faultCode, fault.faultString)

    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        future = executor.submit(outcome)
        wait_for(ffmpeg_pids, 30, "ffmpeg running")
        children = server.children()
        os.kill(daemon_pid, signal.SIGHUP)
        result = future.result(timeout=DRAIN_SECONDS * 3)
    assert result == (2, "the server is stopping")
    wait_for(lambda: not psutil.pid_exists(daemon_pid), 15, "daemon exit")
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    server.pid = None
    log = full_log(server)
    assert "Traceback" not in log, log[-3000:]
    assert "interrupting ffmpeg" in log
    assert os.listdir(server.tmp_path) == []
