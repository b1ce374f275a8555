"""LibreOffice's filter catalogue, as data the handler can query.

Built once at start-up from what the running soffice reports (FilterFactory
and TypeDetection), by the rules of COMPAT 1.1: each listed export filter
gives exactly one (extension, title) pair, so the lists are exactly what
this LibreOffice can write, minus the built-in exclusions and the
operator's disable lists.  Format names are extensions; where two listed
filters of one kind share an extension, Microsoft's flavour is also
reachable as ``ms.<ext>`` (``docx`` is Office Open XML, ``ms.docx`` is
"Word 2007-365").
"""

import dataclasses
import logging
import re

from cloudooo.formats import mimetype_for_extension

logger = logging.getLogger(__name__)

# Filter flags (com.sun.star.document.FilterFlags).
FLAG_IMPORT = 0x01
FLAG_EXPORT = 0x02
FLAG_INTERNAL = 0x08
FLAG_NOT_IN_FILE_DIALOG = 0x1000
FLAG_NOT_IN_CHOOSER = 0x2000

TEXT = "com.sun.star.text.TextDocument"
WEB = "com.sun.star.text.WebDocument"
GLOBAL = "com.sun.star.text.GlobalDocument"
SPREADSHEET = "com.sun.star.sheet.SpreadsheetDocument"
PRESENTATION = "com.sun.star.presentation.PresentationDocument"
DRAWING = "com.sun.star.drawing.DrawingDocument"

# getAllowedExtensionList's document_type words: a word names the kind it is
# a prefix of.  No master-document, formula or database kind is offered.
KINDS = (("text", TEXT), ("web", WEB), ("spreadsheet", SPREADSHEET),
         ("presentation", PRESENTATION), ("drawing", DRAWING))
LISTED_SERVICES = tuple(service for _word, service in KINDS)

# Kinds we never offer: no way to load them from a plain file here.
IGNORED_SERVICES = ("com.sun.star.formula.FormulaProperties",
                    "com.sun.star.sdb.OfficeDatabaseDocument")

# Export filters never listed nor used (COMPAT 1.1): the XSLT filters shadow
# the real HTML filter; DocBook cannot be produced under the extension it
# would get; Writer/Web's image exports are not offered by upstream either.
EXCLUDED_FILTER_NAMES = frozenset((
    "writer_web_jpg_Export", "writer_web_png_Export",
    "writer_web_webp_Export", "XHTML Writer File", "XHTML Calc File",
    "XHTML Draw File", "XHTML Impress File", "DocBook File"))
# Excluded from the lists, yet what an ``xhtml`` destination (which no
# listed filter writes) is stored with.
UNLISTED_TARGET_FILTERS = frozenset((
    "XHTML Writer File", "XHTML Calc File", "XHTML Draw File",
    "XHTML Impress File"))
# "Text" is Writer's unencoded text filter (the encoded one is listed);
# "ODF Drawing (Impress)" would store a presentation under .odg.
EXCLUDED_TITLES = frozenset(("Text", "ODF Drawing (Impress)"))
EXCLUDED_TITLE_WORD = "Template"

# The extension clients know some titles by: Microsoft's flavour of a format
# LibreOffice also writes as its own, and the old binary versions.
EXTENSION_BY_TITLE = {
    "Word 2007\u2013365": "ms.docx",
    "Microsoft Word 2007 XML": "ms.docx",
    "Microsoft Word 2007-2013 XML": "ms.docx",
    "Excel 2007\u2013365": "ms.xlsx",
    "Microsoft Excel 2007 XML": "ms.xlsx",
    "Microsoft Excel 2007-2013 XML": "ms.xlsx",
    "Microsoft PowerPoint 2007 XML": "ms.pptx",
    "Microsoft PowerPoint 2007-2013 XML": "ms.pptx",
    "Microsoft PowerPoint 2007 XML AutoPlay": "ms.ppsx",
    "Microsoft PowerPoint 2007-2013 XML AutoPlay": "ms.ppsx",
    "Microsoft Excel 5.0": "5.xls",
    "Microsoft Excel 95": "95.xls",
    "Microsoft Word 6.0": "6.doc",
    "Microsoft Word 95": "95.doc",
    "TIFF - Tagged Image File Format": "tiff",
}

# Where several listed filters of one kind write one extension, the one to
# use (the others keep their place in the lists).
PREFERRED_FILTERS = {
    (WEB, "txt"): "Text (encoded) (StarWriter/Web)",
}

