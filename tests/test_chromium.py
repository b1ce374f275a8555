"""HTML -> PDF with page layout through headless Chromium (issue 14 §1),
end to end: a real server on loopback, real Chromium, real LibreOffice for
the pages that still go there, poppler and pypdf to read the PDFs."""

import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import xmlrpc.client
import zipfile
from pathlib import Path

import psutil
import pytest
from pypdf import PdfReader

from tests import chromium_fixtures as pages
from tests.server import ServerProcess, b64, unb64

MM = 72 / 25.4
A4_LANDSCAPE = (297 * MM, 210 * MM)
# Bounded waits of the fault tests (never asserted on as timings).
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def chromium_server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("chromium"),
                            office_pool_size=1).start()
    yield process
    assert process.stop(signal.SIGHUP) == []


@pytest.fixture
def proxy(chromium_server):
    return chromium_server.proxy()


def to_pdf(proxy, html, conversion_kw, source="html"):
    pdf = unb64(proxy.convertFile(b64(html), source, "pdf", False, False,
                                  conversion_kw))
    assert pdf.startswith(b"%PDF-")
    return pdf


def pdf_pages_text(pdf):
    """The text of each page, by pdftotext."""
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf,
                          capture_output=True, check=True).stdout.decode()
    return text.split("\f")[:-1]


def first_word_box(pdf, word):
    """(xMin, yMin) in points of ``word``'s first occurrence."""
    html = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf,
                          capture_output=True, check=True).stdout.decode()
    match = re.search(r'<word xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>%s</word>'
                      % re.escape(word), html)
    assert match, "%r not in the PDF" % word
    return float(match.group(1)), float(match.group(2))


def browser_processes(server):
    """The browser (not its helpers) among the server's children."""
    found = []
    for child in server.children():
        try:
            cmdline = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if cmdline and "chromium" in os.path.basename(cmdline[0]) and \
                not any(arg.startswith("--type=") for arg in cmdline) and \
                child.status() != psutil.STATUS_ZOMBIE:
            found.append(child)
    return found


def chromium_family(server):
    """Every chromium process (and Playwright's driver) under the server."""
    names = []
    for child in server.children():
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "chromium" in cmdline or "playwright" in cmdline:
            names.append(child)
    return names


def renderer_started(browser, since):
    """Whether ``browser`` has a renderer started after ``since`` (epoch
    seconds): the page of a request is loading."""
    for child in browser.children(recursive=True):
        try:
            if "--type=renderer" in child.cmdline() and \
                    child.create_time() >= since - 1:
                return True
        except psutil.NoSuchProcess:
            pass
    return False


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "never happened: " + what
        time.sleep(0.05)


# -- page layout --------------------------------------------------------------

def test_a4_landscape_margins_header_and_footer(proxy):
    pdf = to_pdf(proxy, pages.layout_page(), {
        "page_size": "A4", "orientation": "Landscape",
        "margin_top": "20mm", "margin_bottom": "20mm",
        "margin_left": "2cm", "margin_right": "20mm",
        "header_html_data": b64(pages.header_html()),
        "footer_html_data": b64(pages.footer_html())})
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    for page in reader.pages:
        width, height = float(page.mediabox.width), \
            float(page.mediabox.height)
        assert abs(width - A4_LANDSCAPE[0]) < 2 and \
            abs(height - A4_LANDSCAPE[1]) < 2, (width, height)
    texts = pdf_pages_text(pdf)
    assert pages.HEADER_TEXT in texts[0] and pages.HEADER_TEXT in texts[1]
    assert re.search(r"\b1/2\b", texts[0]) and re.search(r"\b2/2\b",
                                                         texts[1])
    # The body starts at the 20 mm margins (the page's body has none).
    x, y = first_word_box(pdf, "Quarterly")
    assert abs(x - 20 * MM) < 3, x
    assert 20 * MM - 1 < y < 20 * MM + 20, y


def test_header_and_footer_texts_with_page_placeholders(proxy):
    pdf = to_pdf(proxy, pages.layout_page(), {
        "margin_top": "25mm", "header_left": "Left side",
        "header_right": "Page [page] of [topage]",
        "footer_center": "[title]", "title": "Report title"})
    texts = pdf_pages_text(pdf)
    assert "Left side" in texts[0] and "Page 1 of 2" in texts[0]
    assert "Page 2 of 2" in texts[1] and "Report title" in texts[1]
    assert PdfReader(io.BytesIO(pdf)).metadata.title == "Report title"


