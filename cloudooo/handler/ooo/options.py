"""Export options of the office handler: ``conversion_kw`` keys, as data.

One table, ``EXPORT_OPTIONS``, declares every key once: its name, the
targets it applies to (a *family* of LibreOffice export filters), how its
value is checked and what it becomes for LibreOffice (FilterData of the PDF
and image export filters, a token of the CSV or text filter options, or an
instruction to the UNO worker).  The README's list and the validation both
read this table, so they cannot disagree.

Keys are checked in the server, before LibreOffice sees the document: a
wrong value, or a key that the destination does not take, is an
``InvalidRequest`` (Fault 2) naming the key; nothing is silently ignored.
The property names were checked against LibreOffice 7.4's filters
(filter/source/pdf/pdfexport.cxx, filter/source/graphic, sc's ScImportOptions
and sw's SwAsciiOptions).
"""

import codecs
import dataclasses
import re
import textwrap
from typing import Callable

from cloudooo.errors import InvalidRequest

# Families of export filters, named by what they write.
PDF = "pdf"
IMAGE = "image"
CSV = "csv"
TEXT = "text"
FAMILIES = (PDF, IMAGE, CSV, TEXT)
ALL_TARGETS = "all"

IMAGE_FILTER = re.compile(r"_(png|jpg|webp|gif|bmp|tif)_Export$")
CSV_FILTER = "Text - txt - csv (StarCalc)"
TEXT_FILTER_PREFIX = "Text (encoded)"


def filter_family(filter_name):
    """The family of an export filter, or None (no export options)."""
    if filter_name.endswith("_pdf_Export"):
        return PDF
    if IMAGE_FILTER.search(filter_name):
        return IMAGE
    if filter_name == CSV_FILTER:
        return CSV
    if filter_name.startswith(TEXT_FILTER_PREFIX):
        return TEXT
    return None


# SelectPdfVersion of LibreOffice's PDF export (0 is its PDF 1.6 default).
PDF_VERSIONS = {"PDF/A-1b": 1, "PDF/A-2b": 2, "PDF/A-3b": 3, "PDF-1.7": 17}
PDF_A_VERSIONS = (1, 2, 3)

# Encodings of text and CSV output: Python's name for it -> (the number of
# LibreOffice's rtl_TextEncoding, which Calc's CSV options take; the name
# Writer's text options take).  Writer's UTF8 writes a byte order mark, as
# the "Text (encoded)" default always did; UCS2 is UTF-16 little endian
# with a byte order mark.
ENCODINGS = {
    "utf-8": (76, "UTF8"),
    "utf-16": (65535, "UCS2"),
    "iso8859-1": (12, "ISO_8859_1"),
    "iso8859-15": (22, "ISO_8859_15"),
    "cp1252": (1, "MS_1252"),
    "ascii": (11, "ASCII_US"),
}
ENCODING_NAMES = "utf-8, utf-16, latin-1, iso-8859-15, windows-1252, ascii"

PAGE_RANGE = re.compile(r"^\d+(-\d*)?([,;]\d+(-\d*)?)*$")
MAX_PIXELS = 10000         # per side of an exported image
MAX_WATERMARK_LENGTH = 200
MAX_PASSWORD_LENGTH = 512
TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")


# -- value checks: each takes the client's value, returns the clean one or
# raises ValueError with what was expected ------------------------------

def boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in \
            TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError("a boolean")


def integer(low, high):
    def check(value):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or \
                not low <= value <= high:
            raise ValueError("an integer from %d to %d" % (low, high))
        return value
    check.expected = "integer %d-%d" % (low, high)
    return check


def text(max_length):
    def check(value):
        if not isinstance(value, str) or not value or \
                len(value) > max_length or not value.isprintable():
            raise ValueError("a non-empty printable string of at most %d "
                             "characters" % max_length)
        return value
    check.expected = "string"
    return check


def script(value):
    if value == "":
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Python source, a non-empty string")
    return value


