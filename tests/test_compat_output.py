"""What ERP5 reads in our outputs (COMPAT.md §3, §4, §5): HTML as a base
format, HTML output naming, Impress pages per slide, legacy 402 messages."""

import io
import struct
import zipfile

import pytest

from tests import documents
from tests.server import b64, unb64

HTML_MIMETYPE = "text/html"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LIBREOFFICE_HTML = b'<meta name="generator" content="LibreOffice'
TRACEBACK_HEAD = "Traceback (most recent call last):\n"
PAGE = (b"<html><head><title>Page Title</title></head>"
        b"<body><h1>Heading</h1><p>from the page</p></body></html>")
XHTML_PAGE = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
              b'<html xmlns="http://www.w3.org/1999/xhtml"><head>'
              b'<title>Page Title</title></head>'
              b'<body><p>from the page</p></body></html>')


def convert(proxy, data, source, destination, zip=False):
    return unb64(proxy.convertFile(b64(data), source, destination, zip))


def zip_members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info)
                for info in archive.infolist()}


def words(data):
    """Text with LibreOffice's line wrapping undone."""
    return b" ".join(data.split())


def png_width(data):
    """Width from a PNG's IHDR chunk, which always comes first."""
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    return struct.unpack(">I", data[16:20])[0]


def first_html_member(names):
    return next(name for name in names if name.endswith("html"))


@pytest.fixture(scope="module")
def odt(server):
    return convert(server.proxy(), documents.fodt(text="Hello output"),
                   "fodt", "odt")


@pytest.fixture(scope="module")
def deck(server):
    """A two-slide Impress presentation, saved by LibreOffice as odp."""
    slides = "".join(
        '<draw:page draw:name="page%d"><draw:frame svg:x="2cm" svg:y="2cm" '
        'svg:width="20cm" svg:height="3cm"><draw:text-box><text:p>Slide %d'
        '</text:p></draw:text-box></draw:frame></draw:page>' % (number,
                                                                number)
        for number in (1, 2))
    fodp = documents.flat_document(
        "application/vnd.oasis.opendocument.presentation",
        "<office:presentation>%s</office:presentation>" % slides)
    return convert(server.proxy(), fodp, "fodp", "odp")


# No request leaves a file in the server's tmp/ (conftest.py).
pytestmark = pytest.mark.usefixtures("no_request_files_left")


# -- §3 HTML as a base format -----------------------------------------------

@pytest.mark.parametrize("source, page", [
    ("html", PAGE), ("htm", PAGE), ("xhtml", XHTML_PAGE),
    ("zip", documents.zip_of({"index.html": PAGE,
                              "red.png": documents.png()})),
])
def test_html_pages_have_html_as_base_document(proxy, source, page):
    metadata = proxy.getFileMetadataItemList(b64(page), source, True)
    assert metadata["MIMEType"] == HTML_MIMETYPE
    base = unb64(metadata["Data"])
    # Written by LibreOffice's HTML filter, not our input sent back.
    assert LIBREOFFICE_HTML in base
    assert b"from the page" in words(base)


def test_run_convert_of_an_html_page(proxy):
    status, response, message = proxy.run_convert("page.html", b64(PAGE))
    assert (status, message) == (200, "")
    assert set(response) == {"data", "meta", "mime"}
    assert response["mime"] == HTML_MIMETYPE
    assert response["meta"]["mime"] == HTML_MIMETYPE
    assert response["meta"]["MIMEType"] == HTML_MIMETYPE
    assert response["meta"]["Title"] == "Page Title"
    base = unb64(response["data"])
    assert LIBREOFFICE_HTML in base and b"from the page" in words(base)


def test_other_sources_keep_their_odf_base(proxy, odt):
    docx = convert(proxy, odt, "odt", "docx")
    status, response, message = proxy.run_convert("letter.docx", b64(docx))
    assert (status, message) == (200, "")
    assert set(response) == {"data", "meta", "mime"}
    assert response["mime"] == documents.ODT_MIMETYPE
    assert documents.zip_mimetype(unb64(response["data"])) == \
        documents.ODT_MIMETYPE


def test_run_generate_answers_data_and_mime(proxy, odt):
    status, response, message = proxy.run_generate(
        "letter.odt", b64(odt), None, "pdf", documents.ODT_MIMETYPE)
    assert (status, message) == (200, "")
    assert set(response) == {"data", "mime"}
    assert response["mime"] == "application/pdf"


# -- §4 HTML output names and Impress pages ----------------------------------

def test_impress_html_has_one_page_and_image_per_slide(proxy, deck):
    members = zip_members(convert(proxy, deck, "odp", "html", zip=True))
    names = list(members)
    assert names[0].endswith(".impr.html"), names
    assert all("/" not in name for name in names), names
    for slide in (0, 1):
        image = "img%d.png" % slide
        assert image in members, names
        assert png_width(members[image]) == 640
        assert "text%d.html" % slide in members, names
    # Slide 2 has its own page; slide 1's is the main page itself.
    assert "img1.html" in members, names
    assert b"img0.png" in members[names[0]]


