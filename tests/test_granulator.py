"""Tests for cloudooo.handler.ooo.granulator.

Most tests read documents built by ``odt_fixtures`` and need no LibreOffice.
One test has LibreOffice re-save a sample and a table() result, and two read
the shared corpus (conftest's ``corpus`` fixture); they skip when soffice or
the corpus is missing.
"""

import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from cloudooo.errors import InvalidRequest, NotFound
from cloudooo.handler.ooo.granulator import NS, OdtGranulator
from cloudooo.util import run_command
from tests import odt_fixtures as fixtures

SOFFICE = shutil.which("soffice")

# Captions whole, label and number included (COMPAT.md section 6).
SAMPLE_TABLES = [["Prices", "Table 1: Prices of the day"], ["Developers", ""],
                 ["Equipes", "Tabela 2: Times de futebol"]]
SAMPLE_CHAPTERS = [[0, "Granulation sample"], [1, "Introduction"],
                   [2, "Pictures"], [3, "Deep level"]]
# Style names as written in content.xml: automatic ones (P2, P3, P4) are
# not resolved, named ones keep their encoded names.
SAMPLE_PARAGRAPHS = [
    [0, "Title"], [1, "P2"], [2, "Text_20_body"], [3, "Footnote"],
    [4, "Subtitle"],
    # Prices
    [5, "Table_20_Heading"], [6, "Table_20_Heading"],
    [7, "Table_20_Contents"], [8, "Table_20_Contents"],
    [9, "Table_20_Contents"], [10, "Table_20_Contents"],
    [11, "Table"],
    # Developers, and the paragraph after it
    [12, "Table_20_Contents"], [13, "Table_20_Contents"],
    [14, "Table_20_Contents"], [15, "Table_20_Contents"],
    [16, "Table_20_Contents"], [17, "Table_20_Contents"],
    [18, "Table_20_Contents"], [19, "Table_20_Contents"],
    # Equipes
    [20, "Table_20_Heading"], [21, "Table_20_Heading"],
    [22, "Table_20_Contents"], [23, "Table_20_Contents"], [24, "P3"],
    [25, "Standard"], [26, "Standard"], [27, "P4"]]
# One flat list of [header, cell] pairs, row after row.
DEVELOPERS_LINES = [["Name", "Ana"], ["Role", "Lead\nReviewer"],
                    ["Name", "Bruno"], ["Role", "Design"]]


@pytest.fixture(scope="module")
def sample():
    return OdtGranulator(fixtures.sample_odt())


def granulator_for(body, automatic_styles="", **options):
    return OdtGranulator(fixtures.build_odt(body, automatic_styles,
                                            **options))


def one_table(name="T"):
    return fixtures.table_xml(name, [("A", "B"), ("1", "2")])


# -- the shapes clients rely on (COMPAT.md section 6) ----------------------

COMPAT_TABLES = [["Prices", "Table 1: Prices table from Mon Restaurant"],
                 ["Contacts", "Tabela 2: Soccer Teams"]]
COMPAT_CONTACT_LINES = [
    ["Name", "Hugo"], ["Phone", "+55 (22) 8888-8888"],
    ["Email", "hugo@example.com"],
    ["Name", "Rafael"], ["Phone", "+55 (22) 9999-9999"],
    ["Email", "rafael@example.com"]]
COMPAT_IMAGES = [["a.png", "The A picture"], ["a.png", ""],
                 ["b.png", "The B picture"], ["b.png", ""], ["c.png", ""]]


def test_compat_document_shapes():
    granulator = OdtGranulator(fixtures.compat_odt())
    assert granulator.table_items() == COMPAT_TABLES
    assert granulator.line_items("Contacts") == COMPAT_CONTACT_LINES
    assert granulator.image_items() == COMPAT_IMAGES
    # Written names: P1 and P12 are automatic styles, not resolved to
    # "Text body" or "Tabela"; the unstyled paragraph reads Standard.
    styles = ["P1", "Standard"] + ["Table_20_Heading"] * 2 + [
        "Table_20_Contents"] * 2 + ["Table"] + ["Table_20_Heading"] * 3 + [
        "Table_20_Contents"] * 6 + ["P12"] + ["Standard"] * 5
    assert granulator.paragraph_items() == [list(item)
                                            for item in enumerate(styles)]
    assert granulator.paragraph(0) == ["Bold body text", "P1"]
    assert granulator.paragraph(1) == ["A paragraph without a style",
                                       "Standard"]


