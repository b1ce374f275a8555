"""The LibreOffice handler: prepares inputs, asks the pool, packs outputs.

Input preparation happens here, in the server, before LibreOffice sees the
bytes: CSV is re-encoded to UTF-8 with its delimiter sniffed, a zip holding
an HTML page is unpacked, and documents linking outside themselves are
refused.  Each request works in its own directory under ``tmp_path``,
removed afterwards whatever happened.
"""

import csv
import io
import logging
import os
import zipfile

from cloudooo.errors import (ConversionError, InvalidRequest,
                             PasswordRequired, UnsafeDocument,
                             UnsupportedFormat)
from cloudooo.formats import (extension_for_mimetype, extensions_for_mimetype,
                              mimetype_for_extension)
from cloudooo.handler.base import Handler
from cloudooo.handler.ooo.boundedzip import (ZIP_ERRORS, BoundedZip,
                                             UnpackBudget)
from cloudooo.handler.ooo.sniff import (HEAD_SIZE, OFFICE_KINDS, sniff_bytes,
                                        sniff_file)
from cloudooo.handler.ooo import filters, linkcheck
from cloudooo.handler.ooo import options as export_options
from cloudooo.handler.ooo import protected
from cloudooo.handler.ooo import protocol
from cloudooo.handler.ooo.backgrounds import (
    enlarge_tiny_backgrounds, enlarge_tiny_backgrounds_in_folder)
from cloudooo.handler.ooo.filters import FilterCatalogue, file_extension
from cloudooo.handler.ooo.pool import OfficePool
from cloudooo.handler.ooo.process import find_uno_python
from cloudooo.handler.pdf.protection import readable_pdf
from cloudooo.util import child_environment, temporary_directory
from cloudooo.spool import SpooledDocument, output_of

logger = logging.getLogger(__name__)

CSV_DELIMITERS = ",;\t|"
CSV_SNIFF_BYTES = 64 * 1024
HTML_EXTENSIONS = ("html", "htm", "xhtml")
# The main page of an HTML output, whatever the kind of document: ERP5
# takes the first zip member ending in "html" as the page, and for a
# presentation requires "impr" in its name (upstream's naming).
HTML_PAGE_NAME = "document.impr.html"
# What a task that failed in LibreOffice is to the client.
CLIENT_ERROR_BY_REPLY_ERROR = {
    protocol.LoadError: ConversionError,
    protocol.UnsupportedExport: UnsupportedFormat,
    protocol.PasswordFailure: PasswordRequired,
    protocol.InvalidOption: InvalidRequest,
    protocol.TaskError: ConversionError,
}


