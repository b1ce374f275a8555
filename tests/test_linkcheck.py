"""What counts as an unsafe link, without LibreOffice."""

import gzip
import io
import threading

import psutil
import pytest

from cloudooo.errors import InvalidRequest, UnsafeDocument
from cloudooo.handler.ooo import linkcheck
from cloudooo.handler.ooo.boundedzip import UnpackBudget
from tests import documents, odt_fixtures

MEGABYTE = 1024 * 1024
UNSAFE = "^This document contains unsafe links "
ODF = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
       'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
       'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
       'xmlns:form="urn:oasis:names:tc:opendocument:xmlns:form:1.0" '
       'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
       'xmlns:xforms="http://www.w3.org/2002/xforms" '
       'xmlns:xlink="http://www.w3.org/1999/xlink"')
OOXML = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
         'main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/'
         '2006/relationships" xmlns:a="http://schemas.openxmlformats.org/'
         'drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/'
         'presentationml/2006/main" xmlns:v="urn:schemas-microsoft-com:vml" '
         'xmlns:o="urn:schemas-microsoft-com:office:office"')


def budget(size=256 * MEGABYTE, ratio=200):
    return UnpackBudget(size, ratio)


def check_file(tmp_path, data, name="document.bin", plain_text=False):
    path = tmp_path / name
    path.write_bytes(data)
    linkcheck.check_document(str(path), budget(), plain_text)


def refused(tmp_path, data, name="document.bin"):
    with pytest.raises(UnsafeDocument, match=UNSAFE) as caught:
        check_file(tmp_path, data, name)
    return str(caught.value)


@pytest.mark.parametrize("target", [
    "http://127.0.0.1/x.png", "HTTPS://example.org/a", "ftp://h/f",
    "file:///etc/passwd", "/etc/passwd", "C:\\\\secret.png",
    "../../etc/x.png", "Pictures/../../../x.png", "smb://host/share",
    "vnd.sun.star.expand:$HOME/x"])
def test_unsafe(target):
    assert linkcheck.is_unsafe_reference(target)


@pytest.mark.parametrize("target", [
    "Pictures/a.png", "./Object 1", "red.png", "images/x.gif", "#anchor",
    "data:image/png;base64,AAAA", "../Pictures/a.png", ""])
def test_safe(target):
    assert not linkcheck.is_unsafe_reference(target)


def test_hyperlinks_are_not_fetched_so_they_pass():
    linkcheck.check_html(b'<a href="http://example.org/">site</a>')
    linkcheck.check_xml(
        b'<r xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        b'xmlns:xlink="http://www.w3.org/1999/xlink"><text:a '
        b'xlink:href="http://example.org/">x</text:a></r>', "content.xml")


@pytest.mark.parametrize("html", [
    b'<img src="http://h/x.png">', b'<link rel="stylesheet" href="//h/s">',
    b'<p style="background: url(http://h/b.png)">x</p>',
    b'<style>@import "http://h/s.css";</style>',
    b'<img srcset="a.png 1x, http://h/b.png 2x">',
    b'<iframe src="file:///etc/passwd"></iframe>'])
def test_html_fetches_are_refused(html):
    with pytest.raises(UnsafeDocument, match="^This document contains "
                                             "unsafe links"):
        linkcheck.check_html(html)


@pytest.mark.parametrize("svg", [
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org'
    b'/1999/xlink"><image xlink:href="http://h/x.png"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/x"/>'
    b'</svg>'])
def test_svg_images_outside_are_refused(tmp_path, svg):
    path = tmp_path / "f.svg"
    path.write_bytes(svg)
    with pytest.raises(UnsafeDocument):
        linkcheck.check_document(str(path), budget())


def test_svg_links_for_the_reader_pass(tmp_path):
    path = tmp_path / "f.svg"
    path.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><a href="'
                     b'http://example.org/"><rect width="1" height="1"/>'
                     b'</a></svg>')
    linkcheck.check_document(str(path), budget())