# -- tables ---------------------------------------------------------------

def test_table_items_in_document_order_with_captions(sample):
    assert sample.table_items() == SAMPLE_TABLES


def test_column_items_from_first_row_with_or_without_header_rows(sample):
    assert sample.column_items("Prices") == [[0, "Item"], [1, "Price"]]
    assert sample.column_items("Developers") == [[0, "Name"], [1, "Role"]]


def test_line_items_are_one_flat_list_of_header_cell_pairs(sample):
    assert sample.line_items("Prices") == [
        ["Item", "Coffee"], ["Price", "1.50"],
        ["Item", "Tea"], ["Price", "1.20"]]
    # A cell of two paragraphs; a picture in a cell adds no text.
    assert sample.line_items("Developers") == DEVELOPERS_LINES
    assert sample.line_items("Equipes") == [
        ["Time", "Gr\u00eamio"], ["Cidade", "Porto Alegre"]]


def test_line_items_of_a_header_row_and_two_data_rows():
    granulator = granulator_for(fixtures.table_xml("Contacts", [
        ("Name", "Phone", "Email"),
        ("Hugo", "+55 (22) 8888-8888", "hugo@example.com"),
        ("Rafael", "+55 (22) 9999-9999", "rafael@example.com")]))
    assert granulator.line_items("Contacts") == [
        ["Name", "Hugo"], ["Phone", "+55 (22) 8888-8888"],
        ["Email", "hugo@example.com"],
        ["Name", "Rafael"], ["Phone", "+55 (22) 9999-9999"],
        ["Email", "rafael@example.com"]]


GRID_TABLE = (
    '<table:table table:name="Grid">'
    '<table:table-column table:number-columns-repeated="3"/>'
    "<table:table-header-rows><table:table-row>"
    '<table:table-cell table:number-columns-spanned="2"><text:p>Name'
    "</text:p></table:table-cell><table:covered-table-cell/>"
    "<table:table-cell><text:p>Group</text:p></table:table-cell>"
    "</table:table-row></table:table-header-rows>"
    "<table:table-row-group><table:table-row>"
    "<table:table-cell><text:p>Ana</text:p></table:table-cell>"
    "<table:table-cell><text:p>Lima</text:p></table:table-cell>"
    '<table:table-cell table:number-rows-spanned="2"><text:p>A</text:p>'
    "</table:table-cell></table:table-row><table:table-row>"
    "<table:table-cell><text:p>Bia</text:p>"
    '<table:table table:name="Inner"><table:table-column/>'
    "<table:table-row><table:table-cell><text:p>inner</text:p>"
    "</table:table-cell></table:table-row></table:table>"
    "</table:table-cell>"
    "<table:table-cell><text:p>Reis</text:p></table:table-cell>"
    "<table:covered-table-cell/></table:table-row></table:table-row-group>"
    '<table:table-row table:number-rows-repeated="2">'
    '<table:table-cell table:number-columns-repeated="3"><text:p>x</text:p>'
    "</table:table-cell></table:table-row>"
    "<table:table-row>%s</table:table-row>"
    "<table:table-row><table:table-cell><text:p>s</text:p>"
    "</table:table-cell></table:table-row></table:table>"
    % "".join("<table:table-cell><text:p>%s</text:p></table:table-cell>"
              % text for text in "abcd"))


