"""PDF text extraction and document information, with poppler and pypdf.

* convert: pdf -> txt only (``pdftotext -enc UTF-8``).  Other targets raise
  UnsupportedFormat: the registry sends them to the office handler.
* get_metadata: ``pdfinfo -enc UTF-8`` lines, keys lower-cased with their
  spaces kept as upstream cloudooo (``title``, ``producer``, ``pages``,
  ``page size``, ``pdf version``...), values as pdfinfo prints them
  (strings, ``pages`` included), plus ``MIMEType``.
* set_metadata: pypdf rewrites the information dictionary, keeping every
  page; it runs as a child process (``pypdf_child.py rewrite``) so that
  a pathological document meets the same timeout as the other tools.
"""

import json

from cloudooo.errors import InvalidRequest, UnsupportedFormat
from cloudooo.handler.base import Handler
from cloudooo.handler.pdf.protection import (PYPDF_CHILD_READ_ONLY,
                                             pypdf_argv, readable_pdf)

TEXT_FORMATS = ("txt", "text")

# Client keys (compared lower-case, without spaces or underscores) -> PDF
# information keys.  Other keys become custom entries, '/' + capitalised as
# upstream did.
INFO_KEYS = {
    "title": "/Title",
    "author": "/Author",
    "subject": "/Subject",
    "keywords": "/Keywords",
    "creator": "/Creator",
    "producer": "/Producer",
    "creationdate": "/CreationDate",
    "moddate": "/ModDate",
    "modificationdate": "/ModDate",
}
DATE_KEYS = ("/CreationDate", "/ModDate")

# What pdfinfo computes from the file rather than reads from its information
# dictionary: sent back by a client, these are skipped, not written.
COMPUTED_KEYS = frozenset((
    "pages", "encrypted", "pagesize", "pagerot", "filesize", "optimized",
    "pdfversion", "tagged", "form", "javascript", "suspects",
    "userproperties", "custommetadata", "metadatastream", "mimetype",
    "data"))


class PDFHandler(Handler):
    """pdftotext, pdfinfo and pypdf behind the Handler contract."""

    name = "pdf"
    accepts_password = True
    accepts_spooled_documents = True
    required_programs = ("pdftotext", "pdfinfo")
    install_hint = "poppler-utils"

    def convert(self, data, source_format, destination_format, zip=False,
                refresh=False, conversion_kw=None):
        """Return the text of the PDF, UTF-8; ``conversion_kw``'s
        ``password`` opens a protected PDF; ``zip``, ``refresh`` and other
        keys are ignored."""
        check_source(source_format)
        if destination_format not in TEXT_FORMATS:
            raise UnsupportedFormat(
                "the pdf handler only extracts text (txt), not %r"
                % destination_format)
        password = (conversion_kw or {}).get("password")
        if password is not None and not isinstance(password, str):
            raise InvalidRequest("conversion_kw 'password' must be a string")
        with self.workspace() as work:
            source = readable_pdf(work.write_input(data, "pdf"), password,
                                  self)
            output = work.file("output.txt")
            work.run(["pdftotext", "-enc", "UTF-8", source, output])
            # A PDF without text is an empty text file, not a failure.
            work.check_output(output, "pdftotext", "text file",
                              allow_empty=True)
            return work.output(output)

    def get_metadata(self, data, source_format, base_document=False,
                     password=None):
        check_source(source_format)
        with self.workspace() as work:
            source = work.write_input(data, "pdf")
            result = work.run(["pdfinfo", "-enc", "UTF-8",
                               readable_pdf(source, password, self)])
            metadata = parse_pdfinfo(result.stdout.decode("utf-8",
                                                          "replace"))
            # As sent, protected or not.
            base = work.output(source) if base_document else None
        metadata["MIMEType"] = "application/pdf"
        if base_document:
            metadata["Data"] = base
        return metadata

    def set_metadata(self, data, source_format, metadata):
        """Write ``metadata`` into the information dictionary.

        Keys are matched case-insensitively (``title``, ``Title``); dates
        must be PDF dates (``D:20110120135018+01'00'``); lists are joined
        with ", "; keys pdfinfo computes (``pages``...) are skipped.
        """
        check_source(source_format)
        info = info_dictionary(metadata)
        with self.workspace() as work:
            output = work.file("output.pdf")
            work.run(pypdf_argv("rewrite", work.write_input(data, "pdf"),
                                output),
                     input_bytes=json.dumps(info).encode("utf-8"),
                     tool="pypdf", read_only=PYPDF_CHILD_READ_ONLY)
            work.check_output(output, "pypdf", "PDF")
            return work.output(output)

    def allowed_conversion_formats(self, source_mimetype):
        if source_mimetype == "application/pdf":
            return [("text/plain", "Plain Text")]
        return []

    def allowed_extensions(self, source=None, document_type=None):
        if source == "pdf":
            return [("txt", "Plain Text")]
        return []

    def can_write(self, source_mimetype, destination_mimetype):
        return (source_mimetype, destination_mimetype) == (
            "application/pdf", "text/plain")


def check_source(source_format):
    if source_format != "pdf":
        raise UnsupportedFormat("the pdf handler reads PDF, not %r"
                                % source_format)


def parse_pdfinfo(text):
    """``Page size:    842 x 539 pts`` -> ``{'page size': '842 x 539 pts'}``.
    Only the first ':' separates: dates hold colons."""
    metadata = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if separator and key.strip():
            metadata[key.strip().lower()] = value.strip()
    return metadata


def info_dictionary(metadata):
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be a dict")
    info = {}
    for key, value in metadata.items():
        plain = str(key).lower().replace(" ", "").replace("_", "")
        if not plain or plain in COMPUTED_KEYS:
            continue
        name = INFO_KEYS.get(plain)
        if name is None:
            if not str(key).strip().isprintable() or "/" in str(key):
                raise InvalidRequest("invalid metadata key %r" % key)
            name = "/" + str(key).strip().replace(" ", "").capitalize()
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(item) for item in value)
        elif isinstance(value, dict):
            raise InvalidRequest("metadata %r: a dict cannot be stored in a "
                                 "PDF" % key)
        value = str(value)
        if name in DATE_KEYS and value and not value.startswith("D:"):
            raise InvalidRequest(
                "metadata %r must be a PDF date such as "
                "D:20110120135018+01'00', not %r" % (key, value))
        info[name] = value
    return info