# The kinds a source opens as, where its import filters alone would say
# otherwise (txt is also Calc's, odg also Impress's, pdf also Writer's...).
SERVICES_BY_SOURCE_EXTENSION = {
    "rtf": (TEXT,), "txt": (TEXT,),
    "html": (TEXT, WEB, SPREADSHEET), "htm": (TEXT, WEB, SPREADSHEET),
    "xhtml": (TEXT, WEB, SPREADSHEET),
    "csv": (SPREADSHEET,), "tsv": (SPREADSHEET,), "xls": (SPREADSHEET,),
    "odg": (DRAWING,), "pdf": (DRAWING,), "sxd": (DRAWING,),
}

# What clients have always seen in the lists by source: no macro-enabled
# Word or PowerPoint, no SYLK, and the PowerPoint show under .ppt.
EXTENSIONS_NOT_LISTED_BY_SOURCE = frozenset(("docm", "pptm", "slk"))
EXTENSION_LISTED_BY_SOURCE_AS = {"pps": "ppt"}

# The import filter an HTML page is loaded with, by the kind that can write
# the destination: Writer first, Writer/Web (only it writes sxw), then Calc.
HTML_IMPORT_FILTERS = ((TEXT, "HTML (StarWriter)"), (WEB, "HTML"),
                       (SPREADSHEET, "HTML (StarCalc)"))

# Load options by source extension.  HTML is opened in Writer, not
# Writer/Web: Writer/Web cannot export to docx, odt or rtf; a conversion
# picks Writer, Writer/Web or Calc by its destination (the handler's
# html_load_options).
LOAD_OPTIONS_BY_SOURCE_EXTENSION = {
    "html": {"FilterName": "HTML (StarWriter)"},
    "htm": {"FilterName": "HTML (StarWriter)"},
    "xhtml": {"FilterName": "HTML (StarWriter)"},
    "txt": {"FilterName": "Text (encoded)", "FilterOptions": "UTF8,LF"},
}

# How files of a binary format begin.  LibreOffice opens anything as plain
# text when its own detection fails, so garbage named .doc "converts" to a
# PDF of garbage; a file of these formats without its signature is refused.
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP = b"PK\x03\x04"
RTF = b"{\\rtf"
# Word and Excel also open RTF or HTML/XML saved under their extensions.
MARKUP = b"<"
SIGNATURES_BY_SOURCE_EXTENSION = {
    "doc": (OLE2, RTF, MARKUP), "dot": (OLE2, RTF), "xls": (OLE2, MARKUP),
    "xlt": (OLE2,), "ppt": (OLE2,), "pps": (OLE2,), "pot": (OLE2,),
    "rtf": (RTF,), "pdf": (b"%PDF-",),
}
for _extension in ("odt", "ott", "ods", "ots", "odp", "otp", "odg", "otg",
                   "odf", "odm", "sxw", "sxc", "sxi", "sxd", "docx", "docm",
                   "dotx", "xlsx", "xlsm", "xltx", "pptx", "pptm", "ppsx",
                   "potx", "epub"):
    SIGNATURES_BY_SOURCE_EXTENSION[_extension] = (ZIP,)

PDF_A1 = {"SelectPdfVersion": 1}

# Export options by filter name: upstream cloudooo's choices.
STORE_OPTIONS_BY_FILTER = {
    "writer_pdf_Export": {"FilterData": PDF_A1},
    "writer_web_pdf_Export": {"FilterData": PDF_A1},
    "writer_globaldocument_pdf_Export": {"FilterData": PDF_A1},
    "calc_pdf_Export": {"FilterData": PDF_A1},
    "draw_pdf_Export": {"FilterData": PDF_A1},
    "impress_pdf_Export": {"FilterData": dict(PDF_A1,
                                              ExportNotesPages=True)},
    # One page per slide (PublishMode 0; without it LibreOffice 7.x writes
    # a single page and no images), slides as 640 px PNGs img0.png,
    # img1.png... with pages img<N>.html and text<N>.html: what ERP5 reads.
    "impress_html_Export": {"FilterData": {"PublishMode": 0,
                                           "IsExportNotes": True,
                                           "Width": 640, "Format": 2}},
    "draw_html_Export": {"FilterData": {"Format": 2}},
    "HTML (StarCalc)": {"FilterData": {"Format": 2}},
    "Text (encoded)": {"FilterOptions": "UTF8,LF"},
    "Text (encoded) (StarWriter/Web)": {"FilterOptions": "UTF8,LF"},
    "Text (encoded) (StarWriter/GlobalDocument)": {
        "FilterOptions": "UTF8,LF"},
    # separator ',', text delimiter '"', UTF-8, first line 1, default cell
    # format and language, text quoted only when needed, cells as shown.
    "Text - txt - csv (StarCalc)": {
        "FilterOptions": "44,34,76,1,,0,false,true,true"},
}