def test_word_and_rtf_fields(tmp_path):
    rtf = tmp_path / "f.rtf"
    rtf.write_bytes(b'{\\rtf1{\\field{\\*\\fldinst INCLUDEPICTURE '
                    b'"http://h/x.png" }{\\fldrslt x}}}')
    with pytest.raises(UnsafeDocument):
        linkcheck.check_document(str(rtf), budget())
    harmless = tmp_path / "g.rtf"
    harmless.write_bytes(b"{\\rtf1 the word LINK http://h/ in text}")
    linkcheck.check_document(str(harmless), budget())


def test_message_names_the_link_after_a_space():
    """COMPAT §5: clients match "unsafe links " then the URL."""
    with pytest.raises(UnsafeDocument) as caught:
        linkcheck.check_html(b'<img src="file:///etc/fstab">', "content.xml")
    assert str(caught.value) == (
        "This document contains unsafe links file:///etc/fstab (in "
        "content.xml); links to images or objects outside the document are "
        "refused")


# -- ODF ---------------------------------------------------------------------

def odt(content="<text:p>x</text:p>", meta="", extra=None):
    files = {"content.xml": '<office:document-content %s><office:body>'
                            '<office:text>%s</office:text></office:body>'
                            '</office:document-content>' % (ODF, content),
             "meta.xml": '<office:document-meta %s><office:meta>%s'
                         '</office:meta></office:document-meta>' % (ODF,
                                                                   meta)}
    files.update(extra or {})
    return odt_fixtures.package(files)


SVG_FILE_IMAGE = (b'<svg xmlns="http://www.w3.org/2000/svg"><image '
                  b'href="file:///etc/passwd"/></svg>')


@pytest.mark.parametrize("document", [
    odt(meta='<meta:template xlink:href="http://h/t.ott"/>'),
    odt('<office:forms><xforms:model><xforms:instance src="http://h/i"/>'
        '</xforms:model></office:forms>'),
    odt('<office:forms><xforms:model schema="http://h/s.xsd"/>'
        '</office:forms>'),
    odt('<office:forms><form:form xlink:href="http://h/f"/></office:forms>'),
    odt('<office:forms><form:form><form:button form:image-data="http://h/b"'
        '/></form:form></office:forms>'),
    odt(extra={"Pictures/a.svg": SVG_FILE_IMAGE}),
    odt(extra={"Pictures/a.png": gzip.compress(SVG_FILE_IMAGE)}),
    odt(extra={"Pictures/a.svg": b"\xef\xbb\xbf<svg><image xlink:href="
                                 b"'/etc/passwd'/></svg>"}),
    odt(extra={"Object 1/content.xml": '<office:document-content %s><draw:'
               'image xlink:href="../../../x.png"/></office:document-content>'
               % ODF}),
    odt('<office:forms><form:form form:datasource="sdbc:flat:file:///etc"'
        '/></office:forms>'),
    odt(extra={"Object 2/chunk.html": b"<p>x</p><img src='//h/x.png'>"}),
    odt(extra={"Object 2/chunk.rtf": b'{\\rtf1{\\field{\\*\\fldinst '
                                     b'INCLUDETEXT "/etc/passwd"}}}'}),
    odt(extra={"embedded.docx": odt(extra={"embedded.odt": odt(
        meta='<meta:template xlink:href="http://h/t.ott"/>')})}),
], ids=["meta:template", "xforms:instance", "xforms:model schema",
        "form:form", "form:image-data", "svg picture", "svgz picture",
        "svg without namespace", "sub-document", "form data source",
        "html member", "rtf member", "package in a package"])
def test_odf_package_holes(tmp_path, document):
    refused(tmp_path, document, "document.odt")


def test_packages_nested_too_deeply_are_refused(tmp_path):
    document = odt()
    for _level in range(5):
        document = odt(extra={"inner.odt": document})
    refused(tmp_path, document, "document.odt")