def test_run_generate_presentation_to_html_is_a_zip(proxy, deck):
    status, response, message = proxy.run_generate(
        "deck.odp", b64(deck), None, "html",
        "application/vnd.oasis.opendocument.presentation")
    assert (status, message) == (200, "")
    assert response["mime"] == "application/zip"
    names = list(zip_members(unb64(response["data"])))
    assert first_html_member(names).endswith(".impr.html")
    assert "impr" in first_html_member(names)
    assert {"img0.png", "img1.png"} <= set(names)


@pytest.mark.parametrize("destination", ["html", "htm", "xhtml"])
def test_text_to_html_zip_naming(proxy, destination):
    odt = documents.odt_with_image(text="Text with a picture")
    members = zip_members(convert(proxy, odt, "odt", destination, zip=True))
    names = list(members)
    assert names[0].endswith(".impr.html"), names
    assert first_html_member(names) == names[0]
    assert all("/" not in name for name in names), names
    assert b"Text with a picture" in words(members[names[0]])
    if destination != "xhtml":  # the XHTML filter embeds the picture
        assert any(name.endswith(".png") for name in names[1:]), names


def test_spreadsheet_to_html_zip_naming(proxy):
    ods = convert(proxy, documents.fods(), "fods", "ods")
    names = list(zip_members(convert(proxy, ods, "ods", "html", zip=True)))
    assert names[0].endswith(".impr.html"), names


def test_html_output_without_zip_is_the_main_page(proxy, odt):
    page = convert(proxy, odt, "odt", "html")
    assert page.lstrip().lower().startswith(b"<!doctype html")
    assert b"Hello output" in words(page)
    assert not page.startswith(b"PK")


# -- §5 legacy 402 messages --------------------------------------------------

def assert_legacy_failure(triple, method, error_class, server, text=""):
    status, response, message = triple
    assert status == 402
    assert response == {}
    assert message.startswith(TRACEBACK_HEAD), message
    lines = message.splitlines()
    assert lines[1] == "  cloudooo.%s" % method
    assert lines[-1].startswith(error_class + ": "), message
    assert text in lines[-1]
    assert str(server.workdir) not in message
    assert "/tmp" not in message and ".py" not in message


@pytest.fixture(scope="module")
def broken_odt(odt):
    return odt[:len(odt) // 2]


@pytest.mark.parametrize("method, arguments", [
    ("run_convert", ("broken.odt",)),
    ("run_getmetadata", ("broken.odt",)),
    ("run_setmetadata", ("broken.odt", {"Title": "x"})),
    ("run_generate", ("broken.odt", None, "pdf", documents.ODT_MIMETYPE)),
])
def test_legacy_402_for_a_broken_document(proxy, server, broken_odt, method,
                                          arguments):
    filename, *rest = arguments
    triple = getattr(proxy, method)(filename, b64(broken_odt), *rest)
    assert_legacy_failure(triple, method, "ConversionError", server,
                          "LibreOffice cannot open this document")


@pytest.mark.parametrize("filename", [None, 42, "no-extension"])
def test_legacy_402_for_a_bad_filename(proxy, server, odt, filename):
    for method in ("run_convert", "run_getmetadata", "run_setmetadata",
                   "run_generate"):
        triple = getattr(proxy, method)(filename, b64(odt))
        assert_legacy_failure(triple, method, "InvalidRequest", server,
                              "filename")


@pytest.mark.parametrize("content_type", [None, 42, "", "odt"])
def test_legacy_402_for_a_bad_content_type(proxy, server, content_type):
    assert_legacy_failure(proxy.getAllowedTargetItemList(content_type),
                          "getAllowedTargetItemList", "InvalidRequest",
                          server, "content_type")


def test_legacy_success_keeps_an_empty_message(proxy):
    status, response, message = proxy.getAllowedTargetItemList(
        documents.ODT_MIMETYPE)
    assert (status, message) == (200, "")
    assert "pdf" in {item[0] for item in response["response_data"]}


# -- §1.5 which program opens an HTML page ------------------------------------

TABLE_PAGE = (b"<html><body><table><tr><td>name</td><td>value</td></tr>"
              b"<tr><td>alpha</td><td>1</td></tr></table></body></html>")


@pytest.mark.parametrize("destination, check", [
    # Writer when it can write the destination...
    ("odt", lambda data: documents.zip_mimetype(data) ==
     documents.ODT_MIMETYPE),
    # ...Writer/Web when only it can...
    ("sxw", lambda data: documents.zip_mimetype(data) ==
     "application/vnd.sun.xml.writer"),
    # ...otherwise Calc.
    ("ods", lambda data: documents.zip_mimetype(data) ==
     "application/vnd.oasis.opendocument.spreadsheet"),
    ("xls", lambda data: data.startswith(b"\xd0\xcf\x11\xe0")),
    ("xlsx", lambda data: "xl/workbook.xml" in documents.zip_names(data)),
])
def test_html_opens_in_the_program_that_writes_the_destination(
        proxy, destination, check):
    assert check(convert(proxy, TABLE_PAGE, "html", destination))
