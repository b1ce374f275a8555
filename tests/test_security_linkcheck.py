"""The link check against hostile documents, end to end (issue 9 §2, §3).

Each hole found by an attacker gets a document built here; a loopback HTTP
server counts the requests LibreOffice would make (there must be none) and a
canary file holds bytes that must never come back in an output.  The checks
run against a server with the default configuration and, when the server
has a ``sandbox`` key, against one with ``sandbox = none``: the link check
must hold by itself for the formats it parses.
"""

import gzip
import io
import os
import urllib.request
import uuid
import xmlrpc.client
import zipfile
from xml.sax.saxutils import quoteattr

import pytest

from cloudooo.settings import SETTINGS_BY_NAME
from tests import documents, odt_fixtures
from tests.big_documents import PeakRss
from tests.server import ServerProcess, b64, unb64

PDF_MAGIC = b"%PDF-"
BOM = b"\xef\xbb\xbf"
GIGABYTE = 1024 ** 3
# The server's RSS may grow this much over idle while it refuses a bomb.
BOMB_RSS_ALLOWANCE = 100 * 1024 * 1024

ODF_EXTRA_NAMESPACES = (
    ' xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
    ' xmlns:form="urn:oasis:names:tc:opendocument:xmlns:form:1.0"'
    ' xmlns:xforms="http://www.w3.org/2002/xforms"')
WORD_NAMESPACES = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/'
    'wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"')
RELATIONSHIP_TYPES = "http://schemas.openxmlformats.org/officeDocument/2006/" \
    "relationships/"


# -- servers -----------------------------------------------------------------

@pytest.fixture(scope="module", params=["default", "sandbox-none"])
def hostile_server(request, server, tmp_path_factory):
    """The shared server (default configuration), then one with the
    sandbox off, when this version of cloudooo has a sandbox."""
    if request.param == "default":
        yield server
        return
    if "sandbox" not in SETTINGS_BY_NAME:
        pytest.skip("this cloudooo has no sandbox key")
    process = ServerProcess(tmp_path_factory.mktemp("nosandbox"),
                            sandbox="none").start()
    yield process
    assert process.stop() == []


@pytest.fixture
def spy(spy_http_server):
    url, hits = spy_http_server
    # The spy works: a plain GET reaches it.
    with urllib.request.urlopen(url.replace("spy.png", "probe")):
        pass
    assert hits == ["/probe"]
    del hits[:]
    return url, hits


@pytest.fixture
def canary(tmp_path):
    """A host file whose bytes must never reach an output."""
    path = tmp_path / "canary.txt"
    secret = "CANARY-%s" % uuid.uuid4().hex
    path.write_text(secret)
    return path, secret.encode()


def convert(proxy, data, source, destination, refresh=False):
    return unb64(proxy.convertFile(b64(data), source, destination, False,
                                   refresh))


def assert_fault(call, code, text):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call()
    assert caught.value.faultCode == code, caught.value.faultString
    assert text in caught.value.faultString, caught.value.faultString
    return caught.value


def assert_unsafe(proxy, data, source, url):
    fault = assert_fault(lambda: convert(proxy, data, source, "pdf"), 5,
                         "This document contains unsafe links ")
    # COMPAT §5: the offending URL follows the words directly (for <base
    # href>, the base: the folder of ``url``).
    assert fault.faultString.startswith(
        "This document contains unsafe links " + url.rsplit("/", 1)[0]), \
        fault.faultString


# -- hostile documents -------------------------------------------------------

def odt(content_body, meta_body="", extra_files=None):
    """A zipped ODT; ``content_body`` goes inside office:text."""
    namespaces = documents.NAMESPACES + ODF_EXTRA_NAMESPACES
    files = {
        "META-INF/manifest.xml": odt_fixtures.manifest_xml(
            ["content.xml", "meta.xml"] + sorted(extra_files or ())),
        "content.xml": '<?xml version="1.0" encoding="UTF-8"?>\n'
                       '<office:document-content %s><office:body>'
                       '<office:text>%s</office:text></office:body>'
                       '</office:document-content>' % (namespaces,
                                                       content_body),
        "meta.xml": '<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<office:document-meta %s><office:meta>%s</office:meta>'
                    '</office:document-meta>' % (namespaces, meta_body),
    }
    files.update(extra_files or {})
    return odt_fixtures.package(files)