def test_odf_links_that_are_not_fetched_pass(tmp_path):
    check_file(tmp_path, odt(
        '<text:p><text:a xlink:href="http://example.org/">x</text:a></text:p>'
        '<office:event-listeners><script:event-listener xmlns:script="urn:'
        'oasis:names:tc:opendocument:xmlns:script:1.0" xlink:href="vnd.sun.'
        'star.script:Standard.M.Main?language=Basic&amp;location=document"/>'
        '</office:event-listeners><draw:frame><draw:image xlink:href="Pictu'
        'res/a.png"/></draw:frame><office:forms><form:form form:datasource='
        '"Bibliography"/></office:forms>',
        extra={"Pictures/a.png": b"\x89PNG"}),
        "document.odt")


@pytest.mark.parametrize("prefix", [b"", b"\xef\xbb\xbf", b"\n\n  "])
def test_flat_odf_is_checked_whatever_its_name(tmp_path, prefix):
    data = prefix + documents.fodt(extra_body=documents.image_frame(
        "http://h/x.png"))
    for name in ("document.doc", "document.xml", "document.fodt"):
        refused(tmp_path, data, name)


def test_stylesheet_processing_instruction(tmp_path):
    refused(tmp_path, b'<?xml version="1.0"?><?xml-stylesheet type="text/css" '
                      b'href="http://h/s.css"?><svg/>', "picture.svg")
    check_file(tmp_path, b'<?xml version="1.0"?><?xml-stylesheet type="text'
                         b'/css" href="s.css"?><svg/>', "picture.svg")


def test_utf16_flat_odf(tmp_path):
    data = documents.fodt(extra_body=documents.image_frame("/etc/x.png"))
    data = data.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    refused(tmp_path, data.encode("utf-16"))


# -- OOXML -------------------------------------------------------------------

def ooxml(part, body, relationships):
    rels = "".join('<Relationship Id="%s" Type="http://schemas.openxml'
                   'formats.org/officeDocument/2006/relationships/%s" '
                   'Target="%s" TargetMode="External"/>' % relationship
                   for relationship in relationships)
    folder, _slash, name = part.rpartition("/")
    return documents.zip_of({
        "[Content_Types].xml": "<Types/>",
        "%s/_rels/%s.rels" % (folder, name):
            '<Relationships xmlns="http://schemas.openxmlformats.org/package'
            '/2006/relationships">%s</Relationships>' % rels,
        part: '<root %s>%s</root>' % (OOXML, body)})


HYPERLINK = [("rId9", "hyperlink", "http://h/x.png")]


@pytest.mark.parametrize("document", [
    ooxml("word/document.xml", '<a:blip r:link="rId9"/>', HYPERLINK),
    ooxml("word/document.xml", '<a:blip r:embed="rId9"/>', HYPERLINK),
    ooxml("ppt/slides/slide1.xml", '<a:blip r:link="rId9"/>', HYPERLINK),
    ooxml("word/document.xml", '<v:imagedata r:id="rId9"/>', HYPERLINK),
    ooxml("word/document.xml", '<v:imagedata o:relid="rId9"/>', HYPERLINK),
    ooxml("word/document.xml", '<v:imagedata src="http://h/x.png"/>', []),
    ooxml("word/document.xml", "", [("rId9", "image", "file:///etc/x")]),
    ooxml("xl/worksheets/sheet1.xml", "",
          [("rId9", "oleObject", "\\\\host\\share\\x")]),
    ooxml("word/document.xml",
          '<w:r><w:instrText>INCLUDEPICTURE "http:</w:instrText></w:r>'
          '<w:r><w:instrText>//h/x.png"</w:instrText></w:r>', []),
    ooxml("word/document.xml",
          '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>'
          'INCLUDETEXT "</w:instrText></w:r><w:r><w:instrText>/etc/passwd"'
          '</w:instrText></w:r>', []),
    ooxml("word/document.xml",
          '<w:fldSimple w:instr="INCLUDEPICTURE http://h/x.png"/>', []),
], ids=["docx r:link", "docx r:embed", "pptx r:link", "vml r:id",
        "vml o:relid", "vml src", "image relationship",
        "ole object relationship", "field split over runs",
        "field after fldChar", "fldSimple"])
