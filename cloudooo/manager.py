"""The public API: argument checks, base64, dispatch through the registry.

Knows nothing of XML-RPC: methods take and return plain Python values and
raise ``cloudooo.errors``; ``cloudooo.xmlrpc`` publishes them.  Method names
and shapes are upstream cloudooo's, which ERP5 clients call.
"""

import base64
import binascii
import functools
import logging
from typing import Dict, List, Optional, Union

import pybase64

from cloudooo.arguments import check_public_methods, checked
from cloudooo.errors import CloudoooError, InvalidRequest, UnsupportedFormat
from cloudooo.formats import (extension_for_mimetype, extensions_for_mimetype,
                              mimetype_for_extension, normalize_format,
                              normalize_mimetype)
from cloudooo.registry import unique_pairs
from cloudooo.spool import Base64Document, SpooledDocument, document_bytes
from cloudooo.ops.context import note, note_bytes

logger = logging.getLogger(__name__)

# Formats where an empty file is a real, empty document.
EMPTY_ALLOWED_FORMATS = ("csv", "tsv", "txt")
GRANULATED_FORMAT = "odt"
# What a bytes regex's \s matches: the blanks a document's base64 may hold.
ASCII_WHITESPACE = b" \t\n\r\x0b\x0c"

# Argument types of the published methods (see cloudooo.arguments).
Base64 = str
FormatName = str
# What a metadata value may be: Keywords come as a list of words.
MetadataValue = Union[str, int, float, bool, List[Union[str, int, float]],
                      None]
MetadataDict = Dict[str, MetadataValue]


def decode_document(data, what="file"):
    """Base64 text -> bytes, strictly: a typo must not become garbage.
    Text the XML-RPC layer already decoded to disk stays there."""
    if isinstance(data, SpooledDocument):
        if data.error is not None:
            raise InvalidRequest("%s is not valid base64" % what)
        return data
    if isinstance(data, (bytes, bytearray)) or hasattr(data, "data"):
        raise InvalidRequest(
            "%s must be a base64-encoded string, not an XML-RPC binary "
            "(send base64.encodebytes(data).decode())" % what)
    if not isinstance(data, str):
        raise InvalidRequest("%s must be a base64-encoded string" % what)
    try:
        text = data.encode("ascii").translate(None, ASCII_WHITESPACE)
    except UnicodeEncodeError:
        raise InvalidRequest("%s is not valid base64" % what)
    try:
        # SIMD: ~20x less CPU than the standard library on a small document
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        # What pybase64 refuses but the standard library takes (padding
        # after the last group) is taken, as it always was.
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("%s is not valid base64" % what)


def encode_document(data):
    """Bytes -> base64 text (lines of 76, as base64.encodebytes); a
    spooled result is encoded while sent."""
    note_bytes("output_bytes", len(data))
    if isinstance(data, SpooledDocument):
        return Base64Document(data)
    return pybase64.encodebytes(data).decode("ascii")


def for_handler(handler, data):
    """What ``handler`` takes: spooled documents only if it reads files."""
    if handler.accepts_spooled_documents:
        return data
    return document_bytes(data)


def source_format_of(name, what="source_format"):
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("%s must be a non-empty format name" % what)
    extension = normalize_format(name)
    if "/" in extension:
        raise UnsupportedFormat("unknown %s %r" % (what, name))
    return extension


def legacy_triple(method):
    """An ERP5 legacy method: the dict it returns as (200, dict, ''), any
    failure (bad arguments and argument types included) as (402, {},
    message)."""
    checked_method = checked(method)

    @functools.wraps(method)
    def legacy_method(self, *args, **kwargs):
        try:
            return 200, checked_method(self, *args, **kwargs), ""
        except Exception as error:
            return self._legacy_failure(method.__name__, error)
    legacy_method.arguments_checked = True
    return legacy_method


