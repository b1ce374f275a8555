"""Refuse documents whose images or objects point outside themselves.

LibreOffice fetches linked images and objects while loading (http, ftp,
file://, absolute paths), which turns a conversion server into a request
forger and a local-file reader.  This module reads the document's own
structure before LibreOffice sees it: the first of two defences (the second
is the sandbox LibreOffice runs in).

The parser is chosen by what the bytes are (``sniff``), never by the
declared format: LibreOffice's type detection does the same.  Packages (ODF,
OOXML, any zip) have every markup member checked, SVG and gzipped SVG
pictures included, and their OOXML relationships; markup (flat ODF, SVG,
XML, HTML, an HTML fragment) is checked both as XML and as HTML, HTML with
the HTML5 tokenizer of libxml2 >= 2.14, which reads broken markup
(``<!-->``...) as browsers do; RTF has its field instructions checked.
Binary OLE2 files and PDF cannot be parsed here: the sandbox protects them,
and ``refresh`` never updates links.

Everything is read streaming: zip members through ``BoundedZip`` (no
decompression bomb), XML and HTML with ``iterparse``, elements freed as soon
as they are checked, so memory stays flat whatever the document's size.

Not refused, because LibreOffice does not fetch them on load: hyperlinks
(``text:a``, ``<a href>``, OOXML hyperlink relationships referenced as
hyperlinks), HTML ``<link>`` whose ``rel`` is not a stylesheet, ``data:``
URIs, fragments and paths inside the document.
"""

import gzip
import io
import os
import posixpath
import re
import threading
import zlib
from urllib.parse import unquote

from lxml import etree

from cloudooo.errors import InvalidRequest, UnsafeDocument
from cloudooo.handler.ooo import sniff
from cloudooo.handler.ooo.boundedzip import (ZIP_ERRORS, BoundedMember,
                                             BoundedZip)

if etree.LIBXML_VERSION < (2, 14):
    # Older libxml2 tokenizes HTML its own way, not as browsers do: an
    # <img> after "<!-->" would go unseen.
    raise ImportError("cloudooo's link check needs libxml2 >= 2.14 (lxml >= "
                      "6); this lxml has libxml2 %s"
                      % ".".join(map(str, etree.LIBXML_VERSION)))

XFORMS_NAMESPACE = "http://www.w3.org/2002/xforms"
VML_NAMESPACE = "urn:schemas-microsoft-com:vml"
RELATIONSHIP_NAMESPACES = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships")
WORD_NAMESPACES = (
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main")

# Elements whose href is a link for the reader, followed on a click, never
# fetched on load (ODF text:a, draw:a, event listeners; SVG, XHTML and
# HTML a/area; OOXML hyperlinks).  HTML <link> is decided by its rel.
HYPERLINK_ELEMENTS = frozenset((
    "a", "area", "event-listener", "bookmark-ref", "hyperlink",
    "hlinkClick", "hlinkHover", "hlinkMouseOver"))
# Attributes, whatever their namespace, that name something loaded with
# the document: xlink:href (ODF, SVG), SVG 2 href, form:image-data, a form's
# data source (a registered name passes, a URL does not), VML and HTML src
# and friends.
FETCHED_ATTRIBUTES = frozenset((
    "href", "src", "image-data", "lowsrc", "dynsrc", "background", "poster",
    "codebase", "archive", "datasource"))
SRCSET_ATTRIBUTES = frozenset(("srcset", "imagesrcset"))
# Every attribute name _check_element looks at (besides relationship Ids).
CHECKED_ATTRIBUTES = FETCHED_ATTRIBUTES | SRCSET_ATTRIBUTES | frozenset((
    "style", "data", "code", "schema", "instr"))

# Word fields that fetch their argument; only read inside field
# instructions (w:instrText, w:fldSimple/@w:instr, RTF's \fldinst).
FIELD_FETCHING = re.compile(r"\b(INCLUDEPICTURE|INCLUDETEXT|IMPORT|LINK)\b",
                            re.IGNORECASE)
# A field's arguments: quoted, or words; switches (\d, \* MERGEFORMAT's
# star) are skipped, every other argument may be what is fetched.
FIELD_ARGUMENT = re.compile(r'"([^"]*)"?|(\S+)')
FIELD_SWITCH = re.compile(r"^\\[\w*@#!]$")
# A field's instruction text kept to check; longer ones are cut there.
MAX_FIELD_INSTRUCTION = 64 * 1024

CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)", re.IGNORECASE)
CSS_IMPORT = re.compile(r"@import\s+['\"]([^'\"]+)", re.IGNORECASE)
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.DOTALL)

