"""Build small ODT text documents from scratch, for the granulator tests.

Nothing here needs LibreOffice: a document is a zip of XML strings, shaped
like what LibreOffice writes (named styles with display names, automatic
styles deriving from them, captions with sequence fields, captioned images in
a text-box frame).  ``sample_odt()`` is the one rich document; the builders
below it make the small ones that single tests need.
"""

import io
import struct
import zipfile
import zlib

TEXT_MEDIA_TYPE = "application/vnd.oasis.opendocument.text"

NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:'
    'xsl-fo-compatible:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'office:version="1.3"')

# (name, display name or None, parent or None): LibreOffice's own styles.
NAMED_STYLES = (
    ("Standard", None, None),
    ("Heading", None, "Standard"),
    ("Text_20_body", "Text body", "Standard"),
    ("Heading_20_1", "Heading 1", "Heading"),
    ("Heading_20_2", "Heading 2", "Heading"),
    ("Heading_20_3", "Heading 3", "Heading"),
    ("Title", None, "Heading"),
    ("Subtitle", None, "Title"),
    ("Caption", None, "Standard"),
    ("Table", None, "Caption"),
    ("Tabela", None, "Caption"),
    ("Illustration", None, "Caption"),
    ("Table_20_Contents", "Table Contents", "Standard"),
    ("Table_20_Heading", "Table Heading", "Table_20_Contents"),
    ("Footnote", None, "Standard"),
)
GRAPHIC_STYLES = ("Frame", "Graphics")


