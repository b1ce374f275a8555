"""End-to-end: every public method through xmlrpc.client, real LibreOffice."""

import os
import urllib.error
import urllib.request
import xmlrpc.client

import pytest

from tests import documents
from tests.server import b64, unb64

PDF_MAGIC = b"%PDF-"
OOXML_WORD = "word/document.xml"
OOXML_SHEET = "xl/workbook.xml"


def convert(proxy, data, source, destination, **options):
    return unb64(proxy.convertFile(b64(data), source, destination,
                                   options.get("zip", False),
                                   options.get("refresh", False),
                                   options.get("conversion_kw", {})))


@pytest.fixture(scope="module")
def odt(server):
    """A real ODT made by LibreOffice from a flat ODF."""
    data = documents.fodt(text="Hello cloudooo", title="Fixture Title",
                          subject="Fixture Subject", keywords=["alpha"],
                          user_defined={"Reference": "REF-1"})
    return convert(server.proxy(), data, "fodt", "odt")


@pytest.fixture(scope="module")
def docx(server, odt):
    return convert(server.proxy(), odt, "odt", "docx")


# No request leaves a file in the server's tmp/ (conftest.py).
pytestmark = pytest.mark.usefixtures("no_request_files_left")


def assert_fault(call, code=None, text=""):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call()
    fault = caught.value
    if code is not None:
        assert fault.faultCode == code, fault.faultString
    assert text in fault.faultString
    assert "Traceback" not in fault.faultString
    return fault


# -- conversions ----------------------------------------------------------

def test_odt_is_a_real_odt(odt):
    assert documents.zip_mimetype(odt) == documents.ODT_MIMETYPE


def test_odt_to_pdf_keeps_the_text(proxy, odt, tmp_path):
    pdf = convert(proxy, odt, "odt", "pdf")
    assert pdf.startswith(PDF_MAGIC)
    (tmp_path / "out.pdf").write_bytes(pdf)
    text = os.popen("pdftotext %s -" % (tmp_path / "out.pdf")).read()
    assert "Hello cloudooo" in text


def test_pdf_is_pdf_a(proxy, odt):
    pdf = convert(proxy, odt, "odt", "pdf")
    assert b"pdfaid:part" in pdf  # PDF/A identification in the XMP packet


@pytest.mark.parametrize("destination, check", [
    ("docx", lambda data: OOXML_WORD in documents.zip_names(data)),
    ("ms.docx", lambda data: OOXML_WORD in documents.zip_names(data)),
    ("doc", lambda data: data.startswith(b"\xd0\xcf\x11\xe0")),
    ("rtf", lambda data: data.startswith(b"{\\rtf")),
    ("txt", lambda data: b"Hello cloudooo" in data),
    ("html", lambda data: b"Hello cloudooo" in data and b"<html" in
     data.lower()),
    ("epub", lambda data: documents.zip_mimetype(data) ==
     "application/epub+zip"),
])
def test_odt_to(proxy, odt, destination, check):
    assert check(convert(proxy, odt, "odt", destination))


def test_mimetypes_work_as_formats(proxy, odt):
    pdf = convert(proxy, odt, documents.ODT_MIMETYPE, "application/pdf")
    assert pdf.startswith(PDF_MAGIC)


def test_docx_and_doc_round_trip(proxy, docx):
    assert convert(proxy, docx, "docx", "pdf").startswith(PDF_MAGIC)
    doc = convert(proxy, docx, "docx", "doc")
    back = convert(proxy, doc, "doc", "odt")
    assert documents.zip_mimetype(back) == documents.ODT_MIMETYPE


def test_spreadsheet(proxy):
    ods = convert(proxy, documents.fods(), "fods", "ods")
    assert documents.zip_mimetype(ods) == \
        "application/vnd.oasis.opendocument.spreadsheet"
    xlsx = convert(proxy, ods, "ods", "xlsx")
    assert OOXML_SHEET in documents.zip_names(xlsx)
    csv_text = convert(proxy, xlsx, "xlsx", "csv").decode()
    assert csv_text.splitlines()[1] == "alpha,1"


def test_presentation_and_drawing(proxy):
    odp = convert(proxy, documents.fodp("Slide one"), "fodp", "odp")
    pdf = convert(proxy, odp, "odp", "pdf")
    assert pdf.startswith(PDF_MAGIC)
    pptx = convert(proxy, odp, "odp", "pptx")
    assert "ppt/presentation.xml" in documents.zip_names(pptx)
    odg = convert(proxy, documents.fodg(), "fodg", "odg")
    assert convert(proxy, odg, "odg", "png").startswith(b"\x89PNG")