def test_toc_lists_the_headings_on_the_first_page(proxy):
    pdf = to_pdf(proxy, pages.layout_page(), {"toc": True})
    texts = pdf_pages_text(pdf)
    assert len(texts) == 3
    assert "Table of Contents" in texts[0]
    # Each heading with its page: the table is page 1, the body 2 and 3.
    for heading, page_number in zip(pages.HEADINGS, (2, 3, 3)):
        assert re.search(r"%s[ .]*%d\s*$" % (heading, page_number),
                         texts[0], re.MULTILINE), texts[0]
    assert "Firstword" not in texts[0] and "Firstword" in texts[1]


def test_outline_gives_pdf_bookmarks_from_the_headings(proxy):
    pdf = to_pdf(proxy, pages.layout_page(), {"outline": True})
    reader = PdfReader(io.BytesIO(pdf))

    def titles(outline):
        for item in outline:
            if isinstance(item, list):
                yield from titles(item)
            else:
                yield item.title
    assert set(pages.HEADINGS) <= set(titles(reader.outline))
    # With a table of contents too: its title is no bookmark.
    both = PdfReader(io.BytesIO(to_pdf(proxy, pages.layout_page(),
                                       {"outline": True, "toc": True})))
    assert list(titles(both.outline)) == list(pages.HEADINGS)
    without = PdfReader(io.BytesIO(to_pdf(proxy, pages.layout_page(),
                                          {"page_size": "A4"})))
    assert without.outline == []


def test_page_size_and_explicit_dimensions(proxy):
    letter = PdfReader(io.BytesIO(to_pdf(proxy, pages.scripted_page(),
                                         {"page_size": "Letter"})))
    box = letter.pages[0].mediabox
    assert abs(float(box.width) - 612) < 2 and \
        abs(float(box.height) - 792) < 2
    custom = PdfReader(io.BytesIO(to_pdf(proxy, pages.scripted_page(), {
        "page_width": "10cm", "page_height": 150})))
    box = custom.pages[0].mediabox
    assert abs(float(box.width) - 100 * MM) < 2 and \
        abs(float(box.height) - 150 * MM) < 2


def test_encoding_reads_the_page_in_that_charset(proxy):
    page = "<html><body><p>Caf\u00e9 cr\u00e8me</p></body></html>".encode(
        "latin-1")
    text = "".join(pdf_pages_text(to_pdf(proxy, page,
                                         {"encoding": "latin-1"})))
    assert "Caf\u00e9 cr\u00e8me" in text


def test_zip_holding_a_page_with_its_stylesheet_and_picture(proxy):
    pdf = to_pdf(proxy, pages.zipped_page(), {"page_size": "A5"},
                 source="zip")
    assert "Zipped page styledbyzip" in "".join(pdf_pages_text(pdf))
    images = subprocess.run(["pdfimages", "-list", "-"], input=pdf,
                            capture_output=True, check=True).stdout
    assert len(images.decode().strip().splitlines()) >= 3  # header + 1


def test_zip_output_holds_the_pdf(proxy):
    packed = unb64(proxy.convertFile(b64(pages.scripted_page()), "html",
                                     "pdf", True, True, {"page_size": "A4"}))
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        assert archive.namelist() == ["document.pdf"]
        assert archive.read("document.pdf").startswith(b"%PDF-")


# -- routing ----------------------------------------------------------------

def test_html_to_pdf_without_conversion_kw_goes_to_libreoffice(proxy):
    plain = PdfReader(io.BytesIO(to_pdf(proxy, pages.scripted_page(), {})))
    assert "LibreOffice" in plain.metadata.producer
    laid_out = PdfReader(io.BytesIO(to_pdf(proxy, pages.scripted_page(),
                                           {"page_size": "A4"})))
    assert "Skia" in laid_out.metadata.producer
    # A page without <title> gets none, not the browser's made-up URL.
    assert not laid_out.metadata.title


# -- refused requests ---------------------------------------------------------

@pytest.mark.parametrize("conversion_kw, message", [
    ({"no_such_key": 1}, "unsupported key(s) no_such_key"),
    ({"page_size": "A99"}, "unknown page_size"),
    ({"margin_top": "3 parsecs"}, "margin_top must be a length"),
    ({"orientation": "sideways"}, "orientation"),
    ({"zoom": 7}, "zoom must be a number"),
    ({"header_html_data": "not base64!"}, "header_html_data"),
])
def test_bad_conversion_kw_is_fault_2_listing_the_keys(proxy, conversion_kw,
                                                        message):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        to_pdf(proxy, pages.scripted_page(), conversion_kw)
    assert caught.value.faultCode == 2
    assert message in caught.value.faultString
    if "unsupported" in message:
        assert "page_size" in caught.value.faultString and \
            "footer_html_data" in caught.value.faultString