def test_grid_expands_spans_repeats_and_row_groups():
    granulator = granulator_for(GRID_TABLE)
    assert granulator.table_items() == [["Grid", ""], ["Inner", ""]]
    # A covered cell reads as the cell that spans over it.
    assert granulator.column_items("Grid") == [
        [0, "Name"], [1, "Name"], [2, "Group"]]
    assert granulator.line_items("Grid") == [
        ["Name", "Ana"], ["Name", "Lima"], ["Group", "A"],
        # The nested table's text belongs to its cell, not to more rows.
        ["Name", "Bia\ninner"], ["Name", "Reis"], ["Group", "A"],
        ["Name", "x"], ["Name", "x"], ["Group", "x"],
        ["Name", "x"], ["Name", "x"], ["Group", "x"],
        # A longer row pairs its extra cell with ''; a shorter one is padded.
        ["Name", "a"], ["Name", "b"], ["Group", "c"], ["", "d"],
        ["Name", "s"], ["Name", ""], ["Group", ""]]
    assert granulator.column_items("Inner") == [[0, "inner"]]
    assert granulator.line_items("Inner") == []


@pytest.mark.parametrize("row", [
    '<table:table-row><table:table-cell '
    'table:number-columns-repeated="2000000000"/></table:table-row>',
    '<table:table-row table:number-rows-repeated="2000000000">'
    "</table:table-row>",
    '<table:table-row><table:table-cell table:number-columns-spanned='
    '"2000000000"/></table:table-row>',
], ids=["columns-repeated", "rows-repeated", "columns-spanned"])
def test_a_hostile_table_is_refused_not_expanded(row):
    granulator = granulator_for('<table:table table:name="Huge">'
                                "<table:table-column/>%s</table:table>"
                                % row)
    with pytest.raises(InvalidRequest, match="table 'Huge' is too large"):
        granulator.line_items("Huge")


CAPTION_STYLES = ('<style:style style:name="P1" style:family="paragraph" '
                  'style:parent-style-name="Tabela"/>')


@pytest.mark.parametrize("following, caption", [
    ('<text:p text:style-name="Table">Table %s: Sales</text:p>'
     % fixtures.sequence("Table", 1), "Table 1: Sales"),
    # Through an automatic style, localized, with a page break between.
    ('<text:soft-page-break/><text:p text:style-name="P1">Tabela %s: Vendas'
     "</text:p>" % fixtures.sequence("Table", 3), "Tabela 3: Vendas"),
    ('<text:p text:style-name="Table">Table %s \u2013 Dash</text:p>'
     % fixtures.sequence("Table", 1), "Table 1 \u2013 Dash"),
    # No sequence field, so no label to remove.
    ('<text:p text:style-name="Table">Typed caption</text:p>',
     "Typed caption"),
    ('<text:p text:style-name="Table_20_Contents">Cell style</text:p>', ""),
    ('<text:p text:style-name="Text_20_body">Body text</text:p>', ""),
    ('<text:h text:style-name="Table">A heading</text:h>', ""),
    ("", ""),
], ids=["table", "tabela-automatic", "dash-separator", "no-sequence",
        "cell-style", "body-style", "heading", "nothing-after"])
def test_table_caption_is_the_next_caption_styled_paragraph(following,
                                                            caption):
    granulator = granulator_for(one_table() + following, CAPTION_STYLES)
    assert granulator.table_items() == [["T", caption]]


def test_table_is_a_valid_package_with_only_that_table(sample):
    data = sample.table("Developers")
    package = zipfile.ZipFile(io.BytesIO(data))
    first = package.infolist()[0]
    assert (first.filename, first.compress_type, first.extra) == (
        "mimetype", zipfile.ZIP_STORED, b"")
    assert package.read("mimetype") == fixtures.TEXT_MEDIA_TYPE.encode()
    assert package.testzip() is None
    # Only the picture the table shows comes along.
    assert sorted(package.namelist()) == [
        "META-INF/manifest.xml", "Pictures/avatar.png", "content.xml",
        "mimetype", "styles.xml"]
    assert package.read("Pictures/avatar.png") == (
        fixtures.SAMPLE_PICTURES["avatar.png"])
    manifest = etree.fromstring(package.read("META-INF/manifest.xml"))
    entries = [(entry.get("{%s}full-path" % NS["manifest"]),
                entry.get("{%s}media-type" % NS["manifest"]))
               for entry in manifest]
    assert entries == [("/", fixtures.TEXT_MEDIA_TYPE),
                       ("content.xml", "text/xml"), ("styles.xml", "text/xml"),
                       ("Pictures/avatar.png", "image/png")]
    assert package.read("styles.xml") == fixtures.styles_xml().encode()

    content = etree.fromstring(package.read("content.xml"))
    body = content.find("office:body/office:text", NS)
    assert [etree.QName(child).localname for child in body] == [
        "sequence-decls", "table"]
    styles = content.find("office:automatic-styles", NS)
    assert styles.find("style:style[@style:name='Developers']",
                       NS) is not None

    table = OdtGranulator(data)
    assert table.table_items() == [["Developers", ""]]
    assert table.line_items("Developers") == DEVELOPERS_LINES
    assert table.image_items() == [["avatar.png", ""]]


