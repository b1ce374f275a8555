"""Extension <-> mimetype knowledge shared by the manager and the handlers.

A fixed table rather than the ``mimetypes`` module alone: that module reads
the host's /etc/mime.types, so the registry would route differently from one
machine to the next.
"""

import mimetypes

# extension -> mimetype; the first extension listed for a mimetype is its
# canonical one (used when a client sends a mimetype instead of a format).
MIMETYPE_BY_EXTENSION = {
    # office: OpenDocument
    "odt": "application/vnd.oasis.opendocument.text",
    "ott": "application/vnd.oasis.opendocument.text-template",
    "fodt": "application/vnd.oasis.opendocument.text-flat-xml",
    "odm": "application/vnd.oasis.opendocument.text-master",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "ots": "application/vnd.oasis.opendocument.spreadsheet-template",
    "fods": "application/vnd.oasis.opendocument.spreadsheet-flat-xml",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "otp": "application/vnd.oasis.opendocument.presentation-template",
    "fodp": "application/vnd.oasis.opendocument.presentation-flat-xml",
    "odg": "application/vnd.oasis.opendocument.graphics",
    "otg": "application/vnd.oasis.opendocument.graphics-template",
    "fodg": "application/vnd.oasis.opendocument.graphics-flat-xml",
    "odf": "application/vnd.oasis.opendocument.formula",
    # office: Microsoft and others
    "doc": "application/msword",
    "dot": "application/msword",
    "6.doc": "application/msword",
    "95.doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument"
            ".wordprocessingml.document",
    "ms.docx": "application/vnd.openxmlformats-officedocument"
               ".wordprocessingml.document",
    "docm": "application/vnd.ms-word.document.macroEnabled.12",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument"
            ".spreadsheetml.sheet",
    "ms.xlsx": "application/vnd.openxmlformats-officedocument"
               ".spreadsheetml.sheet",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    "5.xls": "application/vnd.ms-excel",
    "95.xls": "application/vnd.ms-excel",
    # SYLK, under the media type LibreOffice gives it.
    "slk": "text/spreadsheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pps": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument"
            ".presentationml.presentation",
    "ms.pptx": "application/vnd.openxmlformats-officedocument"
               ".presentationml.presentation",
    "pptm": "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
    "ppsx": "application/vnd.openxmlformats-officedocument"
            ".presentationml.slideshow",
    "ms.ppsx": "application/vnd.openxmlformats-officedocument"
               ".presentationml.slideshow",
    "rtf": "application/rtf",
    "txt": "text/plain",
    "text": "text/plain",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "html": "text/html",
    "htm": "text/html",
    "xhtml": "application/xhtml+xml",
    "xml": "text/xml",
    "pdf": "application/pdf",
    "epub": "application/epub+zip",
    "zip": "application/zip",
    "wpd": "application/vnd.wordperfect",
    "sxw": "application/vnd.sun.xml.writer",
    "sxc": "application/vnd.sun.xml.calc",
    "sxi": "application/vnd.sun.xml.impress",
    "sxd": "application/vnd.sun.xml.draw",
    # images
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "webp": "image/webp",
    "svg": "image/svg+xml",
    "ico": "image/vnd.microsoft.icon",
    "ppm": "image/x-portable-pixmap",
    "pgm": "image/x-portable-graymap",
    "pbm": "image/x-portable-bitmap",
    "eps": "application/postscript",
    "ps": "application/postscript",
    "emf": "image/emf",
    "wmf": "image/wmf",
    "xpm": "image/x-xpixmap",
    # audio
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/opus",
    "wav": "audio/x-wav",
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "weba": "audio/webm",
    # video
    "ogv": "video/ogg",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "avi": "video/x-msvideo",
    "mpeg": "video/mpeg",
    "mpg": "video/mpeg",
    "mkv": "video/x-matroska",
    "mov": "video/quicktime",
    "flv": "video/x-flv",
    "3gp": "video/3gpp",
    "wmv": "video/x-ms-wmv",
    # more ffmpeg targets (COMPAT.md section 8)
    "ts": "video/mp2t",
    "asf": "video/x-ms-asf",
    "wma": "audio/x-ms-wma",
}

# mimetype -> canonical extension, where the first extension above is not the
# one clients expect.
CANONICAL_EXTENSION = {
    "text/plain": "txt",
    "text/html": "html",
    "image/jpeg": "jpg",
    "image/tiff": "tiff",
    "video/mpeg": "mpeg",
    "video/mp4": "mp4",
    "audio/ogg": "ogg",
    "application/msword": "doc",
    "application/vnd.ms-powerpoint": "ppt",
    "application/postscript": "eps",
}

# Media types compare case-insensitively (macroEnabled).  A name with a dot
# (ms.docx, 95.xls) is a filter flavour, never a mimetype's canonical name.
_EXTENSION_BY_MIMETYPE = {}
for _extension, _mimetype in MIMETYPE_BY_EXTENSION.items():
    if "." not in _extension:
        _EXTENSION_BY_MIMETYPE.setdefault(_mimetype.lower(), _extension)
_EXTENSION_BY_MIMETYPE.update(CANONICAL_EXTENSION)


def normalize_format(format_name):
    """``'.PDF'`` -> ``'pdf'``; a mimetype becomes its canonical extension.

    Returns '' for an empty name; an unknown mimetype is returned unchanged
    so that the caller can say which one it did not know.
    """
    name = (format_name or "").strip()
    if "/" in name:
        return extension_for_mimetype(name) or name
    return name.lstrip(".").lower()


def normalize_mimetype(mimetype):
    """``'Text/HTML; charset=utf-8'`` -> ``'text/html'``."""
    return (mimetype or "").split(";")[0].strip().lower()


def mimetype_for_extension(extension):
    """The mimetype of an extension, '' when nobody knows it."""
    extension = extension.lower().lstrip(".")
    mimetype = MIMETYPE_BY_EXTENSION.get(extension)
    if mimetype is None:
        mimetype = mimetypes.types_map.get("." + extension, "")
    return mimetype


def extension_for_mimetype(mimetype):
    """The canonical extension of a mimetype, '' when unknown."""
    mimetype = normalize_mimetype(mimetype)
    extension = _EXTENSION_BY_MIMETYPE.get(mimetype)
    if extension is None:
        guessed = mimetypes.guess_extension(mimetype, strict=False)
        extension = guessed.lstrip(".") if guessed else ""
    return extension


def extensions_for_mimetype(mimetype):
    """Every known extension of a mimetype, canonical one first."""
    mimetype = normalize_mimetype(mimetype)
    canonical = extension_for_mimetype(mimetype)
    found = [canonical] if canonical else []
    for extension, known in MIMETYPE_BY_EXTENSION.items():
        if known.lower() == mimetype and extension not in found:
            found.append(extension)
    return found