# -- security -----------------------------------------------------------------

def test_scripts_are_off_unless_asked(proxy):
    text = "".join(pdf_pages_text(to_pdf(proxy, pages.scripted_page(),
                                         {"page_size": "A4"})))
    assert "Static words" in text and "Scripted" not in text
    text = "".join(pdf_pages_text(to_pdf(proxy, pages.scripted_page(),
                                         {"enable_javascript": True})))
    assert "Scripted words" in text and "Static" not in text


def test_links_out_of_the_page_are_refused_before_loading(proxy,
                                                          spy_http_server):
    spy_url, hits = spy_http_server
    with pytest.raises(xmlrpc.client.Fault) as caught:
        to_pdf(proxy, pages.linking_page(spy_url), {"page_size": "A4"})
    assert caught.value.faultCode == 5
    assert caught.value.faultString.startswith(
        "This document contains unsafe links")
    header = b64(b'<html><body><img src="%s?header"></body></html>'
                 % spy_url.encode())
    with pytest.raises(xmlrpc.client.Fault) as caught:
        to_pdf(proxy, pages.scripted_page(), {"header_html_data": header})
    assert caught.value.faultCode == 5
    assert hits == []


def test_a_script_reaches_no_network_and_no_local_file(
        proxy, spy_http_server, tmp_path):
    spy_url, hits = spy_http_server
    canary = tmp_path / "canary.txt"
    secret = "canary-%s" % uuid.uuid4().hex
    canary.write_text(secret)
    pdf = to_pdf(proxy, pages.escaping_script_page(spy_url, canary), {
        "enable_javascript": True, "javascript_delay": 500})
    text = "".join(pdf_pages_text(pdf))
    # The script ran, and each attempt failed.
    assert "fetchblocked" in text and "fileblocked" in text and \
        "xhrblocked" in text and "socketblocked" in text
    assert "GOT" not in text
    # A ../ climb out of the page's folder got an empty answer.
    assert "escaped" in text
    assert hits == []
    assert secret not in text and secret.encode() not in pdf


# -- supervision --------------------------------------------------------------

def test_browser_killed_mid_request_is_restarted_and_the_request_answered(
        chromium_server, proxy):
    to_pdf(proxy, pages.scripted_page(), {"page_size": "A4"})
    [browser] = browser_processes(chromium_server)
    started = time.time()
    result = {}

    def slow_request():
        try:
            result["pdf"] = to_pdf(chromium_server.proxy(),
                                   pages.scripted_page(),
                                   {"enable_javascript": True,
                                    "javascript_delay": 3000})
        except Exception as error:
            result["error"] = error

    thread = threading.Thread(target=slow_request)
    thread.start()
    wait_for(lambda: renderer_started(browser, started),
             "a renderer for the slow request")
    os.kill(browser.pid, signal.SIGKILL)
    thread.join(WAIT_SECONDS)
    assert not thread.is_alive()
    assert "pdf" in result, "%s\n%s" % (result.get("error"),
                                        chromium_server.log())
    assert "Scripted words" in "".join(pdf_pages_text(result["pdf"]))
    [restarted] = browser_processes(chromium_server)
    assert restarted.pid != browser.pid
    assert "restarting" in chromium_server.log()
    # And the next request is served by the new browser.
    to_pdf(proxy, pages.scripted_page(), {"page_size": "A4"})
    assert [process.pid for process in browser_processes(
        chromium_server)] == [restarted.pid]


def test_chromium_timeout_kills_the_browser_with_fault_8(make_server):
    # Long enough for a plain conversion on a loaded 2-core machine (the
    # browser's start is not counted).
    server = make_server(chromium_timeout=30)
    proxy = server.proxy()
    with pytest.raises(xmlrpc.client.Fault) as caught:
        to_pdf(proxy, pages.endless_script_page(),
               {"enable_javascript": True})
    assert caught.value.faultCode == 8
    assert "chromium_timeout" in caught.value.faultString
    killed = int(re.search(r"killing the browser \(pid (\d+)\)",
                           server.log()).group(1))
    assert killed not in [process.pid for process in server.children()]
    # A fresh browser answers the next request.
    to_pdf(proxy, pages.scripted_page(), {"page_size": "A4"})
    [browser] = browser_processes(server)
    assert browser.pid != killed
    assert list(server.tmp_path.iterdir()) == []