RTF_HEX_ESCAPE = re.compile(rb"\\'([0-9a-fA-F]{2})")
RTF_UNICODE_ESCAPE = re.compile(rb"\\u(-?\d{1,6}) ?\??")
RTF_CONTROL_WORD = re.compile(r"\\[a-zA-Z]+-?\d* ?|\\\*|[{}]")
RTF_FIELD_INSTRUCTION = re.compile(r"\\fldinst\b")

# A member this long is enough to tell markup from a picture.
MEMBER_HEAD_SIZE = 512
GZIP_SIGNATURE = b"\x1f\x8b"
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
# Elements whose content the HTML5 tokenizer reads as text (RCDATA,
# RAWTEXT, PLAINTEXT in the HTML standard), script and style aside.
HTML5_TEXT_ONLY_ELEMENTS = frozenset((
    "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript",
    "plaintext"))
# External hyperlink relationships remembered per package, at most.
MAX_EXTERNAL_HYPERLINKS = 100000
# Packages inside packages (a docx in a docx) are checked this deep.
MAX_PACKAGE_NESTING = 3
# Raw text inside raw text (<title><xmp><title>...) is scanned this deep.
MAX_HTML_NESTING = 8
URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:")
WINDOWS_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")
INSIDE_ODF_PACKAGE = re.compile(
    r"^\.\./(Pictures|Object|ObjectReplacements|media)/")
# Documents repeat the same few names thousands of times: splitting each
# once is most of the check's speed.  Bounded: names come from the document.
_SPLIT_TAGS = {}
MAX_CACHED_NAMES = 10000
# XML attribute names (namespace resolved) found to be of no interest.
_UNCHECKED_XML_NAMES = set()
# A member up to this size (declared, which bounds what zipfile inflates)
# is inflated once, whole, and its markup parsed whole (scan_xml_bytes).
WHOLE_MEMBER_SIZE = 1024 * 1024
# What browsers strip from URLs before reading them.
URL_INVISIBLES = re.compile(r"[\t\n\r]")


def is_unsafe_reference(target):
    """True when loading ``target`` would reach outside the document."""
    target = URL_INVISIBLES.sub("", target or "").strip(
        "".join(map(chr, range(0x21))))
    if not target or target.startswith("#"):
        return False
    lowered = target.lower()
    if lowered.startswith("data:"):
        return False
    if URL_SCHEME.match(lowered):
        # Any scheme: http, https, ftp, file, smb, jar, vnd.sun.star.*...
        return True
    if target.startswith(("/", "\\")) or WINDOWS_DRIVE.match(target):
        return True
    path = unquote(target).replace("\\", "/")
    normalized = posixpath.normpath(path)
    # ODF packages say "../Pictures/x" for content next to content.xml in a
    # sub-document; what matters is escaping the document's folder.
    depth = 0
    for part in normalized.split("/"):
        if part == "..":
            depth -= 1
        elif part not in ("", "."):
            depth += 1
        if depth < -1:
            return True
    return normalized.startswith("../") and not INSIDE_ODF_PACKAGE.match(
        normalized)


def _refuse(target, where):
    # Clients match on this beginning: the URL follows the space directly.
    raise UnsafeDocument(
        "This document contains unsafe links %s (in %s); links to images "
        "or objects outside the document are refused"
        % (target.strip()[:200], where))


def _check(target, where):
    if is_unsafe_reference(target):
        _refuse(target, where)


# -- entry points ------------------------------------------------------------

def check_document(path, budget, plain_text=False):
    """Raise UnsafeDocument if the file at ``path`` links outside itself.

    ``budget`` (an UnpackBudget) caps what zips may inflate; ``plain_text``
    says LibreOffice will load the file with a text filter, so markup in it
    is only text.
    """
    with open(path, "rb") as stream:
        head = stream.read(sniff.HEAD_SIZE)
    if sniff.is_zip(head):
        # ODF, OOXML or another zip: checked alike, no need to tell which
        # (which would read the zip's directory once more).
        check_package(path, budget)
        return
    kind = sniff.sniff_head(head)
    if kind == sniff.RTF:
        with open(path, "rb") as stream:
            check_rtf(stream.read())
    elif kind in (sniff.OLE2, sniff.PDF) or plain_text:
        return
    else:
        check_markup_file(path, os.path.basename(path))


