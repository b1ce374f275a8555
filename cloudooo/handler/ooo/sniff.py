"""What a document really is, from its bytes, whatever its name says.

The link check must choose its parser by content: a flat ODT with a BOM sent
as ``doc``, or an HTML fragment sent as ``doc``, is loaded by LibreOffice's
own type detection, so checking by the declared name misses it.  The same
answer tells which misnamed documents are still office files (ERP5 sends
ODT bytes labelled ``doc``).

Kinds: ``odf`` (zip whose ``mimetype`` member is an OASIS OpenDocument
type), ``ooxml`` (zip with ``[Content_Types].xml``), ``zip`` (any other
zip), ``ole2`` (Word/Excel/PowerPoint 97-2003, encrypted OOXML), ``rtf``,
``pdf``, ``markup`` (XML, HTML or SVG, with or without a byte order mark),
``other`` (text, random bytes).
"""

import io
import zipfile

from cloudooo.handler.ooo.boundedzip import member_count_is_sane

ODF = "odf"
OOXML = "ooxml"
ZIP = "zip"
OLE2 = "ole2"
RTF = "rtf"
PDF = "pdf"
MARKUP = "markup"
OTHER = "other"

# Kinds LibreOffice's own type detection recognises whatever the name.
OFFICE_KINDS = frozenset((ODF, OOXML, OLE2, RTF, PDF))

ZIP_SIGNATURE = b"PK\x03\x04"
# An empty zip starts with its end record.
EMPTY_ZIP_SIGNATURE = b"PK\x05\x06"
OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
RTF_SIGNATURE = b"{\\rtf"
PDF_SIGNATURE = b"%PDF-"
ODF_MEDIA_TYPE_PREFIX = b"application/vnd.oasis.opendocument."
OOXML_CONTENT_TYPES = "[Content_Types].xml"
# Byte order marks (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE) and blanks that may
# precede the first '<' of a markup document.
BYTE_ORDER_MARKS = (b"\xef\xbb\xbf", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff",
                    b"\xff\xfe", b"\xfe\xff")
HEAD_SIZE = 4096
# The ``mimetype`` member of an ODF package is a short line; read no more.
MIMETYPE_MEMBER_LIMIT = 256


def sniff_bytes(data):
    """The kind of the document ``data`` (bytes)."""
    head = bytes(data[:HEAD_SIZE])
    if is_zip(head):
        return _sniff_zip(io.BytesIO(data))
    return sniff_head(head)


def sniff_file(path):
    """The kind of the document stored at ``path``."""
    with open(path, "rb") as stream:
        head = stream.read(HEAD_SIZE)
        if is_zip(head):
            stream.seek(0)
            return _sniff_zip(stream)
    return sniff_head(head)


def is_zip(head):
    """True when the file beginning with ``head`` is a zip (odf, ooxml or
    zip: only its members tell which)."""
    return head.startswith((ZIP_SIGNATURE, EMPTY_ZIP_SIGNATURE))


def strip_byte_order_mark(head):
    for mark in BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return head[len(mark):]
    return head


def is_markup(head):
    """True when ``head`` starts, after a BOM and blanks, with '<' (in
    UTF-8, or in UTF-16/32 where '<' is followed or preceded by zeros)."""
    text = strip_byte_order_mark(head).replace(b"\x00", b"")
    return text.lstrip(b" \t\r\n\x0c").startswith(b"<")


def sniff_head(head):
    """The kind of a document that is not a zip, from its first
    HEAD_SIZE bytes."""
    if head.startswith(OLE2_SIGNATURE):
        return OLE2
    if head.startswith(PDF_SIGNATURE):
        return PDF
    text = strip_byte_order_mark(head).lstrip(b" \t\r\n")
    if text.startswith(RTF_SIGNATURE):
        return RTF
    if is_markup(head):
        return MARKUP
    return OTHER


def _sniff_zip(stream):
    try:
        if not member_count_is_sane(stream):
            return ZIP
        with zipfile.ZipFile(stream) as package:
            names = set(package.namelist())
            if "mimetype" in names:
                with package.open("mimetype") as member:
                    media_type = member.read(MIMETYPE_MEMBER_LIMIT)
                if media_type.strip().startswith(ODF_MEDIA_TYPE_PREFIX):
                    return ODF
            if OOXML_CONTENT_TYPES in names:
                return OOXML
    except (zipfile.BadZipFile, OSError, EOFError, ValueError,
            NotImplementedError, RuntimeError):
        pass  # a damaged zip is no office file
    return ZIP