def odt_with_template(url):
    return odt("<text:p>x</text:p>", meta_body=(
        '<meta:template xlink:type="simple" xlink:actuate="onRequest" '
        'xlink:title="t" xlink:href=%s/>' % quoteattr(url)))


def odt_with_xforms(url):
    return odt('<office:forms><xforms:model><xforms:instance src=%s/>'
               '</xforms:model></office:forms><text:p>x</text:p>'
               % quoteattr(url))


def odt_with_form(url):
    return odt('<office:forms><form:form form:name="F" xlink:type="simple" '
               'xlink:href=%s><form:button form:name="B"/></form:form>'
               '</office:forms><text:p>x</text:p>' % quoteattr(url))


def odt_with_form_image(url):
    return odt('<office:forms><form:form form:name="F"><form:button '
               'form:name="B" form:image-data=%s/></form:form>'
               '</office:forms><text:p>x</text:p>' % quoteattr(url))


def svg_image(url, namespace=True):
    return ('<svg %swidth="10" height="10"><image href=%s width="10" '
            'height="10"/></svg>' % (
                'xmlns="http://www.w3.org/2000/svg" ' if namespace else "",
                quoteattr(url))).encode()


def odt_with_svg_picture(url, compressed=False):
    name = "Pictures/picture.svg" + ("z" if compressed else "")
    picture = svg_image(url)
    if compressed:
        picture = gzip.compress(picture)
    return odt("<text:p>x</text:p>" + documents.image_frame(name),
               extra_files={name: picture})


def flat_odt_with_bom(url):
    return BOM + documents.fodt(extra_body=documents.image_frame(url))


def docx(document_body, relationships):
    """A DOCX: ``relationships`` are (Id, type, target, external)."""
    rels = "".join(
        '<Relationship Id="%s" Type="%s%s" Target=%s%s/>' % (
            rid, RELATIONSHIP_TYPES, kind, quoteattr(target),
            ' TargetMode="External"' if external else "")
        for rid, kind, target, external in relationships)
    files = {
        "[Content_Types].xml":
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://'
            'schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.'
            'openxmlformats-package.relationships+xml"/><Default '
            'Extension="xml" ContentType="application/xml"/><Override '
            'PartName="/word/document.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.wordprocessingml.document.main'
            '+xml"/></Types>',
        "_rels/.rels":
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="'
            'http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="%sofficeDocument" Target="word/'
            'document.xml"/></Relationships>' % RELATIONSHIP_TYPES,
        "word/_rels/document.xml.rels":
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="'
            'http://schemas.openxmlformats.org/package/2006/relationships">'
            '%s</Relationships>' % rels,
        "word/document.xml":
            '<?xml version="1.0" encoding="UTF-8"?><w:document %s><w:body>'
            '%s</w:body></w:document>' % (WORD_NAMESPACES, document_body),
    }
    return documents.zip_of(files)


def linked_picture(attribute):
    """A DrawingML inline picture whose blip points at rId9."""
    return (
        '<w:p><w:r><w:drawing><wp:inline><wp:extent cx="95250" cy="95250"/>'
        '<wp:docPr id="1" name="Picture 1"/><a:graphic><a:graphicData '
        'uri="http://schemas.openxmlformats.org/drawingml/2006/picture">'
        '<pic:pic><pic:nvPicPr><pic:cNvPr id="1" name="x.png"/><pic:cNvPicPr/>'
        '</pic:nvPicPr><pic:blipFill><a:blip %s="rId9"/><a:stretch>'
        '<a:fillRect/></a:stretch></pic:blipFill><pic:spPr><a:xfrm><a:off '
        'x="0" y="0"/><a:ext cx="95250" cy="95250"/></a:xfrm><a:prstGeom '
        'prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic>'
        '</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>'
        % attribute)


def docx_linking_a_hyperlink_relationship(url):
    """r:link to a relationship that says it is a hyperlink."""
    return docx(linked_picture("r:link"),
                [("rId9", "hyperlink", url, True)])