def check_folder(directory, budget):
    """Every file of an unpacked HTML page: pages and SVG (svgz too) as
    markup, every other text file as a stylesheet (a <link rel=stylesheet>
    may name any file, whatever its extension).  ``budget`` caps what
    gzipped files may inflate."""
    for folder, _dirs, files in os.walk(directory):
        for name in sorted(files):
            path = os.path.join(folder, name)
            where = os.path.relpath(path, directory)
            with open(path, "rb") as stream:
                head = stream.read(MEMBER_HEAD_SIZE)
            if sniff.is_markup(head) or name.lower().endswith(
                    HTML_SUFFIXES):
                check_markup_file(path, where)
            elif head.startswith(GZIP_SIGNATURE):
                _scan_gzipped(lambda: open(path, "rb"), where,
                              os.path.getsize(path), budget)
            elif b"\x00" not in head:  # text, not a picture
                with open(path, "rb") as stream:
                    check_css(stream.read().decode("utf-8", "replace"), where)


def check_markup_file(path, where):
    """XML (flat ODF, SVG, XHTML) and HTML, including fragments: checked
    both ways, as LibreOffice's detection may read it either way."""
    with open(path, "rb") as stream:
        scan_xml(stream, where)
    with open(path, "rb") as stream:
        scan_html(stream, where)


def check_html(data, where="HTML"):
    """HTML bytes (for tests and callers holding the page in memory)."""
    scan_html(io.BytesIO(data), where)


def check_xml(data, where):
    """XML bytes (for tests and callers holding the XML in memory)."""
    scan_xml(io.BytesIO(data), where)


# -- packages -----------------------------------------------------------------

def check_package(source, budget, depth=0):
    """A zip (a path or a binary file object): ODF, OOXML or other.
    Members that are markup, RTF, svgz or zips themselves (OOXML altChunk,
    embedded packages) are checked; OOXML relationships first, as the parts
    refer to them by Id."""
    try:
        package = BoundedZip(source, budget)
    except ZIP_ERRORS:
        return  # no readable zip: LibreOffice will say it is broken
    with package:
        members = [info for info in package.infolist()
                   if not info.filename.endswith("/")]
        hyperlinks = {}
        for info in members:
            if info.filename.lower().endswith(".rels"):
                _read_member(package, info, hyperlinks, depth)
        for info in members:
            if not info.filename.lower().endswith(".rels"):
                _read_member(package, info, hyperlinks, depth)


def _read_member(package, info, hyperlinks, depth):
    name = info.filename
    try:
        whole = None
        if info.file_size <= WHOLE_MEMBER_SIZE:
            # Inflated once for its head and its check: opening a zip
            # member costs more than reading a small one.  The declared
            # size bounds what zipfile inflates.
            whole = package.read(info)
            head = whole[:MEMBER_HEAD_SIZE]
        else:
            head = package.read(info, MEMBER_HEAD_SIZE)

        def member_stream():
            return io.BytesIO(whole) if whole is not None \
                else package.open(info)

        if name.lower().endswith(".rels"):
            with member_stream() as member:
                _scan_relationships(member, name, hyperlinks)
        elif sniff.is_markup(head):
            if whole is not None:
                scan_xml_bytes(whole, name, hyperlinks.get(name))
            else:
                with package.open(info) as member:
                    scan_xml(member, name, hyperlinks.get(name))
            if name.lower().endswith(HTML_SUFFIXES) or \
                    b"<html" in head.lower():
                with member_stream() as member:
                    scan_html(member, name)
        elif head.startswith(GZIP_SIGNATURE):
            _scan_gzipped(member_stream, name, info.compress_size,
                          package.budget)
        elif head.startswith((sniff.ZIP_SIGNATURE, sniff.RTF_SIGNATURE)):
            # counted against the budget
            data = whole if whole is not None else package.read(info)
            if data.startswith(sniff.RTF_SIGNATURE):
                check_rtf(data)
            elif depth < MAX_PACKAGE_NESTING:
                check_package(io.BytesIO(data), package.budget, depth + 1)
            else:
                _refuse(name, "a package nested too deeply")
    except ZIP_ERRORS:
        # Damaged or encrypted: what was streamed so far was checked, and
        # LibreOffice cannot read further than zipfile could.
        return


