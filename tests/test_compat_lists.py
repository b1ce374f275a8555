"""COMPAT.md sections 1 and 2: the format lists ERP5 decides from, and the
promise behind them: every pair a list method offers converts.

Expected lists are COMPAT 1.2's, measured on upstream with LibreOffice 7.4;
"\u2013" is the en dash LibreOffice writes in its titles.
"""

import io
import xmlrpc.client
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from cloudooo.formats import extension_for_mimetype, mimetype_for_extension
from tests import documents
from tests.server import b64, unb64

EXPECTED_BY_KIND = {
    "text": [
        ("doc", "Word 97\u20132003"), ("docm", "Word 2007\u2013365 VBA"),
        ("docx", "Office Open XML Text (Transitional)"),
        ("epub", "EPUB Document"), ("fodt", "Flat XML ODF Text Document"),
        ("html", "HTML Document (Writer)"),
        ("jpg", "JPEG - Joint Photographic Experts Group"),
        ("ms.docx", "Word 2007\u2013365"), ("odt", "ODF Text Document"),
        ("pdf", "PDF - Portable Document Format"),
        ("png", "PNG - Portable Network Graphics"), ("rtf", "Rich Text"),
        ("txt", "Text - Choose Encoding"), ("webp", "WEBP - WebP Image")],
    "presentation": [
        ("bmp", "BMP - Windows Bitmap"), ("emf", "EMF - Enhanced Metafile"),
        ("eps", "EPS - Encapsulated PostScript"),
        ("fodp", "Flat XML ODF Presentation"),
        ("gif", "GIF - Graphics Interchange Format"),
        ("html", "HTML Document (Impress)"),
        ("jpg", "JPEG - Joint Photographic Experts Group"),
        ("odp", "ODF Presentation"),
        ("pdf", "PDF - Portable Document Format"),
        ("png", "PNG - Portable Network Graphics"),
        ("pps", "PowerPoint 97\u20132003 AutoPlay"),
        ("ppsx", "Office Open XML Presentation AutoPlay"),
        ("ppsx", "PowerPoint 2007\u2013365 AutoPlay"),
        ("ppt", "PowerPoint 97\u20132003"),
        ("pptm", "PowerPoint 2007\u2013365 VBA"),
        ("pptx", "Office Open XML Presentation"),
        ("pptx", "PowerPoint 2007\u2013365"),
        ("svg", "SVG - Scalable Vector Graphics"),
        ("tiff", "TIFF - Tagged Image File Format"),
        ("webp", "WEBP - WebP Image"), ("wmf", "WMF - Windows Metafile")],
    "spreadsheet": [
        ("csv", "Text CSV"), ("fods", "Flat XML ODF Spreadsheet"),
        ("html", "HTML Document (Calc)"),
        ("jpg", "JPEG - Joint Photographic Experts Group"),
        ("ms.xlsx", "Excel 2007\u2013365"), ("ods", "ODF Spreadsheet"),
        ("pdf", "PDF - Portable Document Format"),
        ("png", "PNG - Portable Network Graphics"), ("slk", "SYLK"),
        ("webp", "WEBP - WebP Image"), ("xls", "Excel 97\u20132003"),
        ("xlsm", "Excel 2007\u2013365 (macro-enabled)"),
        ("xlsx", "Office Open XML Spreadsheet")],
    "drawing": [
        ("bmp", "BMP - Windows Bitmap"), ("emf", "EMF - Enhanced Metafile"),
        ("eps", "EPS - Encapsulated PostScript"),
        ("fodg", "Flat XML ODF Drawing"),
        ("gif", "GIF - Graphics Interchange Format"),
        ("html", "HTML Document (Draw)"),
        ("jpg", "JPEG - Joint Photographic Experts Group"),
        ("odg", "ODF Drawing"), ("pdf", "PDF - Portable Document Format"),
        ("png", "PNG - Portable Network Graphics"),
        ("svg", "SVG - Scalable Vector Graphics"),
        ("tiff", "TIFF - Tagged Image File Format"),
        ("webp", "WEBP - WebP Image"), ("wmf", "WMF - Windows Metafile")],
    "web": [
        ("html", "HTML Document"), ("odt", "Text (Writer/Web)"),
        ("pdf", "PDF - Portable Document Format"),
        ("sxw", "OpenOffice.org 1.0 Text Document (Writer/Web)"),
        ("txt", "Text (Writer/Web)"),
        ("txt", "Text - Choose Encoding (Writer/Web)")],
}

