"""LibreOffice's filter catalogue, as data the handler can query.

Built once at start-up from what the running soffice reports (FilterFactory
and TypeDetection), so the formats offered are exactly those this
LibreOffice can write, minus the operator's disable lists.  Format names are
extensions; where two export filters of one document kind share an extension
and one is Microsoft's flavour, that one is named ``ms.<ext>`` (``docx`` is
Office Open XML, ``ms.docx`` is "Word 2007-365").
"""

import logging
import re

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

# Most specific first: a master document also claims to be a text document.
DOCUMENT_SERVICES = (GLOBAL, WEB, TEXT, SPREADSHEET, PRESENTATION, DRAWING)

# getAllowedExtensionList's document_type words.
DOCUMENT_TYPES = {
    "text": TEXT, "web": WEB, "global": GLOBAL, "spreadsheet": SPREADSHEET,
    "presentation": PRESENTATION, "drawing": DRAWING, "graphics": DRAWING,
}

# Kinds we never offer: no way to load them from a plain file here.
IGNORED_SERVICES = ("com.sun.star.formula.FormulaProperties",
                    "com.sun.star.sdb.OfficeDatabaseDocument")

# Where several filters write one extension for one kind, the one to use.
PREFERRED_FILTERS = {
    (TEXT, "txt"): "Text (encoded)",
    (TEXT, "html"): "HTML (StarWriter)",
    (SPREADSHEET, "html"): "HTML (StarCalc)",
    (PRESENTATION, "html"): "impress_html_Export",
    (DRAWING, "html"): "draw_html_Export",
    (WEB, "html"): "HTML",
    (WEB, "txt"): "Text (encoded) (StarWriter/Web)",
    (GLOBAL, "txt"): "Text (encoded) (StarWriter/GlobalDocument)",
}

# The kind LibreOffice opens an extension as, where several could claim it.
SERVICE_BY_SOURCE_EXTENSION = {
    "rtf": TEXT, "txt": TEXT, "html": TEXT, "htm": TEXT, "xhtml": TEXT,
    "csv": SPREADSHEET, "tsv": SPREADSHEET, "xls": SPREADSHEET,
    "odg": DRAWING, "pdf": DRAWING, "sxd": DRAWING,
}

# Load options by source extension.  HTML is opened in Writer, not
# Writer/Web: Writer/Web cannot export to docx, odt or rtf.
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


class ExportFilter:
    __slots__ = ("name", "ui_name", "service", "extension", "mimetype",
                 "flags", "preferred")

    def __init__(self, name, ui_name, service, extension, mimetype, flags,
                 preferred):
        self.name = name
        self.ui_name = ui_name
        self.service = service
        self.extension = extension
        self.mimetype = mimetype
        self.flags = flags
        self.preferred = preferred

    def __repr__(self):
        return "<ExportFilter %s %s>" % (self.extension, self.name)


def _is_microsoft_flavour(filter_name):
    return bool(re.search(r"(^| )MS ", filter_name))


def _rank(candidate):
    """Sort key: LibreOffice's preferred type, then real export filters."""
    return (not candidate.preferred, not candidate.name.endswith("Export"),
            -candidate.flags)


class FilterCatalogue:
    """Export filters by (document service, extension), and what reads what."""

    def __init__(self, raw, disabled_names=(), disabled_ui_names=()):
        self._by_service_and_extension = {}
        self._services_by_extension = {}
        self._mimetype_by_type = {}
        filters, types = raw["filters"], raw["types"]
        self._type_by_filter = {name: info.get("Type", "")
                                for name, info in filters.items()}
        for type_name, type_info in types.items():
            self._mimetype_by_type[type_name] = type_info.get(
                "MediaType") or ""
        candidates = {}
        for name, info in filters.items():
            flags = info.get("Flags") or 0
            service = info.get("DocumentService") or ""
            type_info = types.get(info.get("Type"), {})
            extensions = [ext.lower() for ext in type_info.get(
                "Extensions") or [] if ext and ext != "*"]
            if not service or service in IGNORED_SERVICES:
                continue
            if flags & FLAG_IMPORT:
                for extension in extensions:
                    services = self._services_by_extension.setdefault(
                        extension, [])
                    if service not in services:
                        services.append(service)
            if (not flags & FLAG_EXPORT or flags & FLAG_INTERNAL
                    or flags & (FLAG_NOT_IN_FILE_DIALOG
                                | FLAG_NOT_IN_CHOOSER)):
                continue
            ui_name = info.get("UIName") or type_info.get("UIName") or name
            if name in disabled_names or ui_name in disabled_ui_names:
                logger.info("filter %r disabled by configuration", name)
                continue
            mimetype = type_info.get("MediaType") or ""
            if not mimetype:
                continue
            for extension in extensions:
                candidates.setdefault((service, extension), []).append(
                    ExportFilter(name, ui_name, service, extension, mimetype,
                                 flags, bool(type_info.get("Preferred"))))
        for (service, extension), found in candidates.items():
            self._choose(service, extension, found)
        for extension, service in SERVICE_BY_SOURCE_EXTENSION.items():
            self._services_by_extension[extension] = [service]
        # What the UNO worker needs to store as each extension, built once:
        # every conversion asks for it.
        self._targets_by_extension = {}
        for (service, extension), export_filter in \
                self._by_service_and_extension.items():
            self._targets_by_extension.setdefault(extension, {})[service] = {
                "filter": export_filter.name,
                "store_options": STORE_OPTIONS_BY_FILTER.get(
                    export_filter.name, {})}

    def _choose(self, service, extension, found):
        microsoft = [f for f in found if _is_microsoft_flavour(f.name)]
        others = [f for f in found if not _is_microsoft_flavour(f.name)]
        if microsoft and others:
            chosen = sorted(microsoft, key=_rank)[0]
            self._add(service, "ms." + extension, chosen)
            found = others
        preferred_name = PREFERRED_FILTERS.get((service, extension))
        by_name = [f for f in found if f.name == preferred_name]
        self._add(service, extension, (by_name or sorted(found, key=_rank))[0])

    def _add(self, service, extension, export_filter):
        export_filter.extension = extension
        self._by_service_and_extension[(service, extension)] = export_filter

    # -- queries --------------------------------------------------------

    def services_for_source(self, extension):
        return list(self._services_by_extension.get(extension, []))

    def extensions_for_service(self, service):
        """[(extension, ui_name)] that a kind of document can be saved as."""
        return sorted((export_filter.extension, export_filter.ui_name)
                      for (known, _ext), export_filter
                      in self._by_service_and_extension.items()
                      if known == service)

    def allowed_extensions(self, source_extension=None, document_type=None):
        if source_extension:
            services = self.services_for_source(source_extension)
        else:
            service = DOCUMENT_TYPES.get((document_type or "").lower())
            services = [service] if service else []
        result = []
        for service in services:
            for item in self.extensions_for_service(service):
                if item not in result:
                    result.append(item)
        return result

    def allowed_mimetypes(self, source_extension):
        result = []
        for service in self.services_for_source(source_extension):
            for (known, _ext), export_filter in sorted(
                    self._by_service_and_extension.items()):
                item = (export_filter.mimetype, export_filter.ui_name)
                if known == service and item not in result:
                    result.append(item)
        return result

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