def _scan_gzipped(open_stream, where, compressed_size, budget):
    """A gzipped file is SVG to LibreOffice when it inflates to markup
    (svgz); inflated under ``budget``, as a zip member is."""
    try:
        with open_stream() as stream, gzip.GzipFile(fileobj=stream) as inner:
            head = BoundedMember(inner, where, compressed_size, budget).read(
                MEMBER_HEAD_SIZE)
        if sniff.is_markup(head):
            with open_stream() as stream, \
                    gzip.GzipFile(fileobj=stream) as inner:
                scan_xml(BoundedMember(inner, where, compressed_size, budget),
                         where)
    except (gzip.BadGzipFile, EOFError, zlib.error):
        return  # not gzip after all: no picture LibreOffice could read


def _relationships_owner(rels_name):
    """``word/_rels/document.xml.rels`` describes ``word/document.xml``."""
    folder, _rels, file_name = rels_name.rpartition("_rels/")
    return folder + file_name[:-len(".rels")]


def _scan_relationships(stream, where, hyperlinks):
    """Refuse external relationships but hyperlinks; remember those, so
    that a part using one as anything but a hyperlink is refused."""
    external = {}
    known = sum(len(ids) for ids in hyperlinks.values())
    for _event, element in _iterparse(stream):
        if _local_name(element.tag) == "Relationship":
            _check_relationship(element, where, external)
            if known + len(external) > MAX_EXTERNAL_HYPERLINKS:
                # Each is remembered until the parts are read: bounded.
                raise InvalidRequest("document has more than %d external "
                                     "hyperlinks" % MAX_EXTERNAL_HYPERLINKS)
        _free(element)
    hyperlinks[_relationships_owner(where)] = external


def _check_relationship(element, where, external):
    target = element.get("Target", "")
    if element.get("TargetMode", "").lower() == "external":
        if not element.get("Type", "").endswith("/hyperlink"):
            # LibreOffice fetches external images, objects, frames...
            _check(target, where)
        external[element.get("Id")] = target
    elif URL_SCHEME.match(target.strip().lower()):
        # Internal targets are part names; a URL there is no part.
        _check(target, where)


# -- XML ----------------------------------------------------------------------

def scan_xml(stream, where, external_hyperlinks=None, free=True):
    """Stream-parse XML (ODF, OOXML part, SVG with or without namespace,
    XHTML) and refuse what would be fetched.  ``external_hyperlinks`` maps
    the part's relationship Ids of external hyperlinks to their targets.

    Elements are checked at their end (attributes and text are complete
    then; one event per element is half the cost of two), then freed
    unless ``free`` is false (a small document: freeing costs more than
    the memory it saves).
    """
    try:
        _check_xml_events(_iterparse(stream, events=("end", "pi")), where,
                          external_hyperlinks, free)
    except etree.LxmlError:
        return  # not XML after all (HTML, text): other checks apply


def scan_xml_bytes(data, where, external_hyperlinks=None):
    """``scan_xml`` of a small part held whole, with the same events in the
    same order: parsed in one go, then walked (half the CPU of iterparse
    on the parts of a small document).  What the parser cannot read whole
    goes through ``scan_xml``, which checks what comes before the error."""
    try:
        root = etree.fromstring(data, _whole_xml_parser())
    except etree.LxmlError:
        root = None
    if root is None:
        scan_xml(io.BytesIO(data), where, external_hyperlinks, free=False)
        return
    # Walking the document, not its root, includes the processing
    # instructions before and after the root, as iterparse reports them.
    _check_xml_events(etree.iterwalk(root.getroottree(),
                                     events=("end", "pi")),
                      where, external_hyperlinks, free=False)