# The base format (getFileMetadataItemList's base_document, run_convert):
# a document's own ODF format, except for sources opened as HTML pages,
# whose base is HTML written by LibreOffice's HTML filter.
ODF_EXTENSION_BY_SERVICE = {TEXT: "odt", WEB: "odt", GLOBAL: "odt",
                            SPREADSHEET: "ods", PRESENTATION: "odp",
                            DRAWING: "odg"}
HTML_PAGE_SOURCE_EXTENSIONS = ("html", "htm", "xhtml", "zip")
HTML_BASE_EXTENSION = "html"


@dataclasses.dataclass(frozen=True)
class ExportFilter:
    """One listed export filter: the (extension, title) pair it gives."""

    name: str
    title: str
    service: str
    extension: str
    mimetype: str
    flags: int
    other_extensions: tuple  # its type's other extensions (jpeg, htm)

    @property
    def pair(self):
        return (self.extension, self.title)

    def __repr__(self):
        return "<ExportFilter %s %s>" % (self.extension, self.name)


def _is_microsoft_flavour(filter_name):
    return bool(re.search(r"(^| )MS ", filter_name))


def _rank(candidate):
    """Sort key among filters writing one extension: LibreOffice's own
    flavour before Microsoft's, real export filters first."""
    return (_is_microsoft_flavour(candidate.name),
            not candidate.name.endswith("Export"), -candidate.flags,
            candidate.name)


def is_exportable(info, type_info):
    """An export filter a user could pick, writing a type with a media type
    and an extension."""
    flags = info.get("Flags") or 0
    if not flags & FLAG_EXPORT or flags & (
            FLAG_INTERNAL | FLAG_NOT_IN_FILE_DIALOG | FLAG_NOT_IN_CHOOSER):
        return False
    return bool(type_info.get("MediaType") and _type_extensions(type_info))


def is_listed(name, info, type_info):
    """COMPAT 1.1: whether an export filter is offered in the lists."""
    title = filter_title(info, type_info)
    return (is_exportable(info, type_info)
            and name not in EXCLUDED_FILTER_NAMES
            and title not in EXCLUDED_TITLES
            and EXCLUDED_TITLE_WORD not in title)


def filter_title(info, type_info):
    return info.get("UIName") or type_info.get("UIName") or ""


def filter_extension(info, type_info):
    """The one extension a filter is listed under: its ExportExtension,
    else its type's first extension; then the title overrides."""
    extension = (info.get("ExportExtension") or
                 _type_extensions(type_info)[0]).lower()
    return EXTENSION_BY_TITLE.get(filter_title(info, type_info), extension)


def _type_extensions(type_info):
    return [ext.lower() for ext in type_info.get("Extensions") or []
            if ext and ext != "*"]