def test_ooxml_holes(tmp_path, document):
    refused(tmp_path, document, "document.docx")


def test_external_hyperlinks_remembered_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(linkcheck, "MAX_EXTERNAL_HYPERLINKS", 3)
    links = [("rId%d" % index, "hyperlink", "http://h/") for index in
             range(4)]
    check_file(tmp_path, ooxml("word/document.xml", "", links[:3]))
    with pytest.raises(InvalidRequest, match="more than 3 external"):
        check_file(tmp_path, ooxml("word/document.xml", "", links))


def test_ooxml_internal_targets_are_parts(tmp_path):
    rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package'
            '/2006/relationships"><Relationship Id="rId1" Type="http://'
            'schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'image" Target="%s"/></Relationships>')
    for target in ("../media/image1.png", "/word/media/image1.png"):
        check_file(tmp_path, documents.zip_of({
            "[Content_Types].xml": "<Types/>",
            "word/_rels/document.xml.rels": rels % target}), "document.docx")
    refused(tmp_path, documents.zip_of({
        "[Content_Types].xml": "<Types/>",
        "word/_rels/document.xml.rels": rels % "file:///etc/passwd"}),
        "document.docx")


@pytest.mark.parametrize("document", [
    ooxml("word/document.xml", '<w:hyperlink r:id="rId9"/>', HYPERLINK),
    ooxml("ppt/slides/slide1.xml", '<a:hlinkClick r:id="rId9"/>', HYPERLINK),
    ooxml("word/document.xml", '<v:shape href="http://example.org/"/>', []),
    ooxml("word/document.xml",
          '<w:r><w:instrText>HYPERLINK "http://example.org/"</w:instrText>'
          '</w:r>', []),
], ids=["docx hyperlink", "pptx click", "vml shape hyperlink",
        "hyperlink field"])
def test_ooxml_hyperlinks_pass(tmp_path, document):
    check_file(tmp_path, document, "document.docx")


# -- HTML ---------------------------------------------------------------------

@pytest.mark.parametrize("html", [
    b'<html><head><base href="http://h/"></head><body><img src="a.png">',
    b'<p>x<!--><img src="http://h/x.png">-->',
    b'<p>x<!---><img src="http://h/x.png">-->',
    b'<p>fragment</p><img src="//h/x.png">',
    b'<img src=" \tfile:///etc/passwd">',
    b'<img src="ht\ntp://h/x.png">',
    b'<link rel="Alternate StyleSheet" href="http://h/s.css">',
    b'<style>@\\69mport "http://h/s.css";</style>',
    b'<style>p { background: u\\72l(http://h/b.png) }</style>',
    b'<div background="http://h/b.png">x</div>',
    b'<svg><image xlink:href="http://h/x.png"/></svg>',
    b'<svg><use href="file:///etc/x.svg#a"/></svg>',
    b'<object data="http://h/x.svg"></object>',
    b'<video poster="http://h/p.png"></video>',
    b'<noembed><img src="http://h/x.png"></noembed>',
    b'<title><xmp><img src="http://h/x.png"></xmp></title>',
    b'<textarea><img src="http://h/x.png"></textarea>',
], ids=["base href", "<!-->", "<!--->", "protocol-relative", "blanks",
        "newline in scheme", "alternate stylesheet", "escaped @import",
        "escaped url(", "background anywhere", "inline svg image",
        "inline svg use", "object data", "video poster",
        "raw text: noembed", "raw text in raw text", "raw text: textarea"])
def test_html_holes(tmp_path, html):
    refused(tmp_path, html, "document.html")
    # The same bytes sent as a Word file are checked the same way.
    refused(tmp_path, html, "document.doc")


def test_script_text_is_not_markup():
    linkcheck.check_html(b'<script>var s = "<img src=http://h/x.png>";'
                         b'</script><p>a &lt; b, &lt;img src="http://h/x.png"'
                         b'&gt; shows how</p>')