def _check_xml_events(events, where, external_hyperlinks, free):
    field = _FieldInstruction(where)
    for event, element in events:
        if event == "pi":
            # <?xml-stylesheet href="..."?> loads a stylesheet.
            _check(element.get("href"), where)
            continue
        tag = element.tag
        if not isinstance(tag, str):
            continue
        names = element.keys()
        # Most elements have only attributes known to be of no interest:
        # told in C, without a call per attribute.
        if names and (external_hyperlinks or
                      not _UNCHECKED_XML_NAMES.issuperset(names)):
            _check_element(element, where, False, external_hyperlinks)
        local = (_SPLIT_TAGS.get(tag) or _split_tag(tag))[1]
        if local == "fldChar":
            field.boundary()
        elif local in ("instrText", "delInstrText"):
            field.add(element.text)
        elif local == "style" and element.text:
            check_css(element.text, where)
        if free:
            _free(element)
    field.end()


_parsers = threading.local()


def _whole_xml_parser():
    """A parser with ``_iterparse``'s options, one per thread (an lxml
    parser is not to be used by two threads at once)."""
    parser = getattr(_parsers, "xml", None)
    if parser is None:
        parser = _parsers.xml = etree.XMLParser(
            resolve_entities=False, load_dtd=False, no_network=True,
            huge_tree=True, recover=True, remove_comments=True)
    return parser


def _check_element(element, where, html=False, external_hyperlinks=None):
    """One element's attributes, for XML (namespaces resolved) and HTML
    (names as written, lowercased) alike."""
    attributes = element.attrib
    if html or external_hyperlinks:
        names = attributes.keys()
    else:
        # Most attributes (style names, sizes...) are not looked at: skip
        # them by name, without reading their values.
        names = [name for name in attributes.keys()
                 if name not in _UNCHECKED_XML_NAMES]
        if not names:
            return
    element_name = None
    for name in names:
        value = attributes[name]
        attribute_namespace, attribute = _split_tag(name.lower() if html
                                                    else name)
        if attribute not in CHECKED_ATTRIBUTES and not (
                external_hyperlinks and value in external_hyperlinks):
            if not html and len(_UNCHECKED_XML_NAMES) < MAX_CACHED_NAMES:
                _UNCHECKED_XML_NAMES.add(name)
            continue  # most attributes: style names, sizes...
        if element_name is None:
            element_name = _split_tag(element.tag.lower() if html
                                      else element.tag)
        namespace, local = element_name
        if attribute in FETCHED_ATTRIBUTES:
            if attribute == "href" and _is_hyperlink(element, namespace,
                                                     local):
                continue
            # Includes <base href>, which makes every relative src remote.
            _check(value, where)
        elif attribute in SRCSET_ATTRIBUTES:
            _check_srcset(value, where)
        elif attribute == "style":
            check_css(value, where)
        elif attribute in ("data", "code") and local in ("object", "applet"):
            _check(value, where)
        elif attribute == "schema" and namespace == XFORMS_NAMESPACE:
            for schema in value.split():
                _check(schema, where)
        elif attribute == "instr" and attribute_namespace in WORD_NAMESPACES:
            _check_field_instruction(value, where)
        elif external_hyperlinks and value in external_hyperlinks and (
                attribute_namespace in RELATIONSHIP_NAMESPACES
                or attribute == "relid"):
            # LibreOffice fetches r:link, r:embed... targets by Id, whatever
            # the relationship's type; only a hyperlink may use one.
            if not (attribute == "id" and local in HYPERLINK_ELEMENTS):
                _check(external_hyperlinks[value], where)


def _is_hyperlink(element, namespace, local):
    """An href followed on a click, not fetched on load."""
    if local == "link":
        return not _is_stylesheet(element)
    # VML's href on a shape is its hyperlink; its pictures use src.
    return local in HYPERLINK_ELEMENTS or namespace == VML_NAMESPACE


class _FieldInstruction:
    """A Word field's instruction, which Word splits over several runs."""

    def __init__(self, where):
        self.where = where
        self.text = ""

    def add(self, text):
        if text and len(self.text) < MAX_FIELD_INSTRUCTION:
            self.text += text
            _check_field_instruction(self.text, self.where)

    def boundary(self):
        self.end()
        self.text = ""

    def end(self):
        if self.text:
            _check_field_instruction(self.text, self.where)


def _check_field_instruction(text, where):
    match = FIELD_FETCHING.search(text)
    if match is None:
        return
    for quoted, word in FIELD_ARGUMENT.findall(text, match.end()):
        if word and FIELD_SWITCH.match(word):
            continue
        _check(quoted or word, where)


# -- HTML ---------------------------------------------------------------------

