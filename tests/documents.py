"""Input documents the tests build themselves (no binary fixtures in git).

Flat ODF (one XML file) is enough for LibreOffice to open; the server then
turns it into odt, doc, docx, ods, xlsx, odp... for the tests that need them.
"""

import io
import zipfile
from xml.sax.saxutils import escape

from tests import odt_fixtures

# The granulator fixtures' namespaces (they end with office:version), plus
# the ones metadata and presentations need.
NAMESPACES = odt_fixtures.NAMESPACES + (
    ' xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
    ' xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:'
    'presentation:1.0"')

ODT_MIMETYPE = "application/vnd.oasis.opendocument.text"


def _meta(title, subject, keywords, user_defined):
    parts = []
    if title:
        parts.append("<dc:title>%s</dc:title>" % escape(title))
    if subject:
        parts.append("<dc:subject>%s</dc:subject>" % escape(subject))
    for keyword in keywords or ():
        parts.append("<meta:keyword>%s</meta:keyword>" % escape(keyword))
    for name, value in (user_defined or {}).items():
        parts.append('<meta:user-defined meta:name="%s">%s'
                     '</meta:user-defined>' % (escape(name), escape(value)))
    return "<office:meta>%s</office:meta>" % "".join(parts)


def flat_document(mimetype, body, title="", subject="", keywords=(),
                  user_defined=None):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<office:document %s '
            'office:mimetype="%s">%s<office:body>%s</office:body>'
            '</office:document>' % (
                NAMESPACES, mimetype,
                _meta(title, subject, keywords, user_defined),
                body)).encode("utf-8")


def fodt(text="Hello cloudooo", title="", subject="", keywords=(),
         user_defined=None, extra_body=""):
    """A text document: one heading and one paragraph of ``text``."""
    body = ('<office:text><text:h text:outline-level="1">Heading</text:h>'
            '<text:p>%s</text:p>%s</office:text>' % (escape(text),
                                                      extra_body))
    return flat_document(ODT_MIMETYPE, body, title, subject, keywords,
                         user_defined)


def fods(rows=(("name", "value"), ("alpha", "1"), ("beta", "2"))):
    """A spreadsheet with ``rows`` of strings."""
    cells = "".join(
        "<table:table-row>%s</table:table-row>" % "".join(
            '<table:table-cell office:value-type="string"><text:p>%s'
            '</text:p></table:table-cell>' % escape(cell) for cell in row)
        for row in rows)
    body = ('<office:spreadsheet><table:table table:name="Sheet1">'
            '<table:table-column table:number-columns-repeated="%d"/>%s'
            '</table:table></office:spreadsheet>' % (len(rows[0]), cells))
    return flat_document("application/vnd.oasis.opendocument.spreadsheet",
                         body)


def fodp(title="Slide title"):
    """A one-slide presentation."""
    body = ('<office:presentation><draw:page draw:name="page1">'
            '<draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" '
            'svg:height="3cm"><draw:text-box><text:p>%s</text:p>'
            '</draw:text-box></draw:frame></draw:page>'
            '</office:presentation>' % escape(title))
    return flat_document("application/vnd.oasis.opendocument.presentation",
                         body)


def fodg():
    """A drawing with one rectangle."""
    body = ('<office:drawing><draw:page draw:name="page1">'
            '<draw:rect svg:x="2cm" svg:y="2cm" svg:width="5cm" '
            'svg:height="3cm"/></draw:page></office:drawing>')
    return flat_document("application/vnd.oasis.opendocument.graphics", body)


def png(width=4, height=4, rgb=(200, 30, 30)):
    """A real PNG image, made without any image library."""
    return odt_fixtures.png(rgb, width, height)


def odt_manifest(xml_members, picture_names):
    """An ODT's META-INF/manifest.xml listing ``xml_members`` and the PNG
    pictures ``picture_names`` under Pictures/."""
    entries = "".join(
        '<manifest:file-entry manifest:full-path="%s" '
        'manifest:media-type="text/xml"/>' % name for name in xml_members)
    entries += "".join(
        '<manifest:file-entry manifest:full-path="Pictures/%s" '
        'manifest:media-type="image/png"/>' % name for name in picture_names)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
            'opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
            '<manifest:file-entry manifest:full-path="/" '
            'manifest:media-type="%s"/>%s</manifest:manifest>'
            % (ODT_MIMETYPE, entries))


def odt_package(content_body, pictures=None, title=""):
    """A zipped ODT with ``pictures`` ({name: bytes}) under Pictures/."""
    pictures = pictures or {}
    content = ('<?xml version="1.0" encoding="UTF-8"?>\n'
               '<office:document-content %s>'
               '<office:body><office:text>%s</office:text></office:body>'
               '</office:document-content>' % (NAMESPACES, content_body))
    meta = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<office:document-meta %s>%s'
            '</office:document-meta>' % (NAMESPACES,
                                         _meta(title, "", (), None)))
    manifest = odt_manifest(["content.xml", "meta.xml"], pictures)
    files = {"META-INF/manifest.xml": manifest, "content.xml": content,
             "meta.xml": meta}
    files.update(("Pictures/" + name, data) for name, data in pictures.items())
    return odt_fixtures.package(files, ODT_MIMETYPE)


def image_frame(href, name="image1"):
    return ('<text:p><draw:frame draw:name="%s" svg:width="2cm" '
            'svg:height="2cm" text:anchor-type="as-char"><draw:image '
            'xlink:href="%s" xlink:type="simple" xlink:show="embed" '
            'xlink:actuate="onLoad"/></draw:frame></text:p>'
            % (name, escape(href)))


def odt_with_image(text="Document with a picture"):
    return odt_package("<text:p>%s</text:p>%s" % (
        escape(text), image_frame("Pictures/red.png")),
        pictures={"red.png": png()})


def docx_with_external_image(url):
    """A minimal DOCX whose picture is an external relationship to ``url``."""
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
        'openxmlformats.org/package/2006/content-types"><Default Extension='
        '"rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.'
        'wordprocessingml.document.main+xml"/></Types>')
    root_rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://'
        'schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="word/'
        'document.xml"/></Relationships>')
    document_rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://'
        'schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId5" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/image" Target="%s" '
        'TargetMode="External"/></Relationships>' % escape(url))
    document = (
        '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://'
        'schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        '<w:p><w:r><w:t>external picture</w:t></w:r></w:p></w:body>'
        '</w:document>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("[Content_Types].xml", content_types)
        package.writestr("_rels/.rels", root_rels)
        package.writestr("word/_rels/document.xml.rels", document_rels)
        package.writestr("word/document.xml", document)
    return buffer.getvalue()


def zip_of(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_names(data):
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def zip_mimetype(data):
    """The ``mimetype`` entry of an ODF package (how ODF says its type)."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return package.read("mimetype").decode()