def test_svg_is_drawn_by_libreoffice(proxy):
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30">'
           b'<rect width="40" height="30" fill="red"/></svg>')
    assert convert(proxy, svg, "svg", "png").startswith(b"\x89PNG")


def test_html_and_text_sources(proxy):
    html = b"<html><body><h1>Title</h1><p>from html</p></body></html>"
    odt = convert(proxy, html, "html", "odt")
    assert documents.zip_mimetype(odt) == documents.ODT_MIMETYPE
    docx = convert(proxy, html, "html", "docx")
    assert OOXML_WORD in documents.zip_names(docx)
    pdf = convert(proxy, "plain text é".encode(), "txt", "pdf")
    assert pdf.startswith(PDF_MAGIC)


def test_zip_output_holds_html_and_its_images(proxy):
    data = convert(proxy, documents.odt_with_image(), "odt", "html", zip=True)
    names = documents.zip_names(data)
    assert any(name.endswith(".html") for name in names)
    assert any(name.lower().endswith((".png", ".jpg", ".gif"))
               for name in names), names


def test_zip_input_with_html_page(proxy):
    archive = documents.zip_of({
        "index.html": b'<html><body><p>zipped page</p>'
                      b'<img src="red.png"/></body></html>',
        "red.png": documents.png(),
        "other.html": b"<html><body>not this one</body></html>"})
    text = convert(proxy, archive, "zip", "txt")
    assert b"zipped page" in text


def test_refresh_still_converts(proxy, odt):
    assert convert(proxy, odt, "odt", "pdf", refresh=True).startswith(
        PDF_MAGIC)


# -- CSV --------------------------------------------------------------------

def csv_rows(proxy, data):
    ods = convert(proxy, data, "csv", "ods")
    return convert(proxy, ods, "ods", "csv").decode("utf-8").splitlines()


def test_csv_utf8_with_semicolons(proxy):
    assert csv_rows(proxy, "nom;prix\nJérôme;1€\n".encode()) == \
        ["nom,prix", "Jérôme,1€"]


def test_csv_latin9_falls_back(proxy):
    assert csv_rows(proxy, "Jérome;1€".encode("iso-8859-15")) == \
        ["Jérome,1€"]


def test_csv_delimiter_is_sniffed(proxy):
    assert csv_rows(proxy, b"a a,1\nb b,2;x\n") == ["a a,1", 'b b,2;x']


def test_empty_csv_is_an_empty_table(proxy):
    ods = convert(proxy, b"", "csv", "ods")
    assert documents.zip_mimetype(ods) == \
        "application/vnd.oasis.opendocument.spreadsheet"


# -- metadata ---------------------------------------------------------------

def test_get_metadata(proxy, odt):
    metadata = proxy.getFileMetadataItemList(b64(odt), "odt")
    assert metadata["Title"] == "Fixture Title"
    assert metadata["Subject"] == "Fixture Subject"
    assert metadata["Keywords"] == ["alpha"]
    assert metadata["Reference"] == "REF-1"
    assert metadata["MIMEType"] == documents.ODT_MIMETYPE
    assert metadata["Data"] == ""


def test_get_metadata_with_base_document(proxy, docx):
    metadata = proxy.getFileMetadataItemList(b64(docx), "docx", True)
    assert metadata["Title"] == "Fixture Title"
    assert documents.zip_mimetype(unb64(metadata["Data"])) == \
        documents.ODT_MIMETYPE
    assert metadata["MIMEType"].endswith("wordprocessingml.document")


def test_update_metadata_round_trip(proxy, odt):
    updated = unb64(proxy.updateFileMetadata(b64(odt), "odt", {
        "title": "New Title", "keywords": "one two",
        "Project": "cloudooo"}))
    metadata = proxy.getFileMetadataItemList(b64(updated), "odt")
    assert metadata["Title"] == "New Title"
    assert metadata["Keywords"] == ["one", "two"]
    assert metadata["Project"] == "cloudooo"
    assert metadata["Subject"] == "Fixture Subject"  # kept
    assert metadata["Reference"] == "REF-1"  # kept


def test_update_metadata_keeps_docx_format(proxy, docx):
    updated = unb64(proxy.updateFileMetadata(b64(docx), "docx", {
        "Title": "Docx Title", "Keywords": ["k1", "k2"]}))
    assert OOXML_WORD in documents.zip_names(updated)
    metadata = proxy.getFileMetadataItemList(b64(updated), "docx")
    assert metadata["Title"] == "Docx Title"
    assert metadata["Keywords"] == ["k1", "k2"]


# -- format lists ------------------------------------------------------------

