"""Read parts of an ODT text document: tables, images, paragraphs, chapters.

Pure Python over the document's zip and XML (lxml): no ``uno``, no
LibreOffice.  The manager converts other text formats (doc, docx, rtf) to ODT
first and hands the ODT bytes to ``OdtGranulator``.  Every return value is
XML-RPC-safe (lists, str, int, bytes); unknown ids raise ``NotFound`` and data
that is not an ODT text document raises ``InvalidRequest``.

Shapes that clients can see are upstream cloudooo's, which ERP5 relies on
(COMPAT.md section 6):

* Style names.  ``text:style-name`` as written in content.xml: ``P7`` for a
  paragraph with direct formatting, ``Text_20_body`` for a named style.  A
  paragraph without one reports ``Standard``, LibreOffice's default
  paragraph style.  (Internally, to recognise captions and titles, an
  automatic style is followed to the named style it derives from.)
* Table captions.  The whole text of the caption paragraph as displayed,
  label and number included: "Table 1: Prices".
* Line items.  One flat list, row after row, of [header, cell] pairs.
* Image captions.  The text after the first ":" of a captioned frame,
  matched to images by picture file with a cursor over the captioned
  frames, as upstream does (see ``image_items``): an uncaptioned copy of a
  picture shown before its captioned copy takes the caption.
* Text.  ``text:s`` (with ``text:c``), ``text:tab`` and ``text:line-break``
  become spaces, a tab and a newline; spans, links and fields give their
  text; whitespace is kept as written.  Content that is anchored in a
  paragraph but is not part of its line is left out: drawing shapes and
  frames (with their captions and alt texts), comments, foot/endnotes (their
  paragraphs are listed on their own) and the cached numbering label of a
  heading (``text:number``).  Paragraphs are joined with ``\\n`` in a cell.
* What is listed.  Deleted text kept for change tracking is never listed.
  Paragraphs and chapters exclude those in drawing shapes/frames and in
  comments; footnote paragraphs are included.
"""

import io
import mimetypes
import zipfile
from copy import deepcopy
from functools import cached_property

from lxml import etree

from cloudooo.errors import InvalidRequest, NotFound, PasswordRequired
from cloudooo.handler.ooo.boundedzip import (ZIP_ERRORS, BoundedZip,
                                             UnpackBudget)
from cloudooo.settings import SETTINGS_BY_NAME

NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "xlink": "http://www.w3.org/1999/xlink",
    "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0",
}


def _qname(prefixed):
    prefix, local = prefixed.split(":")
    return "{%s}%s" % (NS[prefix], local)


TEXT_MEDIA_TYPE = "application/vnd.oasis.opendocument.text"

_TEXT_P = _qname("text:p")
_TEXT_H = _qname("text:h")
_TEXT_S = _qname("text:s")
_TEXT_TAB = _qname("text:tab")
_TEXT_LINE_BREAK = _qname("text:line-break")
_TEXT_STYLE_NAME = _qname("text:style-name")
_DRAW_TEXT_BOX = _qname("draw:text-box")
_TABLE_NAME = _qname("table:name")
_TABLE_ROW = _qname("table:table-row")
_TABLE_CELL = _qname("table:table-cell")
_COVERED_CELL = _qname("table:covered-table-cell")
_ROW_CONTAINERS = frozenset(_qname(name) for name in (
    "table:table-header-rows", "table:table-rows", "table:table-row-group"))
_XLINK_HREF = _qname("xlink:href")
_DRAW_NAMESPACE_PREFIX = "{%s}" % NS["draw"]

# Elements whose content is not part of the text of the paragraph holding
# them (see the module docstring); every draw:* element is skipped as well.
_NOT_INLINE = frozenset(_qname(name) for name in (
    "office:annotation", "text:note", "text:number", "text:tracked-changes"))

# The declarations that lead office:text: fields in a copied table may
# refer to them, so table() keeps them.
_BODY_DECLARATIONS = frozenset(_qname(name) for name in (
    "text:variable-decls", "text:sequence-decls", "text:user-field-decls",
    "text:dde-connection-decls", "text:alphabetical-index-auto-mark-file",
    "table:calculation-settings", "table:content-validations",
    "table:label-ranges"))