def docx_with_hyperlink(url):
    return docx('<w:p><w:hyperlink r:id="rId9"><w:r><w:t>site</w:t></w:r>'
                '</w:hyperlink></w:p>', [("rId9", "hyperlink", url, True)])


def html_page(head="", body="<p>x</p>"):
    return ("<!DOCTYPE html><html><head><title>t</title>%s</head><body>%s"
            "</body></html>" % (head, body)).encode()


HOLES = {
    # name: (builder of the document from a URL, declared format)
    "odt meta:template": (odt_with_template, "odt"),
    "odt xforms:instance src": (odt_with_xforms, "odt"),
    "odt form xlink:href": (odt_with_form, "odt"),
    "odt form:image-data": (odt_with_form_image, "odt"),
    "odt svg picture": (odt_with_svg_picture, "odt"),
    "odt svgz picture": (lambda url: odt_with_svg_picture(url, True), "odt"),
    "flat odt with BOM as doc": (flat_odt_with_bom, "doc"),
    "flat odt with BOM as xml": (flat_odt_with_bom, "xml"),
    "docx r:link to a hyperlink relationship": (
        docx_linking_a_hyperlink_relationship, "docx"),
    "docx r:embed to a hyperlink relationship": (
        lambda url: docx(linked_picture("r:embed"),
                         [("rId9", "hyperlink", url, True)]), "docx"),
    "html base href": (lambda url: html_page(
        '<base href=%s>' % quoteattr(url.rsplit("/", 1)[0] + "/"),
        '<img src="relative.png">'), "html"),
    "html img hidden by <!-->": (lambda url: html_page(
        body='<!--><img src=%s>-->' % quoteattr(url)), "html"),
    "html fragment as doc": (lambda url: (
        '<p>fragment</p><img src=%s>' % quoteattr(url)).encode(), "doc"),
    "html stylesheet link": (lambda url: html_page(
        '<link rel="StyleSheet" href=%s>' % quoteattr(url)), "html"),
    "html style attribute": (lambda url: html_page(
        body="<p style=\"background-image: url('%s')\">x</p>" % url),
        "html"),
    "html @import": (lambda url: html_page(
        '<style>@import "%s";</style>' % url), "html"),
    "zipped html stylesheet url()": (lambda url: documents.zip_of({
        "index.html": html_page('<link rel="stylesheet" href="style.css">'),
        "style.css": "p { background: url(%s) }" % url}), "zip"),
    "zipped html stylesheet @import": (lambda url: documents.zip_of({
        "index.html": html_page('<link rel="stylesheet" href="style.css">'),
        "style.css": "@import url('%s');" % url}), "zip"),
    "svg without namespace": (lambda url: svg_image(url, False), "svg"),
}


@pytest.mark.parametrize("hole", sorted(HOLES))
def test_fetching_hole_is_closed(hostile_server, spy, hole):
    url, hits = spy
    build, source = HOLES[hole]
    assert_unsafe(hostile_server.proxy(), build(url), source, url)
    assert hits == [], "LibreOffice fetched %s" % hits


@pytest.mark.parametrize("hole", ["odt svg picture", "odt svgz picture",
                                  "svg without namespace",
                                  "html fragment as doc"])
def test_local_file_hole_is_closed(hostile_server, canary, hole):
    path, _secret = canary
    build, source = HOLES[hole]
    url = "file://%s" % path
    assert_unsafe(hostile_server.proxy(), build(url), source, url)


def test_metadata_links_are_not_fetches(hostile_server, spy):
    """COMPAT §3: only stylesheet links are fetched; the others convert."""
    url, hits = spy
    head = "".join('<link rel="%s" href=%s>' % (rel, quoteattr(url)) for rel
                   in ("schema.DC", "alternate", "canonical", "icon"))
    page = html_page(head, '<p>metadata</p><a href=%s>site</a>'
                     % quoteattr(url))
    proxy = hostile_server.proxy()
    assert convert(proxy, page, "html", "pdf").startswith(PDF_MAGIC)
    assert convert(proxy, docx_with_hyperlink(url), "docx", "pdf") \
        .startswith(PDF_MAGIC)
    assert hits == [], "LibreOffice fetched %s" % hits