class OfficeHandler(Handler):
    name = "ooo"
    accepts_spooled_documents = True
    accepts_password = True
    renders_at_resolution = True

    def __init__(self, settings):
        super().__init__(settings)
        self.pool = None
        self.catalogue = None
        self._odf_targets = None

    # -- life cycle ---------------------------------------------------------

    def start(self):
        if self.pool is not None:
            return
        binary = os.path.join(self.settings.office_binary_path, "soffice.bin")
        if not os.access(binary, os.X_OK):
            raise RuntimeError(
                "LibreOffice not found: %s is missing (set office_binary_path;"
                " on Debian: apt-get install libreoffice-core python3-uno)"
                % binary)
        uno_python, tried = find_uno_python(
            self.settings.uno_python, self.settings.office_binary_path)
        if uno_python is None:
            raise RuntimeError(
                "no Python that can 'import uno' (tried: %s); install "
                "python3-uno or set uno_python" % ", ".join(
                    "%s: %s" % item for item in tried))
        logger.info("LibreOffice %s; UNO Python %s; %d instance(s) from "
                    "port %d", binary, uno_python,
                    self.settings.office_pool_size,
                    self.settings.openoffice_port)
        self.pool = OfficePool(self.settings, uno_python,
                               child_environment(self.settings.env),
                               self.sandbox)
        try:
            self.pool.start()
            try:
                catalogue = self.pool.run({"op": protocol.CATALOGUE})
            except protocol.ReplyError as error:
                raise RuntimeError("cannot read LibreOffice's filters: %s"
                                   % error)
        except BaseException:
            self.stop()  # no soffice may outlive a failed start
            raise
        self.catalogue = FilterCatalogue(
            catalogue, self.settings.ooo_disable_filter_list,
            self.settings.ooo_disable_filter_name_list)
        self._odf_targets = self.catalogue.odf_targets()

    def stop(self):
        if self.pool is not None:
            self.pool.stop()
            self.pool = None

    def interrupt(self):
        super().interrupt()
        pool = self.pool
        if pool is not None:
            pool.interrupt()

    # -- the handler contract -----------------------------------------------

    def convert(self, data, source_format, destination_format, zip=False,
                refresh=False, conversion_kw=None):
        targets = self.catalogue.targets(destination_format)
        if not targets:
            raise UnsupportedFormat("LibreOffice cannot write %r"
                                    % destination_format)
        options = export_options.check_options(
            conversion_kw or {}, export_options.families_of(targets),
            destination_format)
        script = options.get("script")
        if script and not self.settings.ooo_enable_scripting:
            raise UnsafeDocument("conversion scripts are disabled on this "
                                 "server (ooo_enable_scripting = false)")
        targets = export_options.export_targets(targets, options)
        with temporary_directory(self.settings.tmp_path) as workdir:
            loading = self._prepare_input(workdir, data, source_format,
                                          options.get("password"))
            if file_extension(source_format) in \
                    filters.HTML_PAGE_SOURCE_EXTENSIONS:
                loading["load_options"] = html_load_options(targets)
            output_dir = os.path.join(workdir, "out")
            os.mkdir(output_dir)
            output_path = os.path.join(
                output_dir, output_file_name(destination_format))
            self._run(dict(loading, op=protocol.CONVERT, output=output_path,
                           targets=targets, refresh=bool(refresh),
                           script=script or None), data, workdir)
            if not os.path.exists(output_path):
                raise ConversionError("LibreOffice wrote no %s file"
                                      % destination_format)
            if zip:
                return zip_directory(output_dir,
                                     os.path.basename(output_path))
            return self._output(output_path)

    def get_metadata(self, data, source_format, base_document=False,
                     password=None):
        # HTML pages keep HTML as their base format; the rest, their ODF.
        html_page = file_extension(source_format) in \
            filters.HTML_PAGE_SOURCE_EXTENSIONS
        with temporary_directory(self.settings.tmp_path) as workdir:
            request = dict(self._prepare_input(workdir, data, source_format,
                                               password),
                           op=protocol.GET_METADATA)
            if base_document:
                request["output"] = os.path.join(workdir, "base")
                request["targets"] = self.catalogue.targets(
                    filters.HTML_BASE_EXTENSION) if html_page \
                    else self._odf_targets
            metadata = self._run(request, data, workdir)
            filter_name = metadata.pop("FilterName", "")
            service = metadata.pop("DocumentService", "")
            if html_page:
                metadata["MIMEType"] = mimetype_for_extension(
                    filters.HTML_BASE_EXTENSION)
            else:
                metadata["MIMEType"] = (
                    mimetype_for_extension(source_format)
                    or self.catalogue.mimetype_of_filter(filter_name))
            if base_document:
                metadata["Data"] = self._output(request["output"])
                metadata["BaseFormat"] = filters.HTML_BASE_EXTENSION \
                    if html_page else filters.ODF_EXTENSION_BY_SERVICE.get(
                        service, "")
            else:
                metadata["Data"] = ""
            return metadata

    def set_metadata(self, data, source_format, metadata):
        with temporary_directory(self.settings.tmp_path) as workdir:
            loading = self._prepare_input(workdir, data, source_format)
            output_path = os.path.join(
                workdir, "result." + file_extension(source_format))
            self._run(dict(loading, op=protocol.SET_METADATA,
                           output=output_path, metadata=metadata),
                      data, workdir)
            return self._output(output_path)

    def allowed_conversion_formats(self, source_mimetype):
        extension = extension_for_mimetype(source_mimetype)
        return self.catalogue.allowed_mimetypes(extension) if extension \
            else []

    def allowed_extensions(self, source=None, document_type=None):
        return self.catalogue.allowed_extensions(source, document_type)

    def can_write(self, source_mimetype, destination_mimetype):
        # LibreOffice is the registry's last resort for many sources (zip,
        # xhtml...) it only learns the kind of on loading: judge the
        # destination alone; convert() refuses a kind that cannot write it.
        if self.catalogue is None:
            return True
        return any(self.catalogue.targets(extension) for extension in
                   extensions_for_mimetype(destination_mimetype))

    # -- internals ----------------------------------------------------------

    def _output(self, path):
        """The result file: bytes, or spooled out of the request folder when
        big (the XML-RPC layer then streams it)."""
        return output_of(path, self.settings.stream_threshold_size,
                         self.settings.tmp_path)

    def _run(self, request, data, workdir):
        """Run a worker request about the document ``data`` whose files are
        in the request's folder ``workdir``; return its result."""
        try:
            return self.pool.run(request, data, workdir)
        except protocol.ReplyError as error:
            raise CLIENT_ERROR_BY_REPLY_ERROR.get(
                type(error), ConversionError)(str(error))

    def _prepare_input(self, workdir, data, source_format, password=None):
        """Write the input where LibreOffice will read it; return the part
        of a worker request that says how to load it (with the password
        that opens it, if any)."""
        extension = file_extension(source_format)
        loading = self._prepare_file(workdir, data, extension, password)
        if password:
            loading["password"] = password
        return loading

    def _prepare_file(self, workdir, data, extension, password):
        misnamed = check_signature(data, extension)
        if isinstance(data, SpooledDocument) and extension in (
                ("zip", "csv", "tsv") + HTML_EXTENSIONS):
            # Unpacked, re-encoded or rewritten whole anyway.
            data = data.read_bytes()
        budget = UnpackBudget.from_settings(self.settings)
        input_dir = os.path.join(workdir, "in")
        os.mkdir(input_dir)
        load_options = dict(filters.LOAD_OPTIONS_BY_SOURCE_EXTENSION.get(
            extension, {}))
        if misnamed:
            # An office file under another format's name: LibreOffice's own
            # type detection knows it better than any forced filter.
            load_options = {}
        if extension == "zip":
            path = unpack_html_zip(data, input_dir, budget)
            linkcheck.check_folder(input_dir, budget)
            enlarge_tiny_backgrounds_in_folder(input_dir)
            return {"input": path, "load_options": dict(
                filters.LOAD_OPTIONS_BY_SOURCE_EXTENSION["html"])}
        elif extension in ("csv", "tsv"):
            data, delimiter = normalize_csv(data)
            path = os.path.join(input_dir, "document." + extension)
            with open(path, "wb") as stream:
                stream.write(data)
            load_options = {"FilterName": "Text - txt - csv (StarCalc)",
                            "FilterOptions": "%d,34,76,1" % ord(delimiter)}
        else:
            path = os.path.join(input_dir, "document." + extension)
            if isinstance(data, SpooledDocument):
                data.link_to(path)
            else:
                with open(path, "wb") as stream:
                    stream.write(enlarge_tiny_backgrounds(data)
                                 if extension in HTML_EXTENSIONS else data)
            if extension == "pdf" or misnamed == "pdf":
                # LibreOffice 7.4's PDF import takes no password.
                path = readable_pdf(path, password, self)
        # A protected document's links are checked in a clear copy.  Without
        # a password there is nothing to decrypt: LibreOffice refuses a
        # protected document before reading any of it.
        checked_path = password and protected.decrypted_copy(
            path, password, UnpackBudget.from_settings(self.settings),
            workdir) or path
        linkcheck.check_document(
            checked_path, budget, plain_text=load_options.get(
                "FilterName", "").startswith("Text"))
        return {"input": path, "load_options": load_options}