_NOT_DELETED = "not(ancestor::text:tracked-changes)"
# Body text flow: not in a drawing shape or frame, a comment, or a deletion.
_IN_FLOW = (_NOT_DELETED + " and not(ancestor::draw:*)"
            " and not(ancestor::office:annotation)")

# Caption style prefixes: LibreOffice's "Table", and the Portuguese name that
# older localized versions wrote into documents.
_TABLE_CAPTION_PREFIXES = ("Table", "Tabela")
# LibreOffice's styles for text inside cells also start with "Table".
_TABLE_CELL_STYLES = frozenset(("Table Contents", "Table Heading",
                                "Table_20_Contents", "Table_20_Heading"))
_TITLE_STYLE = "Title"
_DEFAULT_STYLE = "Standard"

# Bounds on what a hostile document can make us allocate: a space run
# (text:c) and a table grid once repeated and spanned cells are expanded.
_MAX_SPACE_RUN = 10000
_MAX_TABLE_CELLS = 1000000

# Files of the package that table() writes itself.
_PACKAGE_FILES = frozenset(("mimetype", "content.xml", "styles.xml"))

_DEFAULT_MAX_UNPACKED_SIZE = SETTINGS_BY_NAME["max_unpacked_size"][2]
_DEFAULT_MAX_COMPRESSION_RATIO = SETTINGS_BY_NAME["max_compression_ratio"][2]