def test_table_brings_pictures_of_styles_and_no_duplicates():
    header = ('<style:header><text:p><draw:frame draw:name="H">'
              '<draw:image xlink:href="Pictures/header.png"/></draw:frame>'
              "</text:p></style:header>")
    # A link to a package file must not add a second content.xml.
    linked = one_table().replace(
        ">1</text:p>", '><text:a xlink:href="content.xml">1</text:a></text:p>')
    assert linked != one_table()
    granulator = granulator_for(
        linked, pictures={"header.png": fixtures.png((1, 2, 3)),
                          "unused.png": fixtures.png((4, 5, 6))},
        master_page_content=header)
    names = zipfile.ZipFile(io.BytesIO(granulator.table("T"))).namelist()
    assert names == ["mimetype", "content.xml", "styles.xml",
                     "Pictures/header.png", "META-INF/manifest.xml"]


def test_table_brings_its_embedded_object_and_its_manifest_entry():
    frame = ('<draw:frame draw:name="Chart"><draw:object '
             'xlink:href="./Object 1"/><draw:image '
             'xlink:href="./ObjectReplacements/Object 1"/></draw:frame>')
    chart = "application/vnd.oasis.opendocument.chart"
    files = {
        "content.xml": fixtures.content_xml(one_table().replace(
            ">1</text:p>", ">1%s</text:p>" % frame)),
        "styles.xml": fixtures.styles_xml(),
        "Object 1/content.xml": "<chart/>",
        "ObjectReplacements/Object 1": b"replacement",
        "META-INF/manifest.xml": fixtures.manifest_xml(
            ["content.xml", "styles.xml", "Object 1/content.xml"],
            extra_entries='<manifest:file-entry manifest:full-path='
            '"Object 1/" manifest:version="1.3" manifest:media-type="%s"/>'
            % chart)}
    table = zipfile.ZipFile(io.BytesIO(
        OdtGranulator(fixtures.package(files)).table("T")))
    assert table.read("ObjectReplacements/Object 1") == b"replacement"
    manifest = etree.fromstring(table.read("META-INF/manifest.xml"))
    entries = [(entry.get("{%s}full-path" % NS["manifest"]),
                entry.get("{%s}media-type" % NS["manifest"]))
               for entry in manifest]
    assert entries == [
        ("/", fixtures.TEXT_MEDIA_TYPE), ("Object 1/", chart),
        ("content.xml", "text/xml"), ("styles.xml", "text/xml"),
        ("Object 1/content.xml", "text/xml"),
        ("ObjectReplacements/Object 1", "")]


# -- images ---------------------------------------------------------------

def test_image_items_with_caption_after_the_label(sample):
    assert sample.image_items() == [
        ["avatar.png", ""], ["logo.png", "TioLive Logo"], ["plain.png", ""]]