def test_allowed_extensions_by_extension(proxy):
    items = proxy.getAllowedExtensionList({"extension": "odt"})
    extensions = {item[0] for item in items}
    assert {"pdf", "doc", "docx", "ms.docx", "rtf", "html", "txt"} <= \
        extensions
    assert "xlsx" not in extensions
    assert all(item[1] for item in items)  # every format has a title


def test_allowed_extensions_by_type_and_mimetype(proxy):
    spreadsheet = {item[0] for item in proxy.getAllowedExtensionList(
        {"document_type": "spreadsheet"})}
    assert {"xlsx", "ods", "csv", "pdf"} <= spreadsheet
    by_mimetype = {item[0] for item in proxy.getAllowedExtensionList(
        {"mimetype": "application/vnd.oasis.opendocument.presentation"})}
    assert {"pptx", "pdf", "odp"} <= by_mimetype


def test_allowed_extensions_nothing_fits(proxy):
    assert proxy.getAllowedExtensionList({"extension": "nope"}) == [["", ""]]
    assert proxy.getAllowedExtensionList({}) == [["", ""]]


def test_allowed_conversion_formats(proxy):
    items = proxy.getAllowedConversionFormatList(documents.ODT_MIMETYPE)
    mimetypes = {item[0] for item in items}
    assert "application/pdf" in mimetypes
    assert "application/msword" in mimetypes
    assert "image/png" in mimetypes
    assert proxy.getAllowedConversionFormatList("application/x-nothing") \
        == []


# -- legacy API -------------------------------------------------------------

def test_run_convert(proxy, docx):
    status, response, message = proxy.run_convert("file.docx", b64(docx))
    assert (status, message) == (200, "")
    assert documents.zip_mimetype(unb64(response["data"])) == \
        documents.ODT_MIMETYPE
    assert response["mime"] == documents.ODT_MIMETYPE
    assert response["meta"]["Title"] == "Fixture Title"


def test_run_generate_zips_html(proxy, odt):
    status, response, message = proxy.run_generate(
        "file.odt", b64(odt), None, "html", documents.ODT_MIMETYPE)
    assert status == 200, message
    assert response["mime"] == "application/zip"
    assert any(name.endswith(".html")
               for name in documents.zip_names(unb64(response["data"])))
    status, response, message = proxy.run_generate(
        "file.odt", b64(odt), None, "pdf", documents.ODT_MIMETYPE)
    assert (status, response["mime"]) == (200, "application/pdf")
    assert unb64(response["data"]).startswith(PDF_MAGIC)


def test_run_setmetadata_and_getmetadata(proxy, odt):
    status, response, message = proxy.run_setmetadata(
        "file.odt", b64(odt), {"Title": "Legacy"})
    assert status == 200, message
    status, response, message = proxy.run_getmetadata(
        "file.odt", response["data"])
    assert status == 200, message
    assert response["meta"]["title"] == "Legacy"
    assert response["meta"]["Title"] == "Legacy"


def test_get_allowed_target_item_list(proxy):
    status, response, message = proxy.getAllowedTargetItemList(
        documents.ODT_MIMETYPE)
    assert status == 200
    assert "pdf" in {item[0] for item in response["response_data"]}


def test_legacy_failures_are_402(proxy):
    status, response, message = proxy.run_convert("bad.doc", b64(b"x" * 10))
    assert status == 402 and response == {} and message
    status, response, message = proxy.run_generate(
        "f.odt", "%%%", None, "pdf", documents.ODT_MIMETYPE)
    assert status == 402 and "base64" in message
    status, _response, message = proxy.run_setmetadata("f.xyz", b64(b"x"),
                                                       {})
    assert status == 402 and "xyz" in message


# -- bad input --------------------------------------------------------------