NOT_LISTED_BY_SOURCE = ("docm", "pptm", "slk")
PPS_AUTOPLAY = ("pps", "PowerPoint 97\u20132003 AutoPlay")
PPT_AUTOPLAY = ("ppt", "PowerPoint 97\u20132003 AutoPlay")

MARKER = "Marker cloudooo"
HTML_PAGE = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Page"
             "</title></head><body><h1>%s</h1><table><tr><td>name</td>"
             "<td>value</td></tr><tr><td>alpha</td><td>1</td></tr></table>"
             "</body></html>" % MARKER).encode("utf-8")

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# The stream an OLE2 file of each kind holds (names are UTF-16 in the
# compound file's directory).
OLE2_STREAMS = {"doc": "WordDocument", "xls": "Workbook",
                "ppt": "PowerPoint Document", "pps": "PowerPoint Document"}
# The content type of the main part of each OOXML flavour.
OOXML_MAIN_PARTS = {
    "docx": "wordprocessingml.document.main+xml",
    "docm": "ms-word.document.macroEnabled.main+xml",
    "xlsx": "spreadsheetml.sheet.main+xml",
    "xlsm": "ms-excel.sheet.macroEnabled.main+xml",
    "pptx": "presentationml.presentation.main+xml",
    # LibreOffice 7.4's AutoPlay filters mark the main part as a
    # presentation, like pptx.
    "ppsx": "presentationml.",
    "pptm": "ms-powerpoint.presentation.macroEnabled.main+xml",
}
ALIASES = {"jpeg": "jpg", "htm": "html", "xhtml": "html", "tif": "tiff"}
MAGIC = {
    "pdf": (b"%PDF-",), "rtf": (b"{\\rtf",), "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",), "gif": (b"GIF87a", b"GIF89a"),
    "bmp": (b"BM",), "tiff": (b"II*\x00", b"MM\x00*"),
    "eps": (b"%!PS", b"\xc5\xd0\xd3\xc6"),
    "wmf": (b"\xd7\xcd\xc6\x9a", b"\x01\x00\x09\x00", b"\x02\x00\x09\x00"),
}


def ls(proxy, **request):
    return [tuple(item) for item in proxy.getAllowedExtensionList(request)]


def convert(proxy, data, source, destination, zip_output=False):
    return unb64(proxy.convertFile(b64(data), source, destination,
                                   zip_output))


def by_source(kind):
    """COMPAT 1.3: a kind's catalogue as the lists by source show it."""
    return sorted(PPT_AUTOPLAY if pair == PPS_AUTOPLAY else pair
                  for pair in EXPECTED_BY_KIND[kind]
                  if pair[0] not in NOT_LISTED_BY_SOURCE)


# No request leaves a file in the server's tmp/ (conftest.py).
pytestmark = pytest.mark.usefixtures("no_request_files_left")


@pytest.fixture(scope="module")
def sources(server):
    """One real document of each ODF kind (made by LibreOffice from flat
    ODF written here) and an HTML page: {extension: bytes}."""
    proxy = server.proxy()
    made = {"html": HTML_PAGE}
    for flat, package, data in (
            ("fodt", "odt", documents.fodt(text=MARKER)),
            ("fods", "ods", documents.fods(
                rows=(("name", "value"), (MARKER, "1")))),
            ("fodp", "odp", documents.fodp(title=MARKER)),
            ("fodg", "odg", documents.fodg())):
        made[package] = convert(proxy, data, flat, package)
    return made