class OdtGranulator:
    """Tables, images, paragraphs and chapters of one ODT document.

    ``odt_bytes`` is the whole document; it is parsed once, here.  Its
    members are read under ``max_unpacked_size`` (bytes, all members) and
    ``max_compression_ratio``: a zip bomb is refused before it is inflated.
    """

    def __init__(self, odt_bytes,
                 max_unpacked_size=_DEFAULT_MAX_UNPACKED_SIZE,
                 max_compression_ratio=_DEFAULT_MAX_COMPRESSION_RATIO):
        if not isinstance(odt_bytes, (bytes, bytearray)):
            raise InvalidRequest("document data must be bytes, not %s"
                                 % type(odt_bytes).__name__)
        try:
            self._zip = BoundedZip(io.BytesIO(odt_bytes), UnpackBudget(
                max_unpacked_size, max_compression_ratio))
        except ZIP_ERRORS:
            raise InvalidRequest("data is not an ODT document (not a "
                                 "readable zip archive)")
        self._names = set(self._zip.namelist())
        if "content.xml" not in self._names:
            raise InvalidRequest("data is not an ODT document (no "
                                 "content.xml)")
        if self._is_encrypted("content.xml"):
            raise PasswordRequired("password required: the document is "
                                   "password-protected")
        self._content = self._parse("content.xml")
        self._text = self._content.find("office:body/office:text", NS)
        if self._text is None:
            body = self._content.find("office:body/*", NS)
            kind = etree.QName(body).localname if body is not None else None
            raise InvalidRequest(
                "not an ODT text document (its body is %s)"
                % ("office:" + kind if kind else "missing"))

    # -- tables ------------------------------------------------------------

    def table_items(self):
        """[[table_name, caption], ...] in document order.

        The caption comes from the paragraph right after the table when its
        style (or the named style behind its automatic style) starts with
        "Table" or "Tabela", LibreOffice's in-cell styles excepted; else ''.
        """
        return [[table.get(_TABLE_NAME), self._table_caption(table)]
                for table in self._tables]

    def table(self, table_id):
        """A new ODT (bytes) holding only table ``table_id``.

        It keeps styles.xml, content.xml's automatic styles and font
        declarations, and the pictures and objects the kept XML refers to.
        """
        table = self._find_table(table_id)
        content = etree.Element(self._content.tag, self._content.attrib,
                                nsmap=self._content.nsmap)
        for child in self._content:
            if isinstance(child.tag, str) and child.tag != _qname(
                    "office:body"):
                content.append(deepcopy(child))
        body = etree.SubElement(content, _qname("office:body"),
                                self._text.getparent().attrib)
        text = etree.SubElement(body, self._text.tag, self._text.attrib)
        for child in self._text:
            if child.tag in _BODY_DECLARATIONS:
                text.append(deepcopy(child))
        text.append(deepcopy(table))
        return self._package(content)

    def column_items(self, table_id):
        """[[index, header_text], ...] from the table's first row."""
        grid = self._grid(self._find_table(table_id))
        return [[index, header]
                for index, header in enumerate(grid[0] if grid else [])]

    def line_items(self, table_id):
        """[[header, cell_text], ...]: one flat list, row after row, for
        the rows after the first (upstream's shape, not a list per row).

        Each cell is paired with the header of its own column: a covered
        cell (merged away) reads as the cell that covers it, so a merged
        cell gives its text to every row and column it spans, and repeated
        cells and rows are expanded.  A row shorter than the first row is
        padded with ''; a longer one pairs its extra cells with the header
        ''.
        """
        grid = self._grid(self._find_table(table_id))
        if not grid:
            return []
        headers = grid[0]
        pairs = []
        for row in grid[1:]:
            width = max(len(headers), len(row))
            pairs.extend(
                [headers[i] if i < len(headers) else "",
                 row[i] if i < len(row) else ""] for i in range(width))
        return pairs

    # -- images ------------------------------------------------------------

    def image_items(self):
        """[[image_file_name, caption], ...]: names are under Pictures/.

        One item per frame, in document order: a picture shown twice is
        listed twice.  Captions go by picture file, as upstream cloudooo
        gives them: a cursor walks the captioned frames in order; an image
        whose file is the cursor frame's file takes its caption and moves
        the cursor on, any other image gets ''.  So an uncaptioned copy of a
        picture shown before its captioned copy carries the caption (clients
        cannot tell two items with one file name apart anyway).
        """
        captioned = []  # (picture name, caption) of captioned frames
        for image in self._images:
            caption = self._image_caption(image)
            if caption:
                captioned.append((_picture_name(image), caption))
        cursor = 0
        items = []
        for image in self._images:
            name = _picture_name(image)
            caption = ""
            if cursor < len(captioned) and captioned[cursor][0] == name:
                caption = captioned[cursor][1]
                cursor += 1
            items.append([name, caption])
        return items

    def image(self, image_id):
        """The bytes of picture ``image_id`` (``name`` or
        ``Pictures/name``) as stored in the document."""
        if isinstance(image_id, str):
            path = image_id if image_id.startswith("Pictures/") else (
                "Pictures/" + image_id)
            if path in self._names and not path.endswith("/"):
                return self._read(path)
        raise NotFound("image %r not found" % (image_id,))

    # -- paragraphs and chapters ------------------------------------------

    def paragraph_items(self):
        """[[index, style_name], ...] for every paragraph in the text flow;
        style names as written in content.xml (``P1``, ``Standard``)."""
        return [[index, _written_style_name(paragraph)]
                for index, paragraph in enumerate(self._paragraphs)]

    def paragraph(self, paragraph_id):
        """[text, style_name] of paragraph ``paragraph_id`` (an int)."""
        paragraph = self._nth(self._paragraphs, paragraph_id, "paragraph")
        return [_text(paragraph), _written_style_name(paragraph)]

    def chapter_items(self):
        """[[index, title], ...] for headings and Title paragraphs."""
        return [[index, _text(chapter)]
                for index, chapter in enumerate(self._chapters)]

    def chapter(self, chapter_id):
        """[title, chapter_id] of chapter ``chapter_id`` (an int)."""
        chapter = self._nth(self._chapters, chapter_id, "chapter")
        return [_text(chapter), chapter_id]

    # -- the parts, found once ---------------------------------------------

    @cached_property
    def _tables(self):
        # An unnamed table cannot be asked for by name: not listed.
        return self._text.xpath(
            ".//table:table[@table:name and %s]" % _NOT_DELETED,
            namespaces=NS)

    @cached_property
    def _images(self):
        """The draw:image of each frame showing a stored picture.

        A frame may hold alternatives of one picture (an SVG and its PNG
        fallback): only the first stored one stands for the frame.
        """
        images = []
        for frame in self._text.xpath(".//draw:frame[%s]" % _NOT_DELETED,
                                      namespaces=NS):
            for image in frame.iterchildren(_qname("draw:image")):
                if image.get(_XLINK_HREF, "").startswith("Pictures/") and (
                        image.get(_XLINK_HREF) in self._names):
                    images.append(image)
                    break
        return images

    @cached_property
    def _paragraphs(self):
        return self._text.xpath(".//text:p[%s]" % _IN_FLOW, namespaces=NS)

    @cached_property
    def _chapters(self):
        return [element for element in self._text.xpath(
            ".//text:h[%s] | .//text:p[%s]" % (_IN_FLOW, _IN_FLOW),
            namespaces=NS)
            if element.tag == _TEXT_H
            or self._style_name(element) == _TITLE_STYLE]

    def _find_table(self, table_id):
        if isinstance(table_id, str):
            for table in self._tables:
                if table.get(_TABLE_NAME) == table_id:
                    return table
        raise NotFound("table %r not found" % (table_id,))

    @staticmethod
    def _nth(elements, index, kind):
        # bool is an int, and a negative index must not count from the end.
        if (isinstance(index, int) and not isinstance(index, bool)
                and 0 <= index < len(elements)):
            return elements[index]
        raise NotFound("%s %r not found" % (kind, index))

    # -- captions ----------------------------------------------------------

    def _table_caption(self, table):
        """The whole text of the caption paragraph right after the table,
        label and number included, or ''."""
        following = table.getnext()
        while following is not None and (
                not isinstance(following.tag, str)
                or following.tag == _qname("text:soft-page-break")):
            following = following.getnext()
        if following is None or following.tag != _TEXT_P:
            return ""
        names = {following.get(_TEXT_STYLE_NAME, ""),
                 self._style_name(following)}
        if names & _TABLE_CELL_STYLES or not any(
                name.startswith(_TABLE_CAPTION_PREFIXES) for name in names):
            return ""
        return _text(following)

    @staticmethod
    def _image_caption(image):
        """The caption written beside the image's own frame, or ''.

        LibreOffice captions an image by putting it, with the caption text
        ("Illustration 1: Logo"), in a paragraph directly inside the text
        box of an outer frame.  The caption is the text after the first
        ":", stripped; without a ":" there is none (upstream's rule).
        """
        holder = image.xpath("ancestor::*[self::text:p or self::text:h][1]",
                             namespaces=NS)
        if not holder or holder[0].getparent().tag != _DRAW_TEXT_BOX:
            return ""
        _label, colon, caption = _text(holder[0]).partition(":")
        return caption.strip() if colon else ""

    # -- styles ------------------------------------------------------------

    @cached_property
    def _automatic_parents(self):
        """Automatic paragraph style name -> the style it derives from."""
        return {style.get(_qname("style:name")):
                style.get(_qname("style:parent-style-name"))
                for style in self._content.iterfind(
                    "office:automatic-styles/style:style"
                    "[@style:family='paragraph']", NS)}

    @cached_property
    def _styles(self):
        """The parsed styles.xml, or None: it is optional in a package."""
        if "styles.xml" not in self._names:
            return None
        return self._parse("styles.xml")

    @cached_property
    def _display_names(self):
        """Named paragraph style name -> its display name."""
        if self._styles is None:
            return {}
        return {style.get(_qname("style:name")):
                style.get(_qname("style:display-name"),
                          style.get(_qname("style:name")))
                for style in self._styles.iterfind(
                    "office:styles/style:style[@style:family='paragraph']",
                    NS)}

    def _style_name(self, paragraph):
        """The display name of the named style behind the paragraph: what
        recognises captions and titles (clients see the written name)."""
        name = paragraph.get(_TEXT_STYLE_NAME)
        seen = set()
        while name in self._automatic_parents and name not in seen:
            seen.add(name)
            name = self._automatic_parents[name]
        name = name or _DEFAULT_STYLE
        return self._display_names.get(name, name)

    # -- table grid --------------------------------------------------------

    def _grid(self, table):
        """The cell texts of a table, one list per row, repeats expanded.

        A covered cell takes the text of the cell whose span covers it.
        """
        grid = []
        # column -> (last row covered, text) of the latest spanning cell
        covering = {}
        budget = _GridBudget(table)
        for row in _rows(table):
            cells = [(cell.tag == _COVERED_CELL, _cell_text(cell),
                      _count(cell, "table:number-columns-repeated"),
                      _count(cell, "table:number-columns-spanned"),
                      _count(cell, "table:number-rows-spanned"))
                     for cell in row.iterchildren(_TABLE_CELL, _COVERED_CELL)]
            for _ in range(_count(row, "table:number-rows-repeated")):
                row_index = len(grid)
                texts = []
                budget.spend(1)  # so that empty repeated rows count too
                for covered, text, repeat, columns, rows in cells:
                    for _ in range(repeat):
                        column = len(texts)
                        budget.spend(1)
                        if covered:
                            last_row, cover_text = covering.get(
                                column, (-1, text))
                            texts.append(cover_text if last_row >= row_index
                                         else text)
                            continue
                        texts.append(text)
                        if columns > 1 or rows > 1:
                            budget.spend(columns)
                            for spanned in range(column, column + columns):
                                covering[spanned] = (row_index + rows - 1,
                                                     text)
                grid.append(texts)
        return grid

    # -- packaging ---------------------------------------------------------

    def _package(self, content):
        """A complete ODT around ``content`` (an office:document-content)."""
        referred = _internal_references(content, self._names)
        if self._styles is not None:
            referred |= _internal_references(self._styles, self._names)
        paths = ["content.xml"]
        if self._styles is not None:
            paths.append("styles.xml")
        paths += sorted(referred)
        output = io.BytesIO()
        with zipfile.ZipFile(output, "w") as package:
            # ODF: "mimetype" first and stored, so that tools can sniff it.
            package.writestr("mimetype", TEXT_MEDIA_TYPE,
                             compress_type=zipfile.ZIP_STORED)
            package.writestr("content.xml", etree.tostring(
                content, xml_declaration=True, encoding="UTF-8"),
                compress_type=zipfile.ZIP_DEFLATED)
            for path in paths[1:]:
                package.writestr(path, self._read(path),
                                 compress_type=self._zip.getinfo(
                                     path).compress_type)
            package.writestr("META-INF/manifest.xml",
                             self._manifest(paths, content),
                             compress_type=zipfile.ZIP_DEFLATED)
        return output.getvalue()

    def _manifest(self, paths, content):
        """manifest.xml for ``paths``, reusing the source's entries (media
        types, versions of embedded objects) where it has them."""
        original = {}
        if "META-INF/manifest.xml" in self._names:
            manifest = self._parse("META-INF/manifest.xml")
            version = manifest.get(_qname("manifest:version"))
            for entry in manifest.iterfind("manifest:file-entry", NS):
                original[entry.get(_qname("manifest:full-path"))] = entry
        else:
            version = content.get(_qname("office:version"))
            if version in ("1.0", "1.1"):
                version = None  # manifest:version came with ODF 1.2
        root = etree.Element(_qname("manifest:manifest"),
                             nsmap={"manifest": NS["manifest"]})
        if version:
            root.set(_qname("manifest:version"), version)
        # Directory entries ("Object 1/") are kept only when the source had
        # them: they carry an embedded object's media type.
        directories = sorted({path.rsplit("/", 1)[0] + "/"
                              for path in paths if "/" in path})
        for path in ["/"] + directories + paths:
            if path in original:
                root.append(deepcopy(original[path]))
            elif path not in directories:
                entry = etree.SubElement(root, _qname("manifest:file-entry"))
                entry.set(_qname("manifest:full-path"), path)
                entry.set(_qname("manifest:media-type"), _media_type(path))
                if path == "/" and version:
                    entry.set(_qname("manifest:version"), version)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    # -- zip access --------------------------------------------------------

    def _read(self, name):
        try:
            return self._zip.read(name)
        except ZIP_ERRORS as error:
            raise InvalidRequest("cannot read %s from the document: %s"
                                 % (name, error))

    def _parse(self, name):
        try:
            # A parser per call: lxml parsers must not be shared between
            # threads.  No entities, DTDs or network: the data is untrusted.
            parser = etree.XMLParser(resolve_entities=False, no_network=True,
                                     load_dtd=False)
            return etree.fromstring(self._read(name), parser)
        except etree.XMLSyntaxError as error:
            raise InvalidRequest("%s of the document is not well-formed "
                                 "XML: %s" % (name, error))

    def _is_encrypted(self, name):
        if "META-INF/manifest.xml" not in self._names:
            return False
        manifest = self._parse("META-INF/manifest.xml")
        return bool(manifest.xpath(
            "manifest:file-entry[@manifest:full-path=$name]"
            "/manifest:encryption-data", namespaces=NS, name=name))