def legacy_source(filename, extension):
    """A legacy call's source format: ``extension``, else the file name's."""
    if extension:
        return extension
    if not isinstance(filename, str) or "." not in filename:
        raise InvalidRequest("filename must be a file name with an extension "
                             "(such as 'letter.odt'), or give extension")
    return filename.rsplit(".", 1)[-1]


@check_public_methods
class Manager:
    """Every public method is published; its annotations are the argument
    types clients must send (checked by cloudooo.arguments, Fault 2)."""

    # Arguments holding a document (base64 text): the XML-RPC layer may
    # hand them over as a SpooledDocument, already decoded to disk.
    document_arguments = ("file", "data")

    def __init__(self, registry, granulator_class):
        self.registry = registry
        self.granulator_class = granulator_class

    def _document(self, file, source_format):
        data = decode_document(file)
        note_bytes("input_bytes", len(data))
        if not data and source_format not in EMPTY_ALLOWED_FORMATS:
            raise InvalidRequest("the %s document is empty (0 bytes)"
                                 % source_format)
        return data

    # -- conversion and metadata ---------------------------------------------

    def convertFile(self, file: Base64, source_format: FormatName,
                    destination_format: FormatName, zip: bool = False,
                    refresh: bool = False,
                    conversion_kw: Optional[Dict[str, object]] = None):
        """convertFile(file, source_format, destination_format, zip=False,
        refresh=False, conversion_kw={}) -> base64 string.

        file: the document, base64.  Formats: extensions (odt, pdf, ms.docx)
        or mimetypes.  zip: return a zip of every output file (HTML with its
        images).  refresh: update fields and indexes first."""
        source = source_format_of(source_format)
        destination = source_format_of(destination_format,
                                       "destination_format")
        note(source=source, destination=destination)
        if conversion_kw is not None and not isinstance(conversion_kw, dict):
            raise InvalidRequest("conversion_kw must be a struct")
        data = self._document(file, source)
        handler = self.registry.handler_for(source, destination,
                                            conversion_kw=conversion_kw)
        result = handler.convert(for_handler(handler, data), source,
                                 destination, zip=bool(zip),
                                 refresh=bool(refresh),
                                 conversion_kw=conversion_kw or {})
        return encode_document(result)

    def getFileMetadataItemList(self, file: Base64,
                                source_format: FormatName,
                                base_document: bool = False,
                                password: Optional[str] = None):
        """getFileMetadataItemList(file, source_format, base_document=False,
        password=None) -> struct of metadata (Title, Subject, Keywords, ...,
        MIMEType); Data is '' or, with base_document, the document converted
        to its base format (ODF for office documents), base64.  password
        opens a password-protected document."""
        source = source_format_of(source_format)
        data = self._document(file, source)
        handler = self.registry.handler_for(source)
        extra = password_argument(handler, password)
        metadata = handler.get_metadata(for_handler(handler, data), source,
                                        base_document=bool(base_document),
                                        **extra)
        raw = metadata.get("Data") or b""
        metadata["Data"] = encode_document(raw) if raw else ""
        return metadata

    def updateFileMetadata(self, file: Base64, source_format: FormatName,
                           metadata_dict: MetadataDict):
        """updateFileMetadata(file, source_format, metadata_dict) -> base64
        of the document with the metadata written.  Keys are capitalised;
        unknown keys become user-defined properties."""
        source = source_format_of(source_format)
        if not isinstance(metadata_dict, dict):
            raise InvalidRequest("metadata_dict must be a struct")
        data = self._document(file, source)
        handler = self.registry.handler_for(source)
        metadata = {capitalize(key): value
                    for key, value in metadata_dict.items()}
        return encode_document(handler.set_metadata(
            for_handler(handler, data), source, metadata))

    # -- what can become what ---------------------------------------------

    def getAllowedExtensionList(
            self, request_dict: Optional[Dict[str, Optional[str]]] = None):
        """getAllowedExtensionList({'mimetype'|'extension'|'document_type':
        value}) -> [(extension, title), ...].  By source: what the handlers
        the registry routes each pair to can write; [('', '')] when none
        fits.  By document_type (a prefix of text, web, spreadsheet,
        presentation, drawing): that kind's formats, [] for an unknown
        kind."""
        request_dict = request_dict or {}
        if not isinstance(request_dict, dict):
            raise InvalidRequest("request_dict must be a struct")
        mimetype = request_dict.get("mimetype")
        extension = request_dict.get("extension")
        document_type = request_dict.get("document_type")
        if mimetype:
            sources = extensions_for_mimetype(mimetype)
        elif extension:
            sources = [normalize_format(extension)]
        elif document_type and str(document_type).strip():
            return self.registry.allowed_extensions(
                document_type=document_type)
        else:
            sources = []
        result = unique_pairs(pair for source in sources
                              for pair in self.registry.allowed_extensions(
                                  source))
        return result or [("", "")]

    def getAllowedConversionFormatList(self, source_mimetype: str):
        """getAllowedConversionFormatList(source_mimetype) ->
        [(mimetype, title), ...] over every handler the registry routes this
        mimetype to."""
        if not isinstance(source_mimetype, str) or "/" not in source_mimetype:
            raise InvalidRequest("source_mimetype must be a mimetype such as "
                                 "'application/vnd.oasis.opendocument.text'")
        return self.registry.allowed_conversion_formats(
            normalize_mimetype(source_mimetype))

    # -- ERP5's legacy API: (status, dict, message) triples ---------------

    @legacy_triple
    def run_convert(self, filename: str = "", data: Base64 = None,
                    meta: Optional[Dict[str, object]] = None,
                    extension: Optional[FormatName] = None,
                    orig_format: Optional[str] = None):
        """run_convert(filename, data, meta, extension, orig_format) ->
        (200, {'data', 'meta', 'mime'}, '') or (402, {}, message): the
        document in its base format (ODF; HTML for HTML pages) with its
        metadata."""
        metadata = self.getFileMetadataItemList(
            data, legacy_source(filename, extension), True)
        base_format = metadata.pop("BaseFormat", "")
        mimetype = mimetype_for_extension(base_format) or \
            metadata.get("MIMEType", "")
        data = metadata.pop("Data")
        metadata["MIMEType"] = mimetype
        metadata["mime"] = mimetype
        return {"data": data, "meta": metadata, "mime": mimetype}

    @legacy_triple
    def run_setmetadata(self, filename: str = "", data: Base64 = None,
                        meta: Optional[MetadataDict] = None,
                        extension: Optional[FormatName] = None,
                        orig_format: Optional[str] = None):
        """run_setmetadata(filename, data, meta, extension, orig_format) ->
        (200, {'data'}, '') or (402, {}, message)."""
        return {"data": self.updateFileMetadata(
            data, legacy_source(filename, extension), meta or {})}

    @legacy_triple
    def run_getmetadata(self, filename: str = "", data: Base64 = None,
                        meta: Optional[Dict[str, object]] = None,
                        extension: Optional[FormatName] = None,
                        orig_format: Optional[str] = None):
        """run_getmetadata(filename, data, meta, extension, orig_format) ->
        (200, {'meta'}, '') or (402, {}, message)."""
        metadata = self.getFileMetadataItemList(
            data, legacy_source(filename, extension))
        metadata.pop("BaseFormat", None)
        metadata["title"] = metadata.get("Title", "")
        return {"meta": metadata}

    @legacy_triple
    def run_generate(self, filename: str = "", data: Base64 = None,
                     meta: Optional[Dict[str, object]] = None,
                     extension: Optional[FormatName] = None,
                     orig_format: Optional[str] = ""):
        """run_generate(filename, data, meta, extension, orig_format) ->
        (200, {'data', 'mime'}, '') or (402, {}, message).
        orig_format is the source mimetype; html output comes zipped."""
        if orig_format and not isinstance(orig_format, str):
            raise InvalidRequest("orig_format must be a mimetype")
        source = extension_for_mimetype(orig_format or "") or \
            normalize_format(legacy_source(filename, None))
        extension = source_format_of(extension, "extension")
        kind = (orig_format or "").split(".")[-1].split("/")[-1]
        if kind in ("presentation", "graphics", "spreadsheet", "text") \
                and extension == "xhtml":
            extension = "html"
        zip_output = "htm" in extension
        data = self.convertFile(data, source, extension, zip_output)
        if zip_output:
            mimetype = "application/zip"
        else:
            mimetype = mimetype_for_extension(extension) or \
                "application/octet-stream"
        return {"data": data, "mime": mimetype}

    @legacy_triple
    def getAllowedTargetItemList(self, content_type: str):
        """getAllowedTargetItemList(content_type) -> (200, {'response_data':
        [(extension, title), ...]}, '') or (402, {}, message)."""
        if not isinstance(content_type, str) or "/" not in content_type:
            raise InvalidRequest("content_type must be a mimetype such as "
                                 "'application/vnd.oasis.opendocument.text'")
        return {"response_data": self.getAllowedExtensionList(
            {"mimetype": content_type})}

    @staticmethod
    def _legacy_failure(method_name, error):
        """(402, {}, message): the message looks like a Python traceback,
        which ERP5 looks for, with our readable message as its last line.
        No real traceback: it would show server paths."""
        note(fault_code=getattr(error, "fault_code", 1))
        if isinstance(error, CloudoooError):
            logger.warning("%s failed: %s", method_name, error)
            last_line = "%s: %s" % (type(error).__name__,
                                    " ".join(str(error).splitlines()))
        else:
            # Its text may hold server paths: it goes to the log only.
            logger.exception("%s failed", method_name)
            last_line = "InternalError: internal error (%s), logged on the " \
                "server" % type(error).__name__
        return 402, {}, "Traceback (most recent call last):\n  cloudooo.%s" \
            "\n%s" % (method_name, last_line)

    # -- granulation ----------------------------------------------------

    def _granulator(self, data, source_format, password=None):
        source = source_format_of(source_format)
        document = self._document(data, source)
        if password is not None and not isinstance(password, str):
            raise InvalidRequest("password must be a string")
        if source != GRANULATED_FORMAT or password:
            # A protected ODT is opened by LibreOffice and stored in clear.
            handler = self.registry.handler_for(source, GRANULATED_FORMAT)
            document = handler.convert(
                for_handler(handler, document), source, GRANULATED_FORMAT,
                conversion_kw={"password": password} if password else {})
        return self.granulator_class(document_bytes(document))

    def getTableItemList(self, data: Base64,
                         source_format: FormatName = "odt",
                         password: Optional[str] = None):
        """getTableItemList(data, source_format='odt', password=None) ->
        [[name, caption]];
        the caption whole, label included ('Table 1: Prices'), or ''."""
        return self._granulator(data, source_format, password).table_items()

    def getTable(self, data: Base64, table_id: str,
                 source_format: FormatName = "odt",
                 password: Optional[str] = None):
        """getTable(data, table_id, source_format='odt', password=None) ->
        base64 of an ODT
        holding only that table."""
        return encode_document(
            self._granulator(data, source_format, password).table(table_id))

    def getColumnItemList(self, data: Base64, table_id: str,
                          source_format: FormatName = "odt",
                          password: Optional[str] = None):
        """getColumnItemList(data, table_id, source_format, password=None) ->
        [[index, header]]"""
        granulator = self._granulator(data, source_format, password)
        return granulator.column_items(table_id)

    def getLineItemList(self, data: Base64, table_id: str,
                        source_format: FormatName = "odt",
                        password: Optional[str] = None):
        """getLineItemList(data, table_id, source_format, password=None) ->
        one flat list,
        row after row, of [column header, cell text] pairs."""
        granulator = self._granulator(data, source_format, password)
        return granulator.line_items(table_id)

    def getImageItemList(self, data: Base64,
                         source_format: FormatName = "odt",
                         password: Optional[str] = None):
        """getImageItemList(data, source_format, password=None) ->
        [[file name, caption]],
        one per picture frame; the caption is the text after the first ':'
        of a captioned frame of that file, or ''."""
        return self._granulator(data, source_format, password).image_items()

    def getImage(self, data: Base64, image_id: str,
                 source_format: FormatName = "odt",
                 format: Optional[FormatName] = None,
                 resolution: Optional[Union[int, float, str]] = None,
                 password: Optional[str] = None):
        """getImage(data, image_id, source_format, format=None,
        resolution=None, password=None) -> base64 of the image as stored,
        or converted to ``format``; ``resolution`` (dpi) sizes a picture
        LibreOffice renders (svg, wmf...) into ``format``."""
        image = self._granulator(data, source_format, password).image(
            image_id)
        stored = normalize_format(image_id.rsplit(".", 1)[-1])
        target = normalize_format(format) if format else stored
        handler = self.registry.handler_for(stored, target) \
            if target != stored else None
        # As stored (no format, or its own), the picture comes back as it
        # is, resolution or not, as upstream answers ERP5.  A conversion
        # that cannot apply the resolution says so rather than ignore it:
        # the client would get another size than it asked for.
        if resolution and handler is not None and not getattr(
                handler, "renders_at_resolution", False):
            raise InvalidRequest(
                "getImage: resolution applies only when the picture is "
                "rendered into another format by LibreOffice (svg, wmf... "
                "to png); %s to %s keeps its pixels" % (stored, target))
        if handler is not None:
            conversion_kw = {"resolution": resolution} if resolution \
                else {}
            image = handler.convert(image, stored, target,
                                    conversion_kw=conversion_kw)
        return encode_document(image)

    def getParagraphItemList(self, data: Base64,
                             source_format: FormatName = "odt",
                             password: Optional[str] = None):
        """getParagraphItemList(data, source_format, password=None) ->
        [[index, style]];
        the style name as written in the document ('P1', 'Standard')."""
        granulator = self._granulator(data, source_format, password)
        return granulator.paragraph_items()

    def getParagraph(self, data: Base64, paragraph_id: int,
                     source_format: FormatName = "odt",
                     password: Optional[str] = None):
        """getParagraph(data, paragraph_id, source_format, password=None) ->
        [text, style]
        (style as in getParagraphItemList)."""
        granulator = self._granulator(data, source_format, password)
        return granulator.paragraph(paragraph_id)

    def getChapterItemList(self, data: Base64,
                           source_format: FormatName = "odt",
                           password: Optional[str] = None):
        """getChapterItemList(data, source_format, password=None) ->
        [[index, title]]"""
        return self._granulator(data, source_format, password).chapter_items()

    def getChapterItem(self, chapter_id: int, data: Base64,
                       source_format: FormatName = "odt",
                       password: Optional[str] = None):
        """getChapterItem(chapter_id, data, source_format, password=None) ->
        [title, chapter_id]"""
        granulator = self._granulator(data, source_format, password)
        return granulator.chapter(chapter_id)


def password_argument(handler, password):
    """The keyword that hands ``password`` to ``handler.get_metadata``:
    none without a password; refused where the handler opens no
    password-protected documents (media, images)."""
    if password is None or password == "":
        return {}
    if not isinstance(password, str):
        raise InvalidRequest("password must be a string")
    if not getattr(handler, "accepts_password", False):
        raise InvalidRequest("password applies to office documents and PDF "
                             "only")
    return {"password": password}


def capitalize(key):
    """Upstream's rule: 'title' -> 'Title'; 'MIMEType' stays as it is."""
    key = str(key)
    return key[:1].upper() + key[1:]