def test_image_captions_go_by_file_with_a_cursor():
    body = "".join((
        # An uncaptioned copy of a.png before its captioned copy: the first
        # copy takes the caption, as upstream gives it.
        fixtures.plain_image("a.png"),
        fixtures.captioned_image("a.png", "Illustration %s: First A"
                        % fixtures.sequence("Illustration", 1)),
        # b.png is captioned twice; its uncaptioned copy comes after both.
        fixtures.captioned_image("b.png", "Illustration %s: First B"
                        % fixtures.sequence("Illustration", 2)),
        fixtures.captioned_image("b.png", "Illustration %s: Second B"
                        % fixtures.sequence("Illustration", 3)),
        fixtures.plain_image("b.png"),
        # No caption text after the ":" and no ":" at all: not captioned.
        fixtures.captioned_image("c.png", "Illustration 4:  "),
        fixtures.captioned_image("c.png", "Just words"),
        # A caption after the first ":" keeps any later ":".
        fixtures.captioned_image("a.png", "Figure: time 10:30"),
    ))
    granulator = granulator_for(body, pictures=fixtures.GREY_PICTURES)
    assert granulator.image_items() == [
        ["a.png", "First A"], ["a.png", ""],
        ["b.png", "First B"], ["b.png", "Second B"], ["b.png", ""],
        ["c.png", ""], ["c.png", ""],
        ["a.png", "time 10:30"]]


def test_image_caption_cursor_waits_for_its_file():
    # The cursor stands on b.png's caption until a b.png comes: a.png images
    # before it get nothing, although a.png is captioned later.
    body = "".join((
        fixtures.plain_image("a.png"),
        fixtures.captioned_image("b.png", "Illustration 1: Bee"),
        fixtures.captioned_image("a.png", "Illustration 2: Ay"),
        fixtures.plain_image("a.png"),
    ))
    granulator = granulator_for(body, pictures=fixtures.GREY_PICTURES)
    assert granulator.image_items() == [
        ["a.png", ""], ["b.png", "Bee"], ["a.png", "Ay"], ["a.png", ""]]


def test_a_frame_deeper_than_the_text_box_paragraph_is_not_captioned():
    # The picture's paragraph is in a table inside the text box, not
    # directly in it.
    body = ('<text:p><draw:frame draw:name="Outer"><draw:text-box>'
            '<table:table table:name="Boxed"><table:table-row>'
            "<table:table-cell><text:p>%sIllustration 1: Boxed</text:p>"
            "</table:table-cell></table:table-row></table:table>"
            "</draw:text-box></draw:frame></text:p>"
            % fixtures.image_frame("a.png", "A"))
    granulator = granulator_for(body, pictures=fixtures.GREY_PICTURES)
    assert granulator.image_items() == [["a.png", ""]]


@pytest.mark.parametrize("name", ["logo.png", "Pictures/logo.png"])
def test_image_returns_the_stored_bytes(sample, name):
    assert sample.image(name) == fixtures.SAMPLE_PICTURES["logo.png"]


def test_image_alternatives_count_once_and_links_not_at_all():
    body = ('<text:p><draw:frame draw:name="V">'
            '<draw:image xlink:href="Pictures/vector.svg"/>'
            '<draw:image xlink:href="Pictures/fallback.png"/></draw:frame>'
            '<draw:frame draw:name="L"><draw:image '
            'xlink:href="https://example.com/linked.png"/></draw:frame>'
            '<draw:frame draw:name="M">'
            '<draw:image xlink:href="Pictures/missing.png"/>'
            '<draw:image xlink:href="Pictures/stored.png"/></draw:frame>'
            "</text:p>")
    granulator = granulator_for(body, pictures={
        "vector.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        "fallback.png": fixtures.png((0, 0, 0)),
        "stored.png": fixtures.png((9, 9, 9))})
    assert granulator.image_items() == [["vector.svg", ""],
                                        ["stored.png", ""]]


# -- paragraphs and chapters ----------------------------------------------

def test_paragraph_items_report_style_names_as_written(sample):
    assert sample.paragraph_items() == SAMPLE_PARAGRAPHS


@pytest.mark.parametrize("index, expected", [
    (1, ["One two   five\ttab\nline span link end", "P2"]),
    # Footnote body and comment are left out; the footnote is listed next.
    (2, ["Noted and commented.", "Text_20_body"]),
    (3, ["Footnote text", "Footnote"]),
    (11, ["Table 1: Prices of the day", "Table"]),
    (18, ["Design", "Table_20_Contents"]),
    (24, ["Tabela 2: Times de futebol", "P3"]),
    # The frame holding the captioned picture is not text of its paragraph.
    (25, ["", "Standard"]),
    (26, ["Before after", "Standard"]),
    (27, ["Unparented style", "P4"]),
])
def test_paragraph_text_and_style(sample, index, expected):
    assert sample.paragraph(index) == expected