# -- 1.2 by document type ---------------------------------------------------

@pytest.mark.parametrize("kind", sorted(EXPECTED_BY_KIND))
def test_catalogue_of_each_kind_is_upstreams(proxy, kind):
    assert ls(proxy, document_type=kind) == EXPECTED_BY_KIND[kind]


@pytest.mark.parametrize("word, kind", [
    ("T", "text"), ("Tex", "text"), ("SPREAD", "spreadsheet"),
    ("p", "presentation"), ("Draw", "drawing"), ("w", "web"),
    ("WEB", "web")])
def test_document_type_is_a_case_insensitive_prefix(proxy, word, kind):
    assert ls(proxy, document_type=word) == EXPECTED_BY_KIND[kind]


@pytest.mark.parametrize("word", ["global", "graphics", "texts", "nothing",
                                  "calc"])
def test_unknown_document_types_give_an_empty_list(proxy, word):
    assert proxy.getAllowedExtensionList({"document_type": word}) == []


def test_no_word_gives_the_empty_pair(proxy):
    assert proxy.getAllowedExtensionList({"document_type": ""}) == [["", ""]]
    assert proxy.getAllowedExtensionList({}) == [["", ""]]


# -- 1.3 by source ------------------------------------------------------------

@pytest.mark.parametrize("request_dict, kind", [
    ({"extension": "odt"}, "text"), ({"extension": "doc"}, "text"),
    ({"extension": "docx"}, "text"), ({"extension": "ms.docx"}, "text"),
    ({"extension": "txt"}, "text"), ({"extension": "rtf"}, "text"),
    ({"mimetype": documents.ODT_MIMETYPE}, "text"),
    ({"mimetype": "application/msword"}, "text"),
    ({"extension": "odp"}, "presentation"),
    ({"extension": "pptx"}, "presentation"),
    ({"extension": "ods"}, "spreadsheet"), ({"extension": "xls"},
                                            "spreadsheet"),
    ({"extension": "csv"}, "spreadsheet"), ({"extension": "odg"},
                                            "drawing")])
def test_lists_by_source(proxy, request_dict, kind):
    assert ls(proxy, **request_dict) == by_source(kind)


def test_counts_by_source(proxy):
    assert len(ls(proxy, extension="odt")) == 13
    assert len(ls(proxy, extension="odp")) == 20
    assert len(ls(proxy, extension="pptx")) == 20
    assert len(ls(proxy, extension="ods")) == 12
    assert len(ls(proxy, extension="xls")) == 12
    assert len(ls(proxy, extension="html")) == 26


def test_html_lists_text_web_and_spreadsheet(proxy):
    union = sorted(set(by_source("text")) | set(by_source("web"))
                   | set(by_source("spreadsheet")))
    assert ls(proxy, extension="html") == union
    assert ls(proxy, mimetype="text/html") == union


def test_adjustments_by_source(proxy):
    presentation = ls(proxy, extension="odp")
    assert PPT_AUTOPLAY in presentation and PPS_AUTOPLAY not in presentation
    for extension in ("odt", "odp", "ods", "html"):
        listed = {pair[0] for pair in ls(proxy, extension=extension)}
        assert not listed & set(NOT_LISTED_BY_SOURCE), extension


def test_pdf_lists_other_handlers_where_the_registry_routes(proxy):
    pairs = ls(proxy, extension="pdf")
    assert ("txt", "Plain Text") in pairs
    # pdf -> odg and svg are LibreOffice Draw's; pdf -> png is ImageMagick's
    # (the registry routes it there), so Draw's PNG title is not offered.
    assert ("odg", "ODF Drawing") in pairs
    assert ("svg", "SVG - Scalable Vector Graphics") in pairs
    assert ("png", "PNG - Portable Network Graphics") not in pairs
    assert "png" in {extension for extension, _title in pairs}