def test_refresh_does_not_include_files(hostile_server, canary):
    """A .doc with an INCLUDETEXT field: refresh must not pull the file in
    (it did through .uno:UpdateAllLinks)."""
    path, secret = canary
    proxy = hostile_server.proxy()
    # LibreOffice writes the field into a .doc from RTF; a relative
    # placeholder of the same length passes the link check, and is then
    # replaced by the canary's path in the binary.
    placeholder = "P" * (len(str(path)) - 4) + ".txt"
    rtf = ('{\\rtf1\\ansi {\\field{\\*\\fldinst INCLUDETEXT "%s" }'
           '{\\fldrslt cached result}}\\par after\\par}' % placeholder)
    doc = convert(proxy, rtf.encode(), "rtf", "doc")
    encoded = placeholder.encode("utf-16-le")
    assert doc.count(encoded) == 1
    doc = doc.replace(encoded, str(path).encode("utf-16-le"))
    for refresh in (False, True):
        text = convert(proxy, doc, "doc", "txt", refresh=refresh)
        assert b"cached result" in text
        assert secret not in text


# -- documents under another format's name (COMPAT §7) -----------------------

def test_office_files_under_another_name_convert_and_granulate(server):
    proxy = server.proxy()
    odt_bytes = convert(proxy, documents.fodt(text="Misnamed text"), "fodt",
                        "odt")
    text = convert(proxy, odt_bytes, "doc", "txt")
    assert b"Misnamed text" in text
    paragraphs = proxy.getParagraphItemList(b64(odt_bytes), "doc")
    texts = [proxy.getParagraph(b64(odt_bytes), index, "doc")[0]
             for index, _style in paragraphs]
    assert "Misnamed text" in texts
    docx_bytes = convert(proxy, odt_bytes, "odt", "docx")
    assert b"Misnamed text" in convert(proxy, docx_bytes, "doc", "txt")
    # Anything else under a binary name is still refused.
    other_zip = documents.zip_of({"notes.txt": "hello"})
    assert_fault(lambda: convert(proxy, other_zip, "doc", "pdf"), 4,
                 "not a valid doc document")


# -- decompression bombs ------------------------------------------------------

def write_member(archive, name, size):
    """A member of ``size`` bytes of spaces, compressed as it is written
    (nothing of that size is ever held in memory)."""
    chunk = b" " * (1024 * 1024)
    with archive.open(name, "w", force_zip64=True) as member:
        for _index in range(size // len(chunk)):
            member.write(chunk)


def zip_bomb(small_files, bomb_name):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED,
                         compresslevel=1) as archive:
        for name, data in small_files.items():
            archive.writestr(name, data)
        write_member(archive, bomb_name, GIGABYTE)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def odt_bomb():
    """An ODT whose content.xml inflates to 1 GB (a few MB packed)."""
    return zip_bomb({"mimetype": documents.ODT_MIMETYPE,
                     "META-INF/manifest.xml": odt_fixtures.manifest_xml(
                         ["content.xml"])}, "content.xml")


@pytest.fixture(scope="module")
def html_zip_bomb():
    return zip_bomb({"index.html": html_page()}, "padding.txt")


def test_odt_bomb_is_refused_at_once(server, odt_bomb):
    assert len(odt_bomb) < 16 * 1024 * 1024
    proxy = server.proxy()
    with PeakRss(server.pid) as watch:
        for call in (lambda: convert(proxy, odt_bomb, "odt", "pdf"),
                     lambda: proxy.getParagraphItemList(b64(odt_bomb), "odt"),
                     lambda: proxy.getFileMetadataItemList(b64(odt_bomb),
                                                           "odt")):
            assert_fault(call, 2, "document expands beyond")
    assert watch.peak - watch.idle < BOMB_RSS_ALLOWANCE, \
        "server RSS grew by %d MB" % ((watch.peak - watch.idle) >> 20)
    assert os.listdir(server.tmp_path) == []


def test_zipped_html_bomb_is_refused_at_once(server, html_zip_bomb):
    proxy = server.proxy()
    with PeakRss(server.pid) as watch:
        assert_fault(lambda: convert(proxy, html_zip_bomb, "zip", "pdf"), 2,
                     "document expands beyond")
    assert watch.peak - watch.idle < BOMB_RSS_ALLOWANCE
    assert os.listdir(server.tmp_path) == []