def test_style_names_and_drawing_text():
    body = ('<text:p text:style-name="Mystery">unknown style</text:p>'
            "<text:p>no style<draw:custom-shape draw:name=\"S\">"
            "<text:p>in a shape</text:p></draw:custom-shape></text:p>"
            '<text:p text:style-name="P9">a<text:s text:c="999999999"/>b'
            "</text:p>")
    granulator = granulator_for(body, '<style:style style:name="P9" '
                                'style:family="paragraph" '
                                'style:parent-style-name="Heading_20_1"/>')
    # As written: an unknown style too; no style at all reads Standard.
    assert granulator.paragraph_items() == [
        [0, "Mystery"], [1, "Standard"], [2, "P9"]]
    assert granulator.paragraph(1) == ["no style", "Standard"]
    # A hostile space count is bounded.
    assert granulator.paragraph(2)[0] == "a" + " " * 10000 + "b"


def test_chapter_items_are_headings_and_title_paragraphs(sample):
    # The heading's cached number "1." is not part of its title.
    assert sample.chapter_items() == SAMPLE_CHAPTERS
    assert sample.chapter(1) == ["Introduction", 1]
    assert sample.chapter(3) == ["Deep level", 3]


# -- errors ---------------------------------------------------------------

@pytest.mark.parametrize("method, bad_id, message", [
    ("table", "Nope", "table 'Nope' not found"),
    ("table", 1, "table 1 not found"),
    ("column_items", "Prices ", "table 'Prices ' not found"),
    ("line_items", None, "table None not found"),
    ("image", "nope.png", "image 'nope.png' not found"),
    ("image", "", "image '' not found"),
    ("image", "../content.xml", "image '../content.xml' not found"),
    ("image", 0, "image 0 not found"),
    ("paragraph", 28, "paragraph 28 not found"),
    ("paragraph", -1, "paragraph -1 not found"),
    ("paragraph", "0", "paragraph '0' not found"),
    ("paragraph", True, "paragraph True not found"),
    ("chapter", 4, "chapter 4 not found"),
    ("chapter", 1.0, "chapter 1.0 not found"),
])
def test_unknown_ids_raise_not_found(sample, method, bad_id, message):
    with pytest.raises(NotFound) as raised:
        getattr(sample, method)(bad_id)
    assert str(raised.value) == message


def corrupted_content():
    """The sample with a byte of content.xml's compressed data changed."""
    data = bytearray(fixtures.sample_odt())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("content.xml")
    # Local header: 30 bytes + name + extra, then the compressed data.
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize("data, message", [
    (b"", "not a readable zip archive"),
    (b"%PDF-1.4 not an ODT", "not a readable zip archive"),
    (fixtures.sample_odt()[:-30], "not a readable zip archive"),
    ("a str", "must be bytes"),
    (fixtures.package({"styles.xml": fixtures.styles_xml()}),
     "no content.xml"),
    (fixtures.package({"content.xml": "<office:document-content"}),
     "content.xml of the document is not well-formed XML"),
    (fixtures.package({"content.xml": fixtures.content_xml(
        "", body_element="office:spreadsheet")}),
     r"not an ODT text document \(its body is office:spreadsheet\)"),
    (fixtures.package({
        "content.xml": b"\x00encrypted",
        "META-INF/manifest.xml": fixtures.manifest_xml(
            [], extra_entries='<manifest:file-entry manifest:full-path='
            '"content.xml" manifest:media-type="text/xml">'
            '<manifest:encryption-data/></manifest:file-entry>')}),
     "password-protected"),
    (corrupted_content(), "cannot read content.xml from the document"),
], ids=["empty", "pdf", "truncated", "str", "no-content", "bad-xml",
        "spreadsheet", "encrypted", "corrupted"])
def test_data_that_is_not_an_odt_text_is_refused(data, message):
    with pytest.raises(InvalidRequest, match=message):
        OdtGranulator(data)