def test_nothing_fits_gives_the_empty_pair(proxy):
    assert ls(proxy, extension="nope") == [("", "")]
    assert ls(proxy, mimetype="application/x-nothing") == [("", "")]


def test_target_item_list_shape(proxy):
    status, response, message = proxy.getAllowedTargetItemList(
        "application/vnd.oasis.opendocument.presentation")
    assert (status, message) == (200, "")
    assert list(response) == ["response_data"]
    assert [tuple(pair) for pair in response["response_data"]] == \
        by_source("presentation")


def test_every_listed_extension_has_a_mimetype(proxy):
    for kind in EXPECTED_BY_KIND:
        for extension, title in ls(proxy, document_type=kind):
            assert mimetype_for_extension(extension), (kind, extension)
    pairs = proxy.getAllowedConversionFormatList(documents.ODT_MIMETYPE)
    assert sorted({mimetype for mimetype, _title in pairs}) == sorted(
        {mimetype_for_extension(extension)
         for extension, _title in by_source("text")})


# -- 1.4 every listed pair converts --------------------------------------

def check_type(data, extension, text=None):
    """Raise AssertionError unless ``data`` is a file of ``extension``."""
    extension = extension.rsplit(".", 1)[-1]
    extension = ALIASES.get(extension, extension)
    assert data, "empty result"
    if extension in MAGIC:
        assert data.startswith(MAGIC[extension]), data[:16]
    elif extension == "webp":
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", data[:16]
    elif extension == "emf":
        assert data[40:44] == b" EMF", data[:48]
    elif extension == "svg":
        assert b"<svg" in data[:4096], data[:100]
    elif extension in OLE2_STREAMS:
        assert data.startswith(OLE2), data[:16]
        assert OLE2_STREAMS[extension].encode("utf-16-le") in data
    elif extension in OOXML_MAIN_PARTS:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            types = package.read("[Content_Types].xml").decode()
        assert OOXML_MAIN_PARTS[extension] in types, types
    elif extension in ("odt", "ods", "odp", "odg", "sxw", "epub"):
        assert documents.zip_mimetype(data) == \
            mimetype_for_extension(extension)
    elif extension.startswith("fod"):
        package_type = mimetype_for_extension(extension).replace(
            "-flat-xml", "")
        assert b'office:mimetype="%s"' % package_type.encode() in data
    elif extension in ("txt", "csv"):
        assert b"\x00" not in data
        if text:
            assert text.encode() in data, data[:200]
    elif extension == "html":
        check_html(data)
    else:
        raise AssertionError("no type check for %s" % extension)


def check_html(data):
    """The main page, or a zip whose first .html member is the main page
    (COMPAT 4: its name ends in .impr.html, at the top level)."""
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            pages = [name for name in archive.namelist()
                     if name.lower().endswith("html")]
            assert pages, archive.namelist()
            assert pages[0].endswith(".impr.html") and "/" not in pages[0], \
                archive.namelist()
            data = archive.read(pages[0])
    assert b"<html" in data[:4096].lower(), data[:200]


def listed_targets(proxy, source):
    """Every extension any list method offers for ``source``."""
    mimetype = mimetype_for_extension(source)
    pairs = ls(proxy, extension=source) + ls(proxy, mimetype=mimetype)
    status, response, _message = proxy.getAllowedTargetItemList(mimetype)
    assert status == 200
    pairs += [tuple(pair) for pair in response["response_data"]]
    targets = {extension for extension, _title in pairs}
    # getAllowedConversionFormatList speaks mimetypes; convertFile takes a
    # mimetype as its canonical extension, which must be listed (and is
    # walked) already.
    for listed, _title in proxy.getAllowedConversionFormatList(mimetype):
        assert extension_for_mimetype(listed) in targets, listed
    return sorted(targets)


