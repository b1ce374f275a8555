"""Export options of the office handler (conversion_kw), end to end.

A real server with one LibreOffice instance; every document is built here;
outputs are read with poppler (pdfinfo, pdftotext, pdffonts) and pypdf.
"""

import io
import re
import struct
import subprocess
import xmlrpc.client
from pathlib import Path

import pypdf
import pytest

from cloudooo.handler.ooo import options
from tests import documents
from tests.server import ServerProcess, b64, unb64

README = Path(__file__).resolve().parents[1] / "README.rst"
PAGE_BREAK_STYLE = (
    b'<office:automatic-styles><style:style style:name="Break" '
    b'style:family="paragraph"><style:paragraph-properties '
    b'fo:break-before="page"/></style:style></office:automatic-styles>')


def pages_document(count=4):
    """A text document of ``count`` pages, "Page N text" on page N."""
    body = "".join(
        '<text:p text:style-name="%s">Page %d text caf\u00e9</text:p>'
        % ("Break" if number > 1 else "Standard", number)
        for number in range(1, count + 1))
    document = documents.flat_document(
        documents.ODT_MIMETYPE, "<office:text>%s</office:text>" % body)
    return document.replace(b"<office:body>",
                            PAGE_BREAK_STYLE + b"<office:body>", 1)


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("export-options"),
                           office_pool_size=1).start()
    yield server
    assert server.stop() == []


def convert(server, data, source, destination, conversion_kw):
    return unb64(server.proxy().convertFile(
        b64(data), source, destination, False, False, conversion_kw))


def fault_of(server, data, source, destination, conversion_kw):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        convert(server, data, source, destination, conversion_kw)
    return caught.value


def pdf_tool(tmp_path, tool, pdf, *arguments):
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    return subprocess.run([tool, *arguments, str(path)] +
                          (["-"] if tool == "pdftotext" else []),
                          capture_output=True, check=True, timeout=60,
                          text=True).stdout


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# -- PDF -------------------------------------------------------------------

def test_pdf_a_2b_declares_its_part_and_embeds_every_font(office, tmp_path):
    pdf = convert(office, pages_document(1), "fodt", "pdf",
                  {"pdf_version": "PDF/A-2b"})
    metadata = pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"][
        "/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r"pdfaid:part(>|=\")2", metadata)
    assert re.search(r"pdfaid:conformance(>|=\")B", metadata)
    fonts = pdf_tool(tmp_path, "pdffonts", pdf).splitlines()[2:]
    assert fonts, "no font in the PDF"
    for line in fonts:
        # name type [type...] encoding emb sub uni object ID
        assert line.split()[-5] == "yes", line


def test_default_pdf_stays_pdf_a_1b(office):
    pdf = convert(office, pages_document(1), "fodt", "pdf", {})
    metadata = pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"][
        "/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r"pdfaid:part(>|=\")1", metadata)


def test_page_range_exports_exactly_those_pages(office, tmp_path):
    pdf = convert(office, pages_document(4), "fodt", "pdf",
                  {"page_range": "2-3"})
    assert re.search(r"^Pages:\s+2$", pdf_tool(tmp_path, "pdfinfo", pdf),
                     re.M)
    text = pdf_tool(tmp_path, "pdftotext", pdf)
    assert "Page 2 text" in text and "Page 3 text" in text
    assert "Page 1 text" not in text and "Page 4 text" not in text


def test_page_range_beyond_the_document(office, tmp_path):
    pdf = convert(office, pages_document(4), "fodt", "pdf",
                  {"page_range": "3-9"})
    assert re.search(r"^Pages:\s+2$", pdf_tool(tmp_path, "pdfinfo", pdf),
                     re.M)
    fault = fault_of(office, pages_document(4), "fodt", "pdf",
                     {"page_range": "9"})
    assert fault.faultCode == 2
    assert fault.faultString == \
        "page_range 9 selects no page of this document"


def test_watermark_and_bookmarks(office, tmp_path):
    document = documents.fodt("Body text")  # its heading: "Heading"
    pdf = convert(office, document, "fodt", "pdf",
                  {"watermark": "CONFIDENTIAL", "export_bookmarks": True})
    assert "CONFIDENTIAL" in pdf_tool(tmp_path, "pdftotext", pdf)
    outline = pypdf.PdfReader(io.BytesIO(pdf)).outline
    assert [item.title for item in outline] == ["Heading"]
    plain = convert(office, document, "fodt", "pdf",
                    {"export_bookmarks": False})
    assert pypdf.PdfReader(io.BytesIO(plain)).outline == []


def test_encrypted_pdf_needs_its_password(office):
    pdf = convert(office, pages_document(2), "fodt", "pdf",
                  {"user_password": "open sesame",
                   "owner_password": "owner secret"})
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.is_encrypted
    assert not reader.decrypt("not the password")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.decrypt("open sesame")
    assert len(reader.pages) == 2
    assert "Page 2 text" in reader.pages[1].extract_text()


def test_pdf_a_cannot_be_encrypted(office):
    fault = fault_of(office, pages_document(1), "fodt", "pdf",
                     {"pdf_version": "PDF/A-1b", "user_password": "x"})
    assert fault.faultCode == 2
    assert "PDF/A forbids encryption" in fault.faultString