def input_password(value):
    """The password that opens the input; '' is no password (clients that
    always send the key)."""
    if value == "":
        return None
    return text(MAX_PASSWORD_LENGTH)(value)


def one_of(choices):
    def check(value):
        if value not in choices:
            raise ValueError("one of %s" % ", ".join(choices))
        return value
    check.expected = " | ".join(choices)
    return check


def page_range(value):
    cleaned = value.replace(" ", "") if isinstance(value, str) else ""
    if not PAGE_RANGE.match(cleaned) or any(
            int(page) < 1 for page in re.findall(r"\d+", cleaned)) or any(
            int(first) > int(last) for first, last in
            re.findall(r"(\d+)-(\d+)", cleaned)):
        raise ValueError("pages and ranges such as '1-3,5' (pages from 1)")
    return cleaned


def character(allow_empty):
    def check(value):
        if value == "\\t":
            value = "\t"
        if not isinstance(value, str) or len(value) > 1 or \
                (not value and not allow_empty) or value in "\r\n" and value:
            raise ValueError("one character%s" % (
                " or '' for none" if allow_empty else ""))
        return value
    check.expected = "one character"
    return check


def encoding(value):
    try:
        name = codecs.lookup(value).name if isinstance(value, str) else ""
    except LookupError:
        name = ""
    if name not in ENCODINGS:
        raise ValueError("one of %s" % ENCODING_NAMES)
    return name


for _check, _expected in ((boolean, "boolean"), (page_range, "string"),
                          (encoding, "string"), (script, "string"),
                          (input_password, "string")):
    _check.expected = _expected


# -- what each key becomes: functions of (plan, value, filter_name) --------
# ``plan`` is one target's store plan: {"FilterData": {...},
# "FilterOptions": [tokens], "worker": {...}}, turned into store options by
# ExportPlan.store_options().

def filter_data(*names_and_values):
    """Set FilterData properties: a name alone takes the client's value,
    (name, constant) pairs set a constant alongside it."""
    def apply(plan, value, _filter_name):
        for item in names_and_values:
            if isinstance(item, tuple):
                plan["FilterData"][item[0]] = item[1]
            else:
                plan["FilterData"][item] = value
    return apply


def pdf_version(plan, value, _filter_name):
    plan["FilterData"]["SelectPdfVersion"] = PDF_VERSIONS[value]


def export_notes(plan, value, filter_name):
    plan["FilterData"]["ExportNotes"] = value
    if filter_name.startswith("impress_"):
        plan["FilterData"]["ExportNotesPages"] = value


def worker_instruction(name):
    def apply(plan, value, _filter_name):
        plan["worker"][name] = value
    return apply


def options_token(index, convert=str):
    """Set one comma-separated token of the filter options string."""
    def apply(plan, value, _filter_name):
        tokens = plan["FilterOptions"]
        tokens.extend([""] * (index + 1 - len(tokens)))
        tokens[index] = convert(value)
    return apply


def character_code(value):
    return str(ord(value)) if value else ""


def apply_encoding(plan, value, filter_name):
    rtl_number, writer_name = ENCODINGS[value]
    if filter_name == CSV_FILTER:
        options_token(2)(plan, rtl_number, filter_name)
    else:
        options_token(0)(plan, writer_name, filter_name)


def handled_elsewhere(_plan, _value, _filter_name):
    """Keys the handler itself acts on (script, password)."""


@dataclasses.dataclass(frozen=True)
class ExportOption:
    """One ``conversion_kw`` key: where it applies and what it becomes."""

    name: str
    families: tuple  # of target families, or ALL_TARGETS
    # value -> clean value; a ValueError says what the value must be
    check: Callable
    apply: Callable  # (plan, clean value, filter name): fills the plan
    meaning: str  # its line in the README's table (readme_table)
    # A secret's value never appears in a Fault (Faults are logged).
    secret: bool = False

    def applies_to(self, family):
        return self.families == ALL_TARGETS or family in self.families

    def clean(self, value):
        try:
            return self.check(value)
        except ValueError as error:
            if self.secret:
                raise InvalidRequest("conversion_kw %r must be %s"
                                     % (self.name, error))
            raise InvalidRequest("conversion_kw %r must be %s, not %s"
                                 % (self.name, error, _shown(value)))