def test_the_browser_is_restarted_after_its_conversion_limit(make_server):
    server = make_server(chromium_limit_number_request=2)
    proxy = server.proxy()
    browsers = []
    for _ in range(3):
        to_pdf(proxy, pages.scripted_page(), {"page_size": "A4"})
        [browser] = browser_processes(server)
        browsers.append(browser.pid)
    # Two conversions on the first browser, the third on a new one; the
    # first is gone with its profile.
    assert browsers[0] == browsers[1] != browsers[2]
    assert re.search(r"recycling browser pid \d+ after 2 conversions",
                     server.log())
    assert browsers[0] not in [child.pid for child in server.children()]
    profiles = Path(server.settings["working_path"]) / "chromium"
    assert len(list(profiles.iterdir())) == 1
    assert list(server.tmp_path.iterdir()) == []


def test_sighup_stops_the_browser_and_its_driver(make_server):
    server = make_server()
    to_pdf(server.proxy(), pages.scripted_page(), {"page_size": "A4"})
    family = chromium_family(server)
    assert browser_processes(server) and family
    assert server.stop(signal.SIGHUP) == []
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert alive == []
    # The browser's profile went with it.
    profiles = Path(server.settings["working_path"]) / "chromium"
    assert list(profiles.iterdir()) == []


def test_sighup_during_a_conversion_answers_server_stopping(make_server):
    # chromium_timeout outlasts the drain: only the interrupt of the stop
    # can end this request.
    server = make_server(chromium_timeout=120)
    to_pdf(server.proxy(), pages.scripted_page(), {"page_size": "A4"})
    [browser] = browser_processes(server)
    family = chromium_family(server)
    started = time.time()
    result = {}

    def endless_request():
        try:
            result["pdf"] = to_pdf(server.proxy(),
                                   pages.endless_script_page(),
                                   {"enable_javascript": True})
        except Exception as error:
            result["error"] = error

    thread = threading.Thread(target=endless_request, daemon=True)
    thread.start()
    wait_for(lambda: renderer_started(browser, started),
             "a renderer for the endless page")
    assert server.stop(signal.SIGHUP) == []
    thread.join(WAIT_SECONDS)
    assert not thread.is_alive()
    error = result.get("error")
    assert isinstance(error, xmlrpc.client.Fault), result
    assert (error.faultCode, error.faultString) == (
        2, "the server is stopping")
    log = server.log()
    assert "chromium: interrupting browser pid" in log, log
    assert "Traceback" not in log, log
    _gone, alive = psutil.wait_procs(family, timeout=10)
    assert alive == []


def max_colour_spread(pdf):
    """The largest difference between two channels of a pixel of the first
    page (0 for a gray page), read from pdftoppm's PPM."""
    ppm = subprocess.run(["pdftoppm", "-r", "20", "-f", "1", "-l", "1", "-",
                          ], input=pdf, capture_output=True,
                         check=True).stdout
    # P6\n<width> <height>\n<max>\n<bytes>
    header_end = 0
    for _field in range(4):
        while ppm[header_end:header_end + 1].isspace():
            header_end += 1
        while not ppm[header_end:header_end + 1].isspace():
            header_end += 1
    pixels = ppm[header_end + 1:]
    return max(max(pixels[i:i + 3]) - min(pixels[i:i + 3])
               for i in range(0, len(pixels) - 2, 3))


def test_grayscale_keeps_the_text_and_drops_the_colours(proxy):
    page = b"""<html><body style="background: #2050e0">
    <h1 style="color: #ff2020">Colourful heading</h1></body></html>"""
    coloured = to_pdf(proxy, page, {"page_size": "A6"})
    gray = to_pdf(proxy, page, {"page_size": "A6", "grayscale": True})
    assert max_colour_spread(coloured) > 100
    assert max_colour_spread(gray) < 8
    assert "Colourful heading" in "".join(pdf_pages_text(gray))


def test_parallel_requests_each_get_their_own_page(chromium_server):
    """Requests in flight together: each PDF holds its own page's words
    only (each context answers from its own request's folder)."""
    words = ["parallelword%d" % index for index in range(4)]
    results = {}

    def convert(word):
        page = ('<html><head><link rel="stylesheet" href="style.css">'
                '</head><body><p>%s</p></body></html>' % word).encode()
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as package:
            package.writestr("index.html", page)
            package.writestr("style.css",
                             "p::after { content: ' css-%s'; }" % word)
        try:
            results[word] = "".join(pdf_pages_text(to_pdf(
                chromium_server.proxy(), archive.getvalue(),
                {"page_size": "A6"}, source="zip")))
        except Exception as error:
            results[word] = error

    threads = [threading.Thread(target=convert, args=(word,))
               for word in words]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    for word in words:
        text = results[word]
        assert isinstance(text, str), text
        assert "%s css-%s" % (word, word) in text
        assert all(other not in text for other in words if other != word)
    assert list(chromium_server.tmp_path.iterdir()) == []