def test_deeply_nested_raw_text_is_refused():
    with pytest.raises(UnsafeDocument, match=UNSAFE):
        linkcheck.check_html(b"<title>" * 20 + b"x")


def test_html_metadata_links_and_hyperlinks_pass():
    linkcheck.check_html(
        b'<html><head><link rel="schema.DC" href="http://purl.org/dc/">'
        b'<link rel="alternate" href="http://h/feed"><link rel="canonical" '
        b'href="http://h/"><link rel="icon" href="http://h/i.png"></head>'
        b'<body><a href="http://h/">x</a><map><area href="http://h/">'
        b'</map><base href="images/"><img src="a.png"></body></html>')


def test_text_loaded_as_text_is_not_markup(tmp_path):
    source = b'<p>HTML source as text</p><img src="http://h/x.png">'
    check_file(tmp_path, source, "document.txt", plain_text=True)
    refused(tmp_path, source, "document.txt")


def test_unpacked_html_folder(tmp_path):
    (tmp_path / "index.html").write_bytes(
        b'<link rel="stylesheet" href="style.css"><p>x</p>')
    (tmp_path / "style.css").write_bytes(b"p { color: red }")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.svg").write_bytes(b"<svg/>")
    linkcheck.check_folder(str(tmp_path), budget())
    (tmp_path / "img" / "a.svg").write_bytes(SVG_FILE_IMAGE)
    with pytest.raises(UnsafeDocument, match=UNSAFE):
        linkcheck.check_folder(str(tmp_path), budget())
    (tmp_path / "img" / "a.svg").write_bytes(b"<svg/>")
    (tmp_path / "style.css").write_bytes(b"/* x */ @import 'http://h/s.css';")
    with pytest.raises(UnsafeDocument, match=UNSAFE):
        linkcheck.check_folder(str(tmp_path), budget())
    (tmp_path / "style.css").write_bytes(b"p { color: red }")
    (tmp_path / "style.txt").write_bytes(b"p { background: url(/etc/x) }")
    with pytest.raises(UnsafeDocument, match=UNSAFE):
        linkcheck.check_folder(str(tmp_path), budget())
    (tmp_path / "style.txt").unlink()
    (tmp_path / "page2.html").write_bytes(b'text first <img src="//h/x">')
    with pytest.raises(UnsafeDocument, match=UNSAFE):
        linkcheck.check_folder(str(tmp_path), budget())
    (tmp_path / "page2.html").unlink()
    (tmp_path / "picture.png").write_bytes(documents.png())
    linkcheck.check_folder(str(tmp_path), budget())
    (tmp_path / "picture.svgz").write_bytes(gzip.compress(SVG_FILE_IMAGE))
    with pytest.raises(UnsafeDocument, match=UNSAFE):
        linkcheck.check_folder(str(tmp_path), budget())
    (tmp_path / "picture.svgz").write_bytes(gzip.compress(
        b"<svg>" + b" " * 3000000))
    with pytest.raises(InvalidRequest, match="^document expands beyond"):
        linkcheck.check_folder(str(tmp_path), budget(size=2000000))


# -- RTF ----------------------------------------------------------------------

@pytest.mark.parametrize("rtf", [
    b'{\\rtf1{\\field{\\*\\fldinst {\\rtlch INCLUDEPICTURE }{ "http://h/x" }}'
    b'{\\fldrslt x}}}',
    b"{\\rtf1{\\field{\\*\\fldinst INCLUDEPI\\'43TURE \"/etc/x.png\"}"
    b"{\\fldrslt x}}}",
    b'{\\rtf1{\\field{\\*\\fldinst INCLUDETEXT \\\\c MSWord "/etc/passwd"}}}',
], ids=["split into groups", "hex escape", "with a switch"])
def test_rtf_holes(tmp_path, rtf):
    refused(tmp_path, rtf, "document.rtf")