def _shown(value):
    """A client's value as quoted in a Fault, never a long one."""
    text_value = repr(value)
    return text_value if len(text_value) <= 60 else text_value[:57] + "..."


EXPORT_OPTIONS = (
    ExportOption("script", ALL_TARGETS, script, handled_elsewhere,
                 "Python run on the loaded document (only with "
                 "ooo_enable_scripting)"),
    ExportOption("password", ALL_TARGETS, input_password,
                 handled_elsewhere,
                 "opens a password-protected document", secret=True),
    ExportOption("pdf_version", (PDF,), one_of(tuple(PDF_VERSIONS)),
                 pdf_version, "PDF/A-1b (the default), PDF/A-2b, PDF/A-3b "
                 "or PDF-1.7 (SelectPdfVersion)"),
    ExportOption("page_range", (PDF,), page_range, filter_data("PageRange"),
                 "pages to export, such as '1-3,5' (PageRange)"),
    ExportOption("watermark", (PDF,), text(MAX_WATERMARK_LENGTH),
                 filter_data("Watermark"),
                 "text drawn across every page (Watermark)"),
    ExportOption("export_bookmarks", (PDF,), boolean,
                 filter_data("ExportBookmarks"),
                 "headings as PDF bookmarks (ExportBookmarks)"),
    ExportOption("export_notes", (PDF,), boolean, export_notes,
                 "comments as PDF annotations, and a presentation's notes "
                 "pages (ExportNotes, ExportNotesPages)"),
    ExportOption("image_quality", (PDF,), integer(1, 100),
                 filter_data("Quality", ("UseLosslessCompression", False)),
                 "JPEG quality of pictures, 1-100 (Quality)"),
    ExportOption("max_image_resolution", (PDF,), integer(1, 2400),
                 filter_data("MaxImageResolution",
                             ("ReduceImageResolution", True)),
                 "pictures reduced to this many dpi (MaxImageResolution)"),
    ExportOption("user_password", (PDF,), text(MAX_PASSWORD_LENGTH),
                 filter_data("DocumentOpenPassword", ("EncryptFile", True)),
                 "encrypts the PDF: the password to open it "
                 "(DocumentOpenPassword); not with PDF/A", secret=True),
    ExportOption("owner_password", (PDF,), text(MAX_PASSWORD_LENGTH),
                 filter_data("PermissionPassword",
                             ("RestrictPermissions", True)),
                 "encrypts the PDF: the password to change its permissions "
                 "(PermissionPassword); not with PDF/A", secret=True),
    ExportOption("width", (IMAGE,), integer(1, MAX_PIXELS),
                 worker_instruction("width"),
                 "image width in pixels (PixelWidth); alone, the height "
                 "follows the page's proportions"),
    ExportOption("height", (IMAGE,), integer(1, MAX_PIXELS),
                 worker_instruction("height"),
                 "image height in pixels (PixelHeight); alone, the width "
                 "follows the page's proportions"),
    ExportOption("resolution", (IMAGE,), integer(1, 1200),
                 worker_instruction("resolution"),
                 "dots per inch, when neither width nor height is given "
                 "(96 by default; getImage's resolution)"),
    ExportOption("page", (IMAGE,), integer(1, 100000),
                 worker_instruction("page"),
                 "the page (text), slide or drawing page exported, from 1 "
                 "(the first by default); not for spreadsheets"),
    ExportOption("delimiter", (CSV,), character(False),
                 options_token(0, character_code),
                 "field separator, one character (',' by default)"),
    ExportOption("quote", (CSV,), character(True),
                 options_token(1, character_code),
                 "text delimiter, one character or '' for none ('\"' by "
                 "default)"),
    ExportOption("encoding", (CSV, TEXT), encoding, apply_encoding,
                 "output encoding: %s (utf-8 by default)" % ENCODING_NAMES),
)
OPTIONS_BY_NAME = {option.name: option for option in EXPORT_OPTIONS}