def walk(server, data, source, destination):
    """Convert through convertFile and run_generate; return the failures."""
    proxy = server.proxy()
    extension = destination
    text = MARKER if source in ("odt", "ods", "html") else None
    failures = []
    try:
        check_type(convert(proxy, data, source, destination), extension,
                   text)
    except (AssertionError, xmlrpc.client.Fault, zipfile.BadZipFile) as error:
        failures.append("convertFile %s -> %s: %s"
                        % (source, destination, error))
    try:
        status, response, message = proxy.run_generate(
            "document." + source, b64(data), None, destination,
            mimetype_for_extension(source))
        assert status == 200, message
        check_type(unb64(response["data"]), extension, text)
        if ALIASES.get(extension, extension) == "html":  # zipped html
            assert response["mime"] == "application/zip", response["mime"]
        else:
            assert response["mime"] == mimetype_for_extension(extension), \
                response["mime"]
    except (AssertionError, zipfile.BadZipFile) as error:
        failures.append("run_generate %s -> %s: %s"
                        % (source, destination, error))
    return failures


@pytest.mark.parametrize("source", ["odt", "ods", "odp", "odg", "html"])
def test_every_listed_pair_converts(server, sources, source):
    targets = listed_targets(server.proxy(), source)
    assert targets and "" not in targets
    # Two threads: one per office instance of the shared server.
    with ThreadPoolExecutor(2) as executor:
        results = executor.map(
            lambda target: walk(server, sources[source], source, target),
            targets)
        failures = [failure for result in results for failure in result]
    assert failures == []


@pytest.mark.parametrize("source, destination", [
    ("odt", "docm"), ("odp", "pptm"), ("ods", "xlsm"), ("odp", "pps"),
    ("odt", "ms.docx"), ("odp", "ms.pptx"), ("odt", "jpeg"), ("odt", "htm"),
    ("odt", "xhtml")])
def test_primary_filters_and_unlisted_aliases(server, sources, source,
                                              destination):
    assert walk(server, sources[source], source, destination) == []


def test_another_format_never_gives_the_source_format(proxy, sources):
    try:
        result = convert(proxy, sources["odp"], "odp", "odg")
    except xmlrpc.client.Fault as fault:
        assert fault.faultCode == 3, fault.faultString
    else:
        assert documents.zip_mimetype(result) == \
            mimetype_for_extension("odg")


# -- 1.5 HTML loads where the destination can be written -------------------

def test_html_loads_into_the_kind_that_writes_the_destination(proxy):
    check_type(convert(proxy, HTML_PAGE, "html", "xls"), "xls")
    assert b"alpha,1" in convert(proxy, HTML_PAGE, "html", "csv")
    check_type(convert(proxy, HTML_PAGE, "html", "sxw"), "sxw")
    text = convert(proxy, HTML_PAGE, "html", "odt")
    assert documents.zip_mimetype(text) == documents.ODT_MIMETYPE


# -- 2. raster images reach LibreOffice Draw where ImageMagick cannot write --

def test_png_to_svg_embeds_the_bitmap(proxy):
    svg = convert(proxy, documents.png(8, 8), "png", "svg")
    assert b"<svg" in svg
    assert b"data:image/png;base64," in svg


def test_png_to_pdf_and_drawing_formats(proxy):
    image = documents.png(8, 8)
    check_type(convert(proxy, image, "png", "pdf"), "pdf")
    check_type(convert(proxy, image, "png", "odg"), "odg")
    check_type(convert(proxy, image, "png", "emf"), "emf")
    # Raster to raster stays on ImageMagick.
    check_type(convert(proxy, image, "png", "gif"), "gif")
    mimetypes = {item[0] for item in
                 proxy.getAllowedConversionFormatList("image/png")}
    assert {"image/svg+xml", "application/pdf", "image/gif"} <= mimetypes