def test_bad_input_gets_clear_faults(proxy, odt):
    assert_fault(lambda: proxy.convertFile("", "odt", "pdf"), 2, "empty")
    assert_fault(lambda: proxy.convertFile("!!not base64!!", "odt", "pdf"),
                 2, "base64")
    assert_fault(lambda: proxy.convertFile(
        xmlrpc.client.Binary(odt), "odt", "pdf"), 2, "base64")
    assert_fault(lambda: proxy.convertFile(b64(odt), "xyz", "pdf"), 3,
                 "xyz")
    assert_fault(lambda: proxy.convertFile(b64(odt), "odt", "nope"), 3,
                 "nope")
    assert_fault(lambda: proxy.convertFile(b64(odt), "odt", "mp3"), 3)
    assert_fault(lambda: proxy.convertFile(b64(odt), "odt", "xlsx"), 3)
    truncated = odt[:len(odt) // 3]
    assert_fault(lambda: proxy.convertFile(b64(truncated), "odt", "pdf"), 4)
    assert_fault(lambda: proxy.getFileMetadataItemList(b64(b"\x00" * 50),
                                                       "docx"), 4)
    assert_fault(lambda: proxy.convertFile(b64(odt)), 2)
    assert_fault(lambda: proxy.noSuchMethod(), 1, "noSuchMethod")
    # ...and the server still converts.
    assert convert(proxy, odt, "odt", "pdf").startswith(PDF_MAGIC)


def test_garbage_under_a_binary_name_is_refused(proxy, odt):
    fault = assert_fault(lambda: proxy.convertFile(
        b64(b"just some text, not a Word file"), "doc", "pdf"), 4)
    assert "not a valid doc document" in fault.faultString
    assert_fault(lambda: proxy.convertFile(b64(b"x" * 64), "xlsx", "pdf"), 4)
    # Word's own habit: RTF saved as .doc is a valid input.
    rtf = convert(proxy, odt, "odt", "rtf")
    assert convert(proxy, rtf, "doc", "pdf").startswith(PDF_MAGIC)


def test_scripts_refused_unless_enabled(proxy, odt):
    assert_fault(lambda: convert(proxy, odt, "odt", "pdf", conversion_kw={
        "script": "document.getText().setString('x')"}), 5, "scripting")


# -- unsafe links -------------------------------------------------------------

def unsafe_documents(url):
    frame = documents.image_frame(url)
    yield "odt", documents.odt_package("<text:p>x</text:p>" + frame)
    yield "fodt", documents.fodt(extra_body=frame)
    yield "html", ('<html><body><img src="%s"/></body></html>'
                   % url).encode()
    yield "docx", documents.docx_with_external_image(url)
    yield "svg", ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink='
                  '"http://www.w3.org/1999/xlink" width="10" height="10">'
                  '<image xlink:href="%s" width="10" height="10"/></svg>'
                  % url).encode()
    yield "odt", documents.odt_package(
        "<text:p>x</text:p>" + documents.image_frame("/etc/passwd"))
    yield "odt", documents.odt_package(
        "<text:p>x</text:p>" + documents.image_frame("../../../etc/x.png"))


def test_unsafe_links_are_refused_before_fetching(proxy, spy_http_server):
    url, hits = spy_http_server
    # The spy works: a plain GET reaches it.
    with urllib.request.urlopen(url.replace("spy.png", "probe")):
        pass
    assert hits == ["/probe"]
    del hits[:]
    for source, data in unsafe_documents(url):
        fault = assert_fault(lambda: proxy.convertFile(b64(data), source,
                                                       "pdf"), 5)
        assert fault.faultString.startswith(
            "This document contains unsafe links"), (source, fault)
    assert hits == [], "LibreOffice fetched %s" % hits


def test_embedded_and_data_images_are_fine(proxy):
    data_uri = "data:image/png;base64," + b64(documents.png()).replace(
        "\n", "")
    html = ('<html><body><p>inline</p><img src="%s"/></body></html>'
            % data_uri).encode()
    assert convert(proxy, html, "html", "pdf").startswith(PDF_MAGIC)
    assert convert(proxy, documents.odt_with_image(), "odt", "pdf") \
        .startswith(PDF_MAGIC)


# -- the HTTP layer ----------------------------------------------------------

def test_introspection(proxy):
    methods = proxy.system.listMethods()
    for name in ("convertFile", "getFileMetadataItemList",
                 "updateFileMetadata", "getAllowedExtensionList",
                 "getAllowedConversionFormatList", "run_convert",
                 "run_generate", "getTableItemList"):
        assert name in methods
    assert "base64" in proxy.system.methodHelp("convertFile")
    assert proxy.system.methodSignature("convertFile") == [[
        "file", "source_format", "destination_format", "zip", "refresh",
        "conversion_kw"]]


def test_malformed_request_body(server):
    request = urllib.request.Request(
        "http://127.0.0.1:%d/RPC2" % server.port, data=b"<methodCall><oops",
        headers={"Content-Type": "text/xml"})
    with urllib.request.urlopen(request) as response:
        body = response.read().decode()
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(body)
    assert caught.value.faultCode == 2
    assert "malformed XML-RPC request" in caught.value.faultString
    assert "<class" not in caught.value.faultString


def test_http_methods_and_cors(server):
    root = "http://127.0.0.1:%d/" % server.port
    with urllib.request.urlopen(root) as response:
        assert b"cloudooo" in response.read()
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    request = urllib.request.Request(root + "RPC2", method="PUT", data=b"x")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