class FilterCatalogue:
    """The export filters each kind of document lists and stores with, and
    the kinds each source extension opens as."""

    def __init__(self, raw, disabled_names=(), disabled_ui_names=()):
        filters, types = raw["filters"], raw["types"]
        self._mimetype_by_type = {name: info.get("MediaType") or ""
                                  for name, info in types.items()}
        self._type_by_filter = {name: info.get("Type", "")
                                for name, info in filters.items()}
        self._services_by_extension = {}
        self._listed = []
        self._unlisted_targets = []
        for name, info in sorted(filters.items()):
            service = info.get("DocumentService") or ""
            if not service or service in IGNORED_SERVICES:
                continue
            type_info = types.get(info.get("Type"), {})
            extensions = _type_extensions(type_info)
            if (info.get("Flags") or 0) & FLAG_IMPORT:
                for extension in extensions:
                    services = self._services_by_extension.setdefault(
                        extension, [])
                    if service not in services:
                        services.append(service)
            listed = is_listed(name, info, type_info)
            if not listed and not (name in UNLISTED_TARGET_FILTERS
                                   and is_exportable(info, type_info)):
                continue
            title = filter_title(info, type_info)
            if name in disabled_names or title in disabled_ui_names:
                logger.info("filter %r disabled by configuration", name)
                continue
            extension = filter_extension(info, type_info)
            export_filter = ExportFilter(
                name, title, service, extension, type_info["MediaType"],
                info.get("Flags") or 0,
                tuple(ext for ext in extensions if ext != extension))
            if listed:
                self._listed.append(export_filter)
            else:
                self._unlisted_targets.append(export_filter)
        for extension, services in SERVICES_BY_SOURCE_EXTENSION.items():
            self._services_by_extension[extension] = list(services)
        self._filters_by_target = self._choose_targets()
        # What the UNO worker needs to store as each extension, built once:
        # every conversion asks for it.
        self._targets_by_extension = {}
        for (service, extension), export_filter in \
                self._filters_by_target.items():
            self._targets_by_extension.setdefault(extension, {})[service] = {
                "filter": export_filter.name,
                "store_options": STORE_OPTIONS_BY_FILTER.get(
                    export_filter.name, {})}

    def _choose_targets(self):
        """{(service, extension): ExportFilter} used to store a document.

        A filter listed under an extension beats one that only has it as a
        secondary extension of its type (docm is "MS Word 2007 XML VBA", not
        "Office Open XML Text"); where two listed filters share one, the
        preferred or LibreOffice's own wins and Microsoft's is also reachable
        as ``ms.<ext>``.  Secondary extensions of the same media type
        (jpeg, htm, tif) remain accepted as aliases, and the XHTML filters
        write xhtml, which no listed filter claims.
        """
        chosen = {}
        by_target = {}
        for export_filter in self._listed:
            by_target.setdefault((export_filter.service,
                                  export_filter.extension), []).append(
                export_filter)
        for (service, extension), found in by_target.items():
            preferred = PREFERRED_FILTERS.get((service, extension))
            found = sorted(found, key=lambda f: (f.name != preferred,
                                                 _rank(f)))
            chosen[(service, extension)] = found[0]
            for other in found[1:]:
                if _is_microsoft_flavour(other.name):
                    chosen.setdefault((service, "ms." + extension), other)
        for export_filter in sorted(self._listed, key=_rank):
            mimetype = mimetype_for_extension(export_filter.extension)
            for alias in export_filter.other_extensions:
                if mimetype and mimetype_for_extension(alias) == mimetype:
                    chosen.setdefault((export_filter.service, alias),
                                      export_filter)
        for export_filter in self._unlisted_targets:
            for extension in (export_filter.extension,
                              *export_filter.other_extensions):
                chosen.setdefault((export_filter.service, extension),
                                  export_filter)
        return chosen

    # -- queries --------------------------------------------------------

    def services_for_source(self, extension):
        """The kinds a document of this extension opens as."""
        return list(self._services_by_extension.get(
            file_extension(extension), []))

    def extensions_for_service(self, service):
        """[(extension, title)] of a kind's listed filters, sorted."""
        return sorted({export_filter.pair for export_filter in self._listed
                       if export_filter.service == service})

    def allowed_extensions(self, source_extension=None, document_type=None):
        """COMPAT 1.2 and 1.3: the pairs a source, or a kind named by a
        prefix of its word, can become."""
        if source_extension:
            pairs = set()
            for service in self.services_for_source(source_extension):
                if service in LISTED_SERVICES:
                    pairs.update(self.extensions_for_service(service))
            return sorted(
                (EXTENSION_LISTED_BY_SOURCE_AS.get(extension, extension),
                 title) for extension, title in pairs
                if extension not in EXTENSIONS_NOT_LISTED_BY_SOURCE)
        word = (document_type or "").strip().lower()
        for kind, service in KINDS:
            if word and kind.startswith(word):
                return self.extensions_for_service(service)
        return []

    def allowed_mimetypes(self, source_extension):
        """The by-source list as [(mimetype, title)]."""
        result = []
        for extension, title in self.allowed_extensions(source_extension):
            item = (mimetype_for_extension(extension), title)
            if item[0] and item not in result:
                result.append(item)
        return result

    def can_write(self, source_extension, destination_extension):
        """Whether a kind this source opens as can be stored as that."""
        targets = self.targets(destination_extension)
        return any(service in targets
                   for service in self.services_for_source(source_extension))

    def mimetype_of_filter(self, filter_name):
        """The media type of the files a filter reads or writes."""
        return self._mimetype_by_type.get(
            self._type_by_filter.get(filter_name, ""), "")

    def targets(self, extension):
        """What the UNO worker needs to store as ``extension``:
        {service: {"filter": name, "store_options": {...}}}.  Shared: do
        not modify."""
        return self._targets_by_extension.get(extension, {})

    def odf_targets(self):
        """Each kind of document stored in its own ODF format."""
        return {service: self.targets(extension)[service]
                for service, extension in ODF_EXTENSION_BY_SERVICE.items()
                if service in self.targets(extension)}


def file_extension(format_name):
    """``ms.docx`` names a filter choice; the file itself is ``.docx``."""
    return format_name.rsplit(".", 1)[-1]