def playwright_artifact_folders():
    """Playwright's per-launch folders in the temp dir (it removes its own
    on a clean stop; a killed server cannot)."""
    return set(Path(tempfile.gettempdir()).glob("playwright-artifacts-*"))


def test_the_browser_dies_with_a_killed_server(make_server):
    artifacts_before = playwright_artifact_folders()
    server = make_server()
    to_pdf(server.proxy(), pages.scripted_page(), {"page_size": "A4"})
    [browser] = browser_processes(server)
    family = server.children()
    os.kill(server.pid, signal.SIGKILL)  # no chance to stop anything
    server.process.wait(WAIT_SECONDS)
    server.pid = None
    try:
        gone, alive = psutil.wait_procs([browser], timeout=WAIT_SECONDS)
        assert alive == []
    finally:
        for process in family:  # whatever of the killed run is left
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        for folder in playwright_artifact_folders() - artifacts_before:
            shutil.rmtree(folder, ignore_errors=True)


def test_an_orphan_browser_on_our_profiles_is_stopped_at_start(make_server,
                                                               tmp_path):
    """A browser left on a profile under our working path (a server of an
    earlier run killed before it could stop it) goes at the next start."""
    working_path = tmp_path / "orphan" / "var"
    profile = working_path / "chromium" / "chromium-profile-old"
    profile.mkdir(parents=True)
    from cloudooo.handler.chromium.browser import chromium_argv
    # Its own temp dir, removed at the end: a browser started by hand puts
    # its singleton socket folder there, and this one is killed, not
    # stopped.  A short path: a Unix socket's must fit in 108 bytes.
    orphan_tmp = tempfile.mkdtemp(prefix="cloudooo-orphan-")
    orphan = subprocess.Popen(
        chromium_argv("/usr/bin/chromium", str(profile),
                      ["--remote-debugging-port=0", "about:blank"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, TMPDIR=orphan_tmp), start_new_session=True)
    try:
        wait_for(lambda: (profile / "DevToolsActivePort").exists(),
                 "the orphan browser started")
        server = make_server(working_path=str(working_path))
        assert orphan.wait(WAIT_SECONDS) is not None
        assert "terminating orphan browser pid %d" % orphan.pid in \
            server.log()
        assert not profile.exists()
        to_pdf(server.proxy(), pages.scripted_page(), {"page_size": "A4"})
    finally:
        if orphan.poll() is None:
            os.killpg(orphan.pid, signal.SIGKILL)
            orphan.wait()
        shutil.rmtree(orphan_tmp, ignore_errors=True)


def test_a_browser_that_cannot_start_is_fault_4_and_the_server_stays(
        make_server):
    server = make_server(chromium_binary="/bin/false")
    proxy = server.proxy()
    for _attempt in range(2):  # a new try each time, no hang
        with pytest.raises(xmlrpc.client.Fault) as caught:
            to_pdf(proxy, pages.scripted_page(), {"page_size": "A4"})
        assert caught.value.faultCode == 4
        assert "Chromium exited at start" in caught.value.faultString
    # LibreOffice's html -> pdf does not depend on it.
    assert "LibreOffice" in PdfReader(io.BytesIO(to_pdf(
        proxy, pages.scripted_page(), {}))).metadata.producer
    assert list(server.tmp_path.iterdir()) == []


def word_height(pdf, word):
    html = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf,
                          capture_output=True, check=True).stdout.decode()
    match = re.search(r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" '
                      r'yMax="([\d.]+)">%s</word>' % word, html)
    assert match, "%r not in the PDF" % word
    return float(match.group(2)) - float(match.group(1))


def test_zoom_scales_the_page(proxy):
    page = b"<html><body><p>Zoomword</p></body></html>"
    normal = word_height(to_pdf(proxy, page, {"page_size": "A5"}),
                         "Zoomword")
    doubled = word_height(to_pdf(proxy, page, {"page_size": "A5",
                                               "zoom": 2}), "Zoomword")
    assert 1.8 < doubled / normal < 2.2, (normal, doubled)