def test_image_quality_and_resolution_shrink_the_pictures(office):
    # A noisy picture, 600 px wide on a 2 cm frame (762 dpi): JPEG quality
    # and the dpi cap each make its PDF smaller.
    picture = subprocess.run(
        ["convert", "-size", "600x600", "plasma:fractal", "png:-"],
        capture_output=True, check=True, timeout=60).stdout
    document = documents.odt_package(
        documents.image_frame("Pictures/noise.png"),
        pictures={"noise.png": picture})
    sizes = {}
    for name, conversion_kw in (
            ("best", {"image_quality": 100}),
            ("poor", {"image_quality": 10}),
            ("reduced", {"image_quality": 100, "max_image_resolution": 75})):
        pdf = convert(office, document, "odt", "pdf", conversion_kw)
        sizes[name] = len(pdf)
    assert sizes["poor"] < sizes["best"] * 0.7
    assert sizes["reduced"] < sizes["best"] * 0.7


# -- images ----------------------------------------------------------------

@pytest.mark.parametrize("source, data", [
    ("fodt", pages_document(2)), ("fodp", documents.fodp()),
    ("fods", documents.fods())], ids=["text", "presentation", "sheet"])
def test_png_has_exactly_the_pixel_size_asked(office, source, data):
    png = convert(office, data, source, "png", {"width": 200, "height": 100})
    assert png_size(png) == (200, 100)


def test_one_side_keeps_the_page_proportions(office):
    png = convert(office, pages_document(1), "fodt", "png", {"width": 210})
    assert png_size(png) == (210, 297)  # A4


def test_resolution_scales_the_natural_size(office):
    natural = png_size(convert(office, documents.fodp(), "fodp", "png", {}))
    half = png_size(convert(office, documents.fodp(), "fodp", "png",
                            {"resolution": 48}))
    assert half == tuple(round(side / 2) for side in natural)
    fault = fault_of(office, documents.fodp(), "fodp", "png",
                     {"resolution": 48, "width": 100})
    assert fault.faultCode == 2 and "'resolution'" in fault.faultString


def test_page_picks_the_page_exported(office):
    document = pages_document(3)
    first = convert(office, document, "fodt", "png",
                    {"width": 300, "height": 424})
    third = convert(office, document, "fodt", "png",
                    {"width": 300, "height": 424, "page": 3})
    assert png_size(third) == (300, 424)
    assert first != third
    fault = fault_of(office, document, "fodt", "png", {"page": 9})
    assert fault.faultCode == 2 and "beyond the last page (3)" \
        in fault.faultString


def test_jpg_size(office):
    jpg = convert(office, documents.fodp(), "fodp", "jpg",
                  {"width": 320, "height": 240})
    assert jpg.startswith(b"\xff\xd8")
    size = subprocess.run(["identify", "-format", "%wx%h", "-"],
                          input=jpg, capture_output=True, check=True,
                          timeout=60).stdout
    assert size == b"320x240"


# -- text and CSV ----------------------------------------------------------

def test_csv_with_semicolons_in_latin_1(office):
    sheet = documents.fods(rows=(("name", "price"), ("caf\u00e9", "1,5")))
    csv = convert(office, sheet, "fods", "csv",
                  {"delimiter": ";", "encoding": "latin-1"})
    assert csv.splitlines() == [b"name;price", b"caf\xe9;1,5"]


def test_csv_without_quotes(office):
    sheet = documents.fods(rows=(("a b", "c"),))
    csv = convert(office, sheet, "fods", "csv", {"quote": "", "delimiter":
                                                 "\t"})
    assert csv.splitlines() == [b"a b\tc"]


def test_text_in_windows_1252(office):
    text = convert(office, documents.fodt("caf\u00e9 \u20ac"), "fodt", "txt",
                   {"encoding": "windows-1252"})
    assert b"caf\xe9 \x80" in text


# -- validation ------------------------------------------------------------

def test_unknown_key_lists_the_supported_ones(office):
    fault = fault_of(office, pages_document(1), "fodt", "pdf",
                     {"margin_top": "2cm"})
    assert fault.faultCode == 2
    assert "'margin_top'" in fault.faultString
    assert "page_range" in fault.faultString and \
        "pdf_version" in fault.faultString


def test_key_of_another_target_is_refused(office):
    fault = fault_of(office, pages_document(1), "fodt", "docx",
                     {"page_range": "1"})
    assert fault.faultCode == 2
    assert "supported: password, script" in fault.faultString


@pytest.mark.parametrize("destination, conversion_kw, key", [
    ("pdf", {"pdf_version": "PDF/A-4"}, "pdf_version"),
    ("pdf", {"page_range": "3-1"}, "page_range"),
    ("pdf", {"image_quality": 101}, "image_quality"),
    ("pdf", {"export_bookmarks": "maybe"}, "export_bookmarks"),
    ("png", {"width": 0}, "width"),
    ("png", {"height": "tall"}, "height"),
    ("csv", {"delimiter": ";;"}, "delimiter"),
    ("txt", {"encoding": "klingon"}, "encoding"),
])
def test_wrong_value_names_the_key(office, destination, conversion_kw, key):
    source, data = ("fods", documents.fods()) if destination == "csv" \
        else ("fodt", pages_document(1))
    fault = fault_of(office, data, source, destination, conversion_kw)
    assert fault.faultCode == 2
    assert fault.faultString.count(repr(key)) == 1


def test_a_password_value_is_never_quoted(office):
    fault = fault_of(office, pages_document(1), "fodt", "pdf",
                     {"user_password": "bad\npassword"})
    assert fault.faultCode == 2 and "password" in fault.faultString
    assert "bad" not in fault.faultString


def test_readme_lists_every_option_from_the_table():
    # After a change to the table, paste the output of
    # python -c 'from cloudooo.handler.ooo import options
    # print(options.readme_table())' into the README's list.
    assert options.readme_table() in README.read_text()