def check_signature(data, extension):
    """Refuse bytes that cannot be a file of the binary format named.

    Return the kind ``sniff`` found when the bytes are another office file
    than the name says (ODT bytes labelled ``doc``: ERP5 does it), which is
    accepted and left to LibreOffice's type detection; else None.
    """
    signatures = filters.SIGNATURES_BY_SOURCE_EXTENSION.get(extension)
    if not signatures:
        return None
    head = data.head(HEAD_SIZE) if isinstance(data, SpooledDocument) \
        else data
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(signatures):
        return None
    kind = sniff_file(data.path) if isinstance(data, SpooledDocument) \
        else sniff_bytes(data)
    if kind in OFFICE_KINDS:
        return kind
    raise ConversionError("this is not a valid %s document (it does not "
                          "begin as a %s file does)" % (extension, extension))


def normalize_csv(data):
    """CSV bytes as UTF-8 with their delimiter.

    UTF-8 when the bytes decode as such, else ISO-8859-15 (Latin-9, which
    has the euro sign).  The delimiter is sniffed among , ; TAB and |.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("iso-8859-15")
    try:
        delimiter = csv.Sniffer().sniff(text[:CSV_SNIFF_BYTES],
                                        CSV_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    return text.encode("utf-8"), delimiter


def unpack_html_zip(data, directory, budget):
    """Unpack a zip of an HTML page with its files; return the page's path.

    The page is ``index.html`` when present, else the first ``.html`` file.
    Members that would land outside ``directory`` are refused; members are
    written streaming under ``budget`` (an UnpackBudget).
    """
    try:
        archive = BoundedZip(io.BytesIO(data), budget)
    except ZIP_ERRORS:
        raise InvalidRequest("the zip file is not a valid zip archive")
    root = os.path.realpath(directory)
    with archive:
        pages = []
        for member in archive.infolist():
            target = os.path.realpath(os.path.join(root, member.filename))
            if not target.startswith(root + os.sep):
                raise UnsafeDocument("This document contains unsafe links "
                                     "%s (zip member escaping the archive)"
                                     % member.filename[:200])
            if member.filename.lower().endswith((".html", ".htm")):
                pages.append(member.filename)
        if not pages:
            raise UnsupportedFormat("the zip file holds no HTML page")
        for member in archive.infolist():
            target = os.path.join(root, member.filename)
            if member.is_dir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                archive.extract(member, target)
            except ZIP_ERRORS as error:
                raise InvalidRequest("cannot unpack %s from the zip file: %s"
                                     % (member.filename[:200], error))
    index = [page for page in pages
             if os.path.basename(page).lower() in ("index.html", "index.htm")]
    return os.path.join(root, (index or pages)[0])


def html_load_options(targets):
    """Load options opening an HTML page in a program that can store it as
    ``targets`` says; Writer when none can (the worker then says why)."""
    filter_name = next((name for service, name in filters.HTML_IMPORT_FILTERS
                        if service in targets),
                       filters.HTML_IMPORT_FILTERS[0][1])
    return {"FilterName": filter_name}


def output_file_name(destination_format):
    """The file LibreOffice writes the converted document to."""
    extension = file_extension(destination_format)
    if extension in HTML_EXTENSIONS:
        return HTML_PAGE_NAME
    return "document." + extension


def zip_directory(directory, first_name):
    """The files of ``directory`` as a zip, names relative to it, with
    ``first_name`` (the main file) as the first member: clients take the
    first member ending in "html" as the page."""
    names = [os.path.relpath(os.path.join(folder, name), directory)
             for folder, _dirs, files in os.walk(directory)
             for name in files]
    names.sort(key=lambda name: (name != first_name, name))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(os.path.join(directory, name), name)
    return buffer.getvalue()