def scan_html(stream, where, depth=0):
    """Stream-parse HTML with libxml2's HTML5 tokenizer; as scan_xml.

    What HTML5 keeps as text (<title>, <textarea>, <xmp>, <noembed>,
    <iframe>... content) may be markup to LibreOffice's older parser: such
    text is scanned as HTML too."""
    if depth > MAX_HTML_NESTING:
        raise UnsafeDocument("This document contains unsafe links hidden in "
                             "markup nested too deeply (in %s)" % where)
    try:
        for _event, element in _iterparse(stream, html=True):
            if not isinstance(element.tag, str):
                continue
            _check_element(element, where, html=True)
            tag = element.tag.lower()
            text = element.text
            if text and tag == "style":
                check_css(text, where)
            elif text and tag in HTML5_TEXT_ONLY_ELEMENTS and "<" in text:
                scan_html(io.BytesIO(text.encode("utf-8")), where,
                          depth + 1)
            _free(element)
    except etree.LxmlError:
        return  # nothing an HTML parser could read further


def _is_stylesheet(element):
    return "stylesheet" in (element.get("rel") or "").lower()


def _check_srcset(value, where):
    for candidate in value.split(","):
        words = candidate.split()
        if words:
            _check(words[0], where)


# -- CSS and RTF --------------------------------------------------------------

def check_css(text, where):
    """url() and @import in a stylesheet or a style attribute."""
    text = CSS_COMMENT.sub("", text)
    text = CSS_ESCAPE.sub(_css_unescape, text)
    for reference in CSS_URL.findall(text) + CSS_IMPORT.findall(text):
        _check(reference, where)


def _css_unescape(match):
    if match.group(1):
        code = int(match.group(1), 16)
        return chr(code) if 0 < code < 0x110000 else "\ufffd"
    return match.group(2)


def check_rtf(data):
    """Field instructions of an RTF document, escapes decoded."""
    data = RTF_HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
    data = RTF_UNICODE_ESCAPE.sub(
        lambda m: chr(int(m.group(1)) % 65536).encode("utf-8",
                                                       "surrogatepass"), data)
    text = data.decode("latin-1")
    for match in RTF_FIELD_INSTRUCTION.finditer(text):
        instruction = _rest_of_group(text, match.end())
        # "\\" is a backslash of the text (a field switch: \\* MERGEFORMAT)
        # and must survive the removal of control words.
        instruction = instruction.replace("\\\\", "\x00")
        instruction = RTF_CONTROL_WORD.sub(" ", instruction)
        _check_field_instruction(instruction.replace("\x00", "\\"), "RTF")


def _rest_of_group(text, start):
    """From ``start`` to the end of the group enclosing it, nested groups
    included (a field instruction may be split into several)."""
    depth = 0
    position = start
    end = min(len(text), start + MAX_FIELD_INSTRUCTION)
    while position < end:
        character = text[position]
        if character == "\\":
            position += 1  # an escaped brace does not count
        elif character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
            if depth < 0:
                return text[start:position]
        position += 1
    return text[start:end]


# -- parsing helpers ----------------------------------------------------------

def _iterparse(stream, html=False, events=("end",)):
    # No entities, DTDs or network: the data is untrusted.  huge_tree: a
    # long text node (an embedded picture) must not stop the check early;
    # recover: read on past errors, as far as LibreOffice might.
    return etree.iterparse(stream, events=events, html=html,
                           resolve_entities=False, load_dtd=False,
                           no_network=True, huge_tree=True, recover=True,
                           remove_comments=True)


def _free(element):
    """Drop what was checked: memory stays flat on huge documents."""
    if len(element):
        element.clear(keep_tail=True)
    parent = element.getparent()
    # The root's siblings (processing instructions) have no parent.
    if parent is not None and element.getprevious() is not None:
        while element.getprevious() is not None:
            del parent[0]


def _split_tag(tag):
    """(namespace, local name) of an element or attribute name."""
    split = _SPLIT_TAGS.get(tag)
    if split is None:
        if tag.startswith("{"):
            namespace, _brace, local = tag[1:].partition("}")
            split = namespace, local
        else:
            # Unparsed prefixes (HTML, XML without namespace declarations).
            split = "", tag.rpartition(":")[2]
        if len(_SPLIT_TAGS) < MAX_CACHED_NAMES:
            _SPLIT_TAGS[tag] = split
    return split


def _local_name(tag):
    return _split_tag(tag)[1]