def _rows(table):
    """The table's own rows in document order, through header rows and row
    groups but not into nested tables."""
    for child in table:
        if child.tag == _TABLE_ROW:
            yield child
        elif child.tag in _ROW_CONTAINERS:
            yield from _rows(child)


def _count(element, attribute):
    """A positive count attribute (repeated, spanned); 1 when absent or
    invalid."""
    try:
        return max(1, int(element.get(_qname(attribute), 1)))
    except ValueError:
        return 1


class _GridBudget:
    """Counts the work of expanding one table and stops a hostile one."""

    def __init__(self, table):
        self.table = table
        self.left = _MAX_TABLE_CELLS

    def spend(self, cells):
        self.left -= cells
        if self.left < 0:
            raise InvalidRequest(
                "table %r is too large: more than %d cells once repeated "
                "and merged cells are expanded"
                % (self.table.get(_TABLE_NAME), _MAX_TABLE_CELLS))


def _cell_text(cell):
    return "\n".join(_text(block) for block in _blocks(cell))


def _blocks(element):
    """The paragraphs and headings in ``element``, in document order, that
    belong to its text (see ``_NOT_INLINE``)."""
    for child in element:
        if not _is_inline(child):
            continue
        if child.tag in (_TEXT_P, _TEXT_H):
            yield child
        else:
            yield from _blocks(child)