def test_external_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    content = fixtures.content_xml("<text:p>before &xxe;after</text:p>")
    content = content.replace(
        "<office:document-content",
        '<!DOCTYPE office:document-content [<!ENTITY xxe SYSTEM "%s">]>'
        "<office:document-content" % secret.as_uri(), 1)
    granulator = OdtGranulator(fixtures.package({"content.xml": content}))
    assert granulator.paragraph(0) == ["before after", "Standard"]


def test_granulator_imports_without_uno():
    # In a fresh interpreter: another test may have imported uno already.
    code = ("import sys, cloudooo.handler.ooo.granulator; "
            "print('uno' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], check=True,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False"


# -- with LibreOffice -----------------------------------------------------

@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not "
                    "installed")
def test_libreoffice_opens_table_and_we_read_its_output():
    """LibreOffice re-saves a table() result and the sample: it must open
    the table and we must read the same parts from what it writes."""
    sample = fixtures.sample_odt()
    with tempfile.TemporaryDirectory(prefix="cloudooo-granulator-") as work:
        work = Path(work)
        (work / "sample.odt").write_bytes(sample)
        (work / "table.odt").write_bytes(
            OdtGranulator(sample).table("Developers"))
        run_command([SOFFICE, "--headless", "--norestore",
                     "-env:UserInstallation=" + (work / "profile").as_uri(),
                     "--convert-to", "odt", "--outdir", str(work / "out"),
                     str(work / "sample.odt"), str(work / "table.odt")],
                    timeout=120)
        table = OdtGranulator((work / "out" / "table.odt").read_bytes())
        resaved = OdtGranulator((work / "out" / "sample.odt").read_bytes())
    assert table.table_items() == [["Developers", ""]]
    assert table.line_items("Developers") == DEVELOPERS_LINES
    assert len(table.image_items()) == 1
    assert resaved.table_items() == SAMPLE_TABLES
    assert resaved.chapter_items() == SAMPLE_CHAPTERS
    # LibreOffice renames automatic styles and drops empty ones, so only
    # paragraphs with a named style keep their reported style; every
    # paragraph keeps its text.
    automatic = {"P2", "P3", "P4"}
    found = resaved.paragraph_items()
    assert len(found) == len(SAMPLE_PARAGRAPHS)
    assert [item for item in found if SAMPLE_PARAGRAPHS[item[0]][1]
            not in automatic] == [item for item in SAMPLE_PARAGRAPHS
                                  if item[1] not in automatic]
    original = OdtGranulator(sample)
    assert [resaved.paragraph(index)[0] for index, _ in found] == [
        original.paragraph(index)[0] for index, _ in SAMPLE_PARAGRAPHS]
    # LibreOffice renames pictures; the captions stay.
    assert [caption for _, caption in resaved.image_items()] == [
        "", "TioLive Logo", ""]


# -- the shared corpus ----------------------------------------------------

def test_corpus_odt_every_list_method(corpus):
    granulator = OdtGranulator((corpus / "test.odt").read_bytes())
    paragraphs = granulator.paragraph_items()
    assert paragraphs, "a short text document has paragraphs"
    for position, (index, style) in enumerate(paragraphs):
        assert index == position and isinstance(style, str) and style
        text, same_style = granulator.paragraph(index)
        assert isinstance(text, str) and same_style == style
    assert any(granulator.paragraph(index)[0] for index, _ in paragraphs)
    for index, (chapter_id, title) in enumerate(granulator.chapter_items()):
        assert granulator.chapter(chapter_id) == [title, index]
    for name, caption in granulator.image_items():
        assert isinstance(caption, str) and granulator.image(name)
    for name, caption in granulator.table_items():
        assert isinstance(caption, str)
        columns = granulator.column_items(name)
        assert [index for index, _ in columns] == list(range(len(columns)))
        for pair in granulator.line_items(name):
            assert len(pair) == 2 and all(isinstance(text, str)
                                          for text in pair)
        assert OdtGranulator(granulator.table(name)).table_items()[0][0] == (
            name)


def test_corpus_spreadsheet_is_refused(corpus):
    with pytest.raises(InvalidRequest, match="office:spreadsheet"):
        OdtGranulator((corpus / "test.ods").read_bytes())