def supported_keys(families):
    """The keys a destination written by filters of ``families`` takes."""
    return sorted(option.name for option in EXPORT_OPTIONS
                  if any(option.applies_to(family) for family in families)
                  or option.families == ALL_TARGETS)


def check_options(conversion_kw, families, destination):
    """Validate ``conversion_kw`` for a destination whose filters are of
    ``families``; return {key: clean value}.  Raises InvalidRequest."""
    supported = supported_keys(families)
    cleaned = {}
    for key, value in conversion_kw.items():
        option = OPTIONS_BY_NAME.get(key)
        if option is None or key not in supported:
            raise InvalidRequest(
                "conversion_kw %s is not an option of %s output (supported: "
                "%s)" % (_shown(key), destination, ", ".join(supported)))
        if value is None:
            continue  # XML-RPC's nil: the key left unset
        cleaned[key] = option.clean(value)
    version = cleaned.get("pdf_version")
    encrypted = [key for key in ("user_password", "owner_password")
                 if key in cleaned]
    if encrypted and version and PDF_VERSIONS[version] in PDF_A_VERSIONS:
        raise InvalidRequest("conversion_kw %r cannot be combined with "
                             "pdf_version %s: PDF/A forbids encryption"
                             % (encrypted[0], version))
    sized = [key for key in ("width", "height") if key in cleaned]
    if sized and "resolution" in cleaned:
        raise InvalidRequest("conversion_kw 'resolution' cannot be combined "
                             "with %r: the pixel size is given" % sized[0])
    if encrypted and not version:
        # The default is PDF/A-1b (upstream's choice), which LibreOffice
        # would silently write unencrypted.
        cleaned["pdf_version"] = "PDF-1.7"
    return cleaned


def export_targets(targets, options):
    """Copy of the handler's ``targets`` ({service: {"filter",
    "store_options"}}) with ``options`` (checked) applied to each target
    whose filter takes them.  A target whose filter takes none of the given
    export keys is dropped: that kind of document cannot honour them."""
    export_keys = [key for key in options
                   if OPTIONS_BY_NAME[key].families != ALL_TARGETS]
    result = {}
    for service, target in targets.items():
        family = filter_family(target["filter"])
        if any(not OPTIONS_BY_NAME[key].applies_to(family)
               for key in export_keys):
            continue
        if not export_keys:
            result[service] = target
            continue
        store_options = dict(target.get("store_options") or {})
        plan = {"FilterData": dict(store_options.get("FilterData") or {}),
                "FilterOptions": _tokens(store_options.get("FilterOptions")),
                "worker": {}}
        for key in export_keys:
            OPTIONS_BY_NAME[key].apply(plan, options[key], target["filter"])
        if plan["FilterData"]:
            store_options["FilterData"] = plan["FilterData"]
        if plan["FilterOptions"]:
            store_options["FilterOptions"] = ",".join(plan["FilterOptions"])
        result[service] = dict(target, store_options=store_options)
        if plan["worker"]:
            result[service]["image"] = plan["worker"]
    return result


def _tokens(filter_options):
    return filter_options.split(",") if filter_options else []


def families_of(targets):
    """The families of the filters in a handler's ``targets``."""
    return sorted({filter_family(target["filter"])
                   for target in targets.values()} - {None})


def readme_table():
    """The keys per target as the README lists them (kept in step by a
    test): one ``key (targets): meaning`` line each."""
    lines = []
    for option in EXPORT_OPTIONS:
        where = "all targets" if option.families == ALL_TARGETS else \
            ", ".join(option.families)
        lines.extend(textwrap.wrap("- ``%s`` (%s; %s): %s" % (
            option.name, where, getattr(option.check, "expected", "value"),
            option.meaning), 76, subsequent_indent="  ",
            break_on_hyphens=False))
    return "\n".join(lines)
