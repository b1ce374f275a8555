"""Refuse documents whose images or objects point outside themselves.

LibreOffice fetches linked images and objects while loading (http, ftp,
file://, absolute paths), which turns a conversion server into a request
forger and a local-file reader.  This module reads the document's own
structure before LibreOffice sees it.  Hyperlinks (``text:a``, ``<a href>``,
OOXML hyperlink relationships) are not fetched, so they are allowed;
``data:`` URIs and paths inside the document are allowed.
"""

import html.parser
import posixpath
import re
import zipfile
from urllib.parse import unquote

from lxml import etree

from cloudooo.errors import UnsafeDocument

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
# Elements whose xlink:href is a link for the reader, never fetched.
HYPERLINK_TAGS = (
    "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}a",
    "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}a",
    "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}event-listener",
    "{urn:oasis:names:tc:opendocument:xmlns:script:1.0}event-listener",
    "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}event-listener",
    "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}bookmark-ref",
)
OOXML_EXTERNAL_SAFE_TYPES = ("/hyperlink",)
# Word fields that fetch their argument; only read inside field
# instructions (w:instrText, w:fldSimple/@w:instr, RTF's \fldinst).
FIELD_FETCHING = re.compile(
    r"\b(INCLUDEPICTURE|INCLUDETEXT|IMPORT|LINK)\b\s+(\\\w\s+)*\"?"
    r"([^\"\s}]+)", re.IGNORECASE)
RTF_FIELD_INSTRUCTION = re.compile(r"\\fldinst\s*(\{[^}]*\}|[^}]*)")
WORD_INSTRUCTION_TEXT = ("}instrText", "}delInstrText")
WORD_INSTRUCTION_ATTRIBUTE = (
    "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}instr")
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)", re.IGNORECASE)
HTML_FETCHED_ATTRIBUTES = {
    "img": ("src", "srcset", "lowsrc", "dynsrc"),
    "image": ("href", "xlink:href"),
    "input": ("src",),
    "script": ("src",),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data", "codebase"),
    "applet": ("code", "codebase", "archive"),
    "link": ("href",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "source": ("src", "srcset"),
    "track": ("src",),
    "body": ("background",),
    "table": ("background",),
    "td": ("background",),
    "th": ("background",),
}

XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True,
                             huge_tree=True, load_dtd=False)


def is_unsafe_reference(target):
    """True when loading ``target`` would reach outside the document."""
    target = (target or "").strip()
    if not target or target.startswith("#"):
        return False
    lowered = target.lower()
    if lowered.startswith("data:"):
        return False
    if re.match(r"^[a-z][a-z0-9+.-]*:", lowered):
        # Any scheme: http, https, ftp, file, smb, jar, vnd.sun.star.*...
        return True
    if target.startswith(("/", "\\")) or re.match(r"^[a-zA-Z]:[\\/]",
                                                   target):
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
    return normalized.startswith("../") and not re.match(
        r"^\.\./(Pictures|Object|ObjectReplacements|media)/", normalized)


def _refuse(target, where):
    raise UnsafeDocument(
        "This document contains unsafe links: %s (in %s); links to images "
        "or objects outside the document are refused" % (target[:200], where))


def check_xml(data, where):
    """ODF XML (content.xml, styles.xml or a flat fodt/fods), or SVG."""
    try:
        root = etree.fromstring(data, XML_PARSER)
    except etree.XMLSyntaxError:
        return  # LibreOffice will say the document is broken
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        href = element.get(XLINK_HREF)
        if href is None and element.tag.startswith(SVG_NAMESPACE):
            href = element.get("href")  # SVG 2 drops the xlink prefix
        if href is not None and element.tag not in HYPERLINK_TAGS and \
                element.tag != SVG_NAMESPACE + "a":
            if is_unsafe_reference(href):
                _refuse(href, where)


def _check_field_instruction(text, where):
    for match in FIELD_FETCHING.finditer(text):
        if is_unsafe_reference(match.group(3)):
            _refuse(match.group(3), where)


def _check_word_fields(data, where):
    try:
        root = etree.fromstring(data, XML_PARSER)
    except etree.XMLSyntaxError:
        return
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.endswith(WORD_INSTRUCTION_TEXT) and element.text:
            _check_field_instruction(element.text, where)
        instruction = element.get(WORD_INSTRUCTION_ATTRIBUTE)
        if instruction:
            _check_field_instruction(instruction, where)


class _HtmlReferences(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.references = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        fetched = HTML_FETCHED_ATTRIBUTES.get(tag, ())
        for name, value in attrs:
            if value is None:
                continue
            if name in fetched:
                candidates = (value.split(",") if name.endswith("srcset")
                              else [value])
                for candidate in candidates:
                    self.references.append(candidate.strip().split(" ")[0])
            if name == "style":
                self.references.extend(CSS_URL.findall(value))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.references.extend(CSS_URL.findall(data))
            self.references.extend(re.findall(
                r"@import\s+['\"]([^'\"]+)", data))


def check_html(data, where="HTML"):
    parser = _HtmlReferences()
    parser.feed(data.decode("utf-8", "replace"))
    parser.close()
    for reference in parser.references:
        if is_unsafe_reference(reference):
            _refuse(reference, where)


def check_package(path):
    """A zip: an ODF package or an OOXML one (docx, xlsx, pptx)."""
    try:
        package = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return
    with package:
        names = package.namelist()
        for name in names:
            lowered = name.lower()
            if lowered.endswith(".xml") and (
                    lowered in ("content.xml", "styles.xml")
                    or lowered.endswith("/content.xml")
                    or lowered.endswith("/styles.xml")):
                check_xml(package.read(name), name)
            elif lowered.endswith(".rels"):
                _check_relationships(package.read(name), name)
            elif lowered.startswith("word/") and lowered.endswith(".xml"):
                _check_word_fields(package.read(name), name)


def _check_relationships(data, where):
    try:
        root = etree.fromstring(data, XML_PARSER)
    except etree.XMLSyntaxError:
        return
    for relationship in root.iter():
        if not isinstance(relationship.tag, str):
            continue
        if relationship.get("TargetMode", "").lower() != "external":
            continue
        if relationship.get("Type", "").endswith(OOXML_EXTERNAL_SAFE_TYPES):
            continue
        # Every external relationship but a hyperlink is fetched on load.
        _refuse(relationship.get("Target", ""), where)


def check_document(path, extension):
    """Raise UnsafeDocument if the file at ``path`` links outside itself."""
    with open(path, "rb") as stream:
        head = stream.read(4)
    if head.startswith(b"PK"):
        check_package(path)
        return
    with open(path, "rb") as stream:
        data = stream.read()
    if extension in ("html", "htm", "xhtml") or data.lstrip()[:200].lower() \
            .startswith((b"<!doctype html", b"<html")):
        check_html(data)
    elif data.lstrip().startswith(b"<?xml") or extension.startswith("fod") \
            or extension == "svg" or b"<svg" in data[:1024]:
        check_xml(data, extension)
    elif extension == "rtf" or data.startswith(b"{\\rtf"):
        for instruction in RTF_FIELD_INSTRUCTION.findall(
                data.decode("latin-1")):
            _check_field_instruction(instruction, "RTF")