def _is_inline(node):
    """False for comments, processing instructions and skipped content."""
    return (isinstance(node.tag, str) and node.tag not in _NOT_INLINE
            and not node.tag.startswith(_DRAW_NAMESPACE_PREFIX))


def _written_style_name(paragraph):
    """The paragraph's text:style-name as written, 'Standard' without one."""
    return paragraph.get(_TEXT_STYLE_NAME) or _DEFAULT_STYLE


def _picture_name(image):
    """The file name of a stored picture: its path under Pictures/."""
    return image.get(_XLINK_HREF)[len("Pictures/"):]


def _text(element):
    return "".join(_text_parts(element))


def _text_parts(element):
    """The pieces of an element's text as displayed (see the module
    docstring)."""
    if element.text:
        yield element.text
    for child in element:
        if _is_inline(child):
            if child.tag == _TEXT_S:
                yield " " * min(_count(child, "text:c"), _MAX_SPACE_RUN)
            elif child.tag == _TEXT_TAB:
                yield "\t"
            elif child.tag == _TEXT_LINE_BREAK:
                yield "\n"
            else:
                yield from _text_parts(child)
        if child.tail:
            yield child.tail


def _internal_references(tree, names):
    """The zip entries that xlink:href attributes in ``tree`` point to.

    An href names a file ("Pictures/x.png") or a directory ("./Object 1",
    an embedded object); links to other files or URLs match no entry.
    """
    entries = set()
    for element in tree.iter(etree.Element):
        href = element.get(_XLINK_HREF)
        if not href:
            continue
        path = href[2:] if href.startswith("./") else href
        if path in names:
            entries.add(path)
        else:
            prefix = path.rstrip("/") + "/"
            entries.update(name for name in names
                           if name.startswith(prefix) and name != prefix)
    # table() writes these itself: a link to one must not add a duplicate.
    return {entry for entry in entries if entry not in _PACKAGE_FILES
            and not entry.startswith("META-INF/")}


def _media_type(path):
    if path == "/":
        return TEXT_MEDIA_TYPE
    if path.endswith(".xml"):
        return "text/xml"
    return mimetypes.guess_type(path)[0] or ""