def test_rtf_fields_inside_the_document_pass(tmp_path):
    check_file(tmp_path, b'{\\rtf1{\\field{\\*\\fldinst INCLUDEPICTURE '
                         b'"pictures/x.png" \\\\* MERGEFORMATINET \\\\d}'
                         b'{\\fldrslt x}}}', "document.rtf")


# -- memory -------------------------------------------------------------------

def test_packages_over_the_budget_are_refused(tmp_path):
    path = tmp_path / "document.odt"
    path.write_bytes(odt("<text:p>%s</text:p>" % ("word " * 1000)))
    with pytest.raises(InvalidRequest, match="^document expands beyond"):
        linkcheck.check_document(str(path), budget(size=2000))


def test_big_markup_is_checked_in_flat_memory(tmp_path):
    """A 45 MB flat document: the link at its end is found while the
    process grows far less than the tree would take (~140 MB)."""
    paragraphs = "<text:p>%s</text:p>" % ("x" * 100) * 400000
    path = tmp_path / "document.fodt"
    path.write_bytes(documents.fodt(extra_body=paragraphs + documents
                                    .image_frame("http://h/x.png")))
    del paragraphs
    process = psutil.Process()
    idle = peak = process.memory_info().rss
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with pytest.raises(UnsafeDocument, match=UNSAFE):
            linkcheck.check_document(str(path), budget())
    finally:
        done.set()
        sampler.join()
    assert peak - idle < 40 * MEGABYTE


@pytest.mark.parametrize("data", [
    b"{\\rtf1{\\field{\\*\\fldinst INCLUDETEXT \\u55296? \\u99999999999 x}}}",
    b"PK\x03\x04" + b"\x00" * 10,
    b"\xef\xbb\xbf",
    b"",
], ids=["odd rtf escapes", "cut zip", "bom only",
        "empty"])
def test_odd_inputs_are_no_internal_error(tmp_path, data):
    check_file(tmp_path, data)


# Parts read whole (small package members) and parts streamed must be
# checked alike: same refusals, same first link named.
WHOLE_AND_STREAMED_CASES = [
    # processing instructions before and after the root
    b'<?xml-stylesheet href="http://h/before.css"?><r/>',
    b'<r/><?xml-stylesheet href="http://h/after.css"?>',
    # children end before their parent: the child's link is named first
    ('<office:document %s><draw:image xlink:href="http://h/parent.png">'
     '<draw:image xlink:href="http://h/child.png"/></draw:image>'
     '</office:document>' % ODF).encode(),
    # a field split over runs, a boundary nested in its instruction
    ('<w:document %s><w:r><w:instrText>INCLUDEPICTURE <w:fldChar/>'
     '</w:instrText></w:r><w:r><w:instrText>"http://h/f.png"</w:instrText>'
     '</w:r></w:document>' % OOXML).encode(),
    # an undeclared prefix, and markup broken halfway
    b'<r><x:image x:href="http://h/undeclared.png"/></r>',
    b'<r><image href="http://h/first.png"/><<<</r><image src="http://h/x"/>',
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<r style="background: url(http://h/s.png)"/>',
    b'<r xmlns:w="urn:w"><w:style>@import "http://h/i.css";</w:style></r>',
]


def streamed_and_whole_outcomes(data):
    outcomes = []
    for check in (lambda: linkcheck.scan_xml(io.BytesIO(data), "part"),
                  lambda: linkcheck.scan_xml_bytes(data, "part")):
        try:
            check()
            outcomes.append("passed")
        except UnsafeDocument as refusal:
            outcomes.append(str(refusal))
    return outcomes


@pytest.mark.parametrize("data", WHOLE_AND_STREAMED_CASES)
def test_parts_read_whole_are_checked_as_streamed(data):
    streamed, whole = streamed_and_whole_outcomes(data)
    assert whole == streamed


def test_parts_read_whole_refuse_what_streaming_refuses():
    refused_cases = [data for data in WHOLE_AND_STREAMED_CASES
                     if streamed_and_whole_outcomes(data)[0] != "passed"]
    # the cases above do test refusals, not only passes
    assert len(refused_cases) >= 8