def png(rgb, width=2, height=2):
    """A real, tiny RGB PNG of one colour (colours tell pictures apart)."""
    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", crc)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def package(files, mimetype=TEXT_MEDIA_TYPE):
    """A zip with ``mimetype`` first and stored, then ``files`` (name ->
    str or bytes) deflated, in order."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("mimetype", mimetype,
                         compress_type=zipfile.ZIP_STORED)
        for name, data in files.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return output.getvalue()


def manifest_xml(paths, mimetype=TEXT_MEDIA_TYPE, extra_entries=""):
    entries = ['<manifest:file-entry manifest:full-path="/" '
               'manifest:version="1.3" manifest:media-type="%s"/>' % mimetype]
    for path in paths:
        media_type = "image/png" if path.endswith(".png") else "text/xml"
        entries.append('<manifest:file-entry manifest:full-path="%s" '
                       'manifest:media-type="%s"/>' % (path, media_type))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
            'manifest:1.0" manifest:version="1.3">%s%s</manifest:manifest>'
            % ("".join(entries), extra_entries))


def content_xml(body, automatic_styles="", body_element="office:text"):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<office:document-content %s><office:automatic-styles>%s'
            '</office:automatic-styles><office:body><%s>%s</%s>'
            '</office:body></office:document-content>'
            % (NAMESPACES, automatic_styles, body_element, body,
               body_element))


def styles_xml(master_page_content=""):
    """styles.xml with NAMED_STYLES and one A4 master page."""
    styles = []
    for name, display_name, parent in NAMED_STYLES:
        attributes = 'style:name="%s" style:family="paragraph"' % name
        if display_name:
            attributes += ' style:display-name="%s"' % display_name
        if parent:
            attributes += ' style:parent-style-name="%s"' % parent
        styles.append("<style:style %s/>" % attributes)
    styles.extend('<style:style style:name="%s" style:family="graphic"/>'
                  % name for name in GRAPHIC_STYLES)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<office:document-styles %s><office:styles>%s</office:styles>'
            '<office:automatic-styles><style:page-layout style:name="pm1">'
            '<style:page-layout-properties fo:page-width="21cm" '
            'fo:page-height="29.7cm" fo:margin-top="2cm" '
            'fo:margin-bottom="2cm" fo:margin-left="2cm" '
            'fo:margin-right="2cm"/></style:page-layout>'
            '</office:automatic-styles><office:master-styles>'
            '<style:master-page style:name="Standard" '
            'style:page-layout-name="pm1">%s</style:master-page>'
            '</office:master-styles></office:document-styles>'
            % (NAMESPACES, "".join(styles), master_page_content))


def build_odt(body, automatic_styles="", pictures=None,
              master_page_content=""):
    """An ODT text document whose office:text holds ``body``.

    ``pictures`` maps names under Pictures/ to their bytes.
    """
    pictures = pictures or {}
    files = {
        "content.xml": content_xml(body, automatic_styles),
        "styles.xml": styles_xml(master_page_content),
    }
    for name, data in pictures.items():
        files["Pictures/" + name] = data
    files["META-INF/manifest.xml"] = manifest_xml(
        [name for name in files if name != "META-INF/manifest.xml"])
    return package(files)


def table_xml(name, rows, style_name=None, header_rows=1,
              cell_style="Table_20_Contents"):
    """A table:table of plain text cells; the first ``header_rows`` rows
    go in table:table-header-rows, as LibreOffice writes them."""
    def row_xml(cells, paragraph_style):
        return "<table:table-row>%s</table:table-row>" % "".join(
            '<table:table-cell office:value-type="string">%s'
            "</table:table-cell>"
            % "".join('<text:p text:style-name="%s">%s</text:p>'
                      % (paragraph_style, line)
                      for line in (cell if isinstance(cell, tuple)
                                   else (cell,)))
            for cell in cells)
    header = "".join(row_xml(cells, "Table_20_Heading")
                     for cells in rows[:header_rows])
    if header:
        header = "<table:table-header-rows>%s</table:table-header-rows>" % (
            header)
    return ('<table:table table:name="%s" table:style-name="%s">'
            '<table:table-column table:number-columns-repeated="%d"/>%s%s'
            "</table:table>"
            % (name, style_name or name, len(rows[0]), header,
               "".join(row_xml(cells, cell_style)
                       for cells in rows[header_rows:])))


def image_frame(picture, name, alternative_text_xml=""):
    return ('<draw:frame draw:style-name="fr2" draw:name="%s" '
            'text:anchor-type="as-char" svg:width="1cm" svg:height="1cm" '
            'draw:z-index="1"><draw:image xlink:href="Pictures/%s" '
            'xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/>'
            "%s</draw:frame>" % (name, picture, alternative_text_xml))


def sequence(category, number):
    return ('<text:sequence text:ref-name="ref%s%d" text:name="%s" '
            'text:formula="ooow:%s+1" style:num-format="1">%d'
            "</text:sequence>" % (category, number - 1, category, category,
                                  number))


def captioned_image(picture, caption_xml):
    """LibreOffice's captioned image: the picture's frame and the caption
    text share a paragraph directly in the text box of an outer frame."""
    return ('<text:p text:style-name="Standard"><draw:frame '
            'draw:style-name="fr1" draw:name="Outer" '
            'text:anchor-type="as-char" svg:width="4cm" draw:z-index="0">'
            '<draw:text-box fo:min-height="1cm">'
            '<text:p text:style-name="Illustration">%s%s</text:p>'
            "</draw:text-box></draw:frame></text:p>"
            % (image_frame(picture, picture), caption_xml))


def plain_image(picture):
    """A picture alone in a body paragraph: no caption."""
    return '<text:p text:style-name="Standard">%s</text:p>' % (
        image_frame(picture, picture))


# Pictures that only need to differ from each other.
GREY_PICTURES = {name: png((shade, shade, shade)) for name, shade in (
    ("a.png", 1), ("b.png", 2), ("c.png", 3))}


SAMPLE_PICTURES = {
    "avatar.png": png((200, 30, 30)),
    "logo.png": png((30, 200, 30)),
    "plain.png": png((30, 30, 200)),
}

SAMPLE_AUTOMATIC_STYLES = (
    '<style:style style:name="P1" style:family="paragraph" '
    'style:parent-style-name="Heading_20_1"><style:text-properties '
    'fo:font-weight="bold"/></style:style>'
    '<style:style style:name="P2" style:family="paragraph" '
    'style:parent-style-name="Text_20_body"><style:text-properties '
    'fo:color="#ff0000"/></style:style>'
    '<style:style style:name="P3" style:family="paragraph" '
    'style:parent-style-name="Tabela"/>'
    '<style:style style:name="P4" style:family="paragraph"/>'
    '<style:style style:name="T1" style:family="text"><style:text-properties'
    ' fo:font-style="italic"/></style:style>'
    '<style:style style:name="Prices" style:family="table">'
    '<style:table-properties style:width="17cm" table:align="margins"/>'
    "</style:style>"
    '<style:style style:name="Developers" style:family="table">'
    '<style:table-properties style:width="17cm" table:align="margins"/>'
    "</style:style>"
    '<style:style style:name="Equipes" style:family="table">'
    '<style:table-properties style:width="17cm" table:align="margins"/>'
    "</style:style>"
    '<style:style style:name="fr1" style:family="graphic" '
    'style:parent-style-name="Frame"/>'
    '<style:style style:name="fr2" style:family="graphic" '
    'style:parent-style-name="Graphics"/>')

SAMPLE_BODY = "".join((
    "<text:sequence-decls>"
    '<text:sequence-decl text:display-outline-level="0" '
    'text:name="Illustration"/>'
    '<text:sequence-decl text:display-outline-level="0" text:name="Table"/>'
    "</text:sequence-decls>",
    # A deletion kept for change tracking: not part of the text.
    '<text:tracked-changes><text:changed-region xml:id="ct1" text:id="ct1">'
    "<text:deletion><office:change-info><dc:creator>Ana</dc:creator>"
    "<dc:date>2024-01-01T00:00:00</dc:date></office:change-info>"
    '<text:p text:style-name="Standard">Deleted paragraph</text:p>'
    "</text:deletion></text:changed-region></text:tracked-changes>",
    '<text:p text:style-name="Title">Granulation sample</text:p>',
    '<text:h text:style-name="P1" text:outline-level="1">'
    "<text:number>1.</text:number>Introduction</text:h>",
    '<text:p text:style-name="P2">One<text:s/>two<text:s text:c="3"/>five'
    "<text:tab/>tab<text:line-break/>line "
    '<text:span text:style-name="T1">span <text:a xlink:type="simple" '
    'xlink:href="https://example.com/">link</text:a></text:span> end'
    "</text:p>",
    '<text:p text:style-name="Text_20_body">Noted<text:note text:id="ftn1" '
    'text:note-class="footnote"><text:note-citation>1</text:note-citation>'
    '<text:note-body><text:p text:style-name="Footnote">Footnote text'
    "</text:p></text:note-body></text:note> and commented<office:annotation>"
    '<dc:creator>Ana</dc:creator><text:p text:style-name="Standard">'
    "A comment</text:p></office:annotation>.</text:p>",
    '<text:p text:style-name="Subtitle">Not a chapter</text:p>',
    table_xml("Prices", [("Item", "Price"), ("Coffee", "1.50"),
                         ("Tea", "1.20")]),
    '<text:p text:style-name="Table">Table %s: Prices of the day</text:p>'
    % sequence("Table", 1),
    table_xml("Developers", [("Name", "Role"), ("Ana", ("Lead", "Reviewer")),
                             ("Bruno", "Design" + image_frame(
                                 "avatar.png", "Avatar"))], header_rows=0),
    '<text:p text:style-name="Table_20_Contents">Not a caption</text:p>',
    table_xml("Equipes", [("Time", "Cidade"),
                          ("Gr\u00eamio", "Porto Alegre")]),
    '<text:p text:style-name="P3">Tabela %s: Times de futebol</text:p>'
    % sequence("Table", 2),
    '<text:h text:style-name="Heading_20_2" text:outline-level="2">'
    "Pictures</text:h>",
    # LibreOffice's captioned image: the picture and its caption share a
    # paragraph in the text box of an outer frame.
    '<text:p text:style-name="Standard"><draw:frame draw:style-name="fr1" '
    'draw:name="Frame1" text:anchor-type="as-char" svg:width="4cm" '
    'draw:z-index="0"><draw:text-box fo:min-height="1cm">'
    '<text:p text:style-name="Illustration">%sIllustration %s: TioLive Logo'
    "</text:p></draw:text-box></draw:frame></text:p>"
    % (image_frame("logo.png", "Logo", "<svg:desc>Logo alt text</svg:desc>"),
       sequence("Illustration", 1)),
    '<text:p text:style-name="Standard">Before %safter</text:p>'
    % image_frame("plain.png", "Plain", "<svg:title>Plain alt</svg:title>"),
    '<text:h text:style-name="Heading_20_3" text:outline-level="3">'
    "Deep level</text:h>",
    '<text:p text:style-name="P4">Unparented style</text:p>',
))


def sample_odt():
    """The rich document most granulator tests read (see SAMPLE_BODY)."""
    return build_odt(SAMPLE_BODY, SAMPLE_AUTOMATIC_STYLES, SAMPLE_PICTURES)


# The shapes of COMPAT.md section 6, in one document: captioned tables (one
# caption through an automatic style), a header row and two data rows,
# pictures repeated with and without captions (an uncaptioned copy first),
# and paragraphs with automatic styles.
COMPAT_AUTOMATIC_STYLES = (
    '<style:style style:name="P1" style:family="paragraph" '
    'style:parent-style-name="Text_20_body"><style:text-properties '
    'fo:font-weight="bold"/></style:style>'
    '<style:style style:name="P12" style:family="paragraph" '
    'style:parent-style-name="Tabela"/>'
    '<style:style style:name="fr1" style:family="graphic" '
    'style:parent-style-name="Frame"/>'
    '<style:style style:name="fr2" style:family="graphic" '
    'style:parent-style-name="Graphics"/>')
COMPAT_BODY = "".join((
    "<text:sequence-decls>"
    '<text:sequence-decl text:display-outline-level="0" '
    'text:name="Illustration"/>'
    '<text:sequence-decl text:display-outline-level="0" text:name="Table"/>'
    "</text:sequence-decls>",
    '<text:p text:style-name="P1">Bold body text</text:p>',
    "<text:p>A paragraph without a style</text:p>",
    table_xml("Prices", [("Dish", "Price"), ("Soup", "4.00")]),
    '<text:p text:style-name="Table">Table %s: Prices table from Mon '
    "Restaurant</text:p>" % sequence("Table", 1),
    table_xml("Contacts", [
        ("Name", "Phone", "Email"),
        ("Hugo", "+55 (22) 8888-8888", "hugo@example.com"),
        ("Rafael", "+55 (22) 9999-9999", "rafael@example.com")]),
    '<text:p text:style-name="P12">Tabela %s: Soccer Teams</text:p>'
    % sequence("Table", 2),
    plain_image("a.png"),
    captioned_image("a.png", "Illustration %s: The A picture"
                    % sequence("Illustration", 1)),
    captioned_image("b.png", "Illustration %s: The B picture"
                    % sequence("Illustration", 2)),
    plain_image("b.png"),
    plain_image("c.png"),
))


def compat_odt():
    """The document of COMPAT_BODY."""
    return build_odt(COMPAT_BODY, COMPAT_AUTOMATIC_STYLES, GREY_PICTURES)
