"""Raster image conversion and metadata with ImageMagick.

Documents are untrusted, so every ImageMagick run is fenced in:

* the input is named by the handler and read with an explicit coder prefix
  (``png:/tmp/.../input.png``), so neither the file name nor the content can
  pick a coder;
* ``policy.xml`` (next to this module, passed through MAGICK_CONFIGURE_PATH)
  allows only the raster coders of ``IMAGE_FORMATS``: no URL, MVG, MSL,
  TEXT, EPHEMERAL, PS/PDF, no ``@file`` and no delegate programs;
* memory, map, disk, area and time are bounded with ``-limit``, and an image
  whose header declares more pixels than ``imagemagick_area_limit`` is
  refused before it is decoded (ImageMagick 6 would only move a too-large
  image to disk, not refuse it);
* ImageMagick's temporary files go to the request's private directory.

PDF sources are rasterised (first page) by poppler's ``pdftoppm``, because
the ghostscript route is refused by the policy.  SVG is offered only when
this ImageMagick lists an SVG coder (``-list format``); it then works with
the librsvg coder, while ImageMagick's internal renderer fails safely (its
MVG step is refused).

Metadata keys are those of ``identify -verbose`` for the first frame, at the
image's top level, with ``str.capitalize()`` as upstream cloudooo
(``Compression``, ``Mime type``, ``Geometry``...), plus ``Properties`` (a
dict of the image properties: comments, EXIF, PNG text chunks) and
``MIMEType``.  set_metadata is not supported: rewriting an image's tags with
ImageMagick re-encodes it, which for JPEG loses quality.
"""

import collections
import functools
import math
import os
import re
import shutil

from cloudooo.errors import (
    ConfigurationError, ConversionError, UnsupportedFormat)
from cloudooo.formats import extension_for_mimetype, mimetype_for_extension
from cloudooo.handler.base import Handler
from cloudooo.handler.pdf.protection import readable_pdf

POLICY_PATH = os.path.dirname(os.path.abspath(__file__))


class ImageFormat(collections.namedtuple("ImageFormat", (
        "coder",        # ImageMagick's name, used as the explicit prefix
        "extension",    # the one that names its mimetype in formats.py
        "title",
        "writable",
        "multi_frame",  # keeps every frame; other targets get the first one
        "alpha",        # False: transparent parts are put on white
))):
    __slots__ = ()

    @property
    def mimetype(self):
        """From cloudooo.formats, the one table of mimetypes."""
        return mimetype_for_extension(self.extension)


_JPEG = ImageFormat("JPEG", "jpg", "JPEG image", True, False, False)
_TIFF = ImageFormat("TIFF", "tiff", "TIFF image", True, True, True)
# By the extension clients name; an alias maps to the same row.
IMAGE_FORMATS = {
    "png": ImageFormat("PNG", "png", "PNG image", True, False, True),
    "jpg": _JPEG,
    "jpeg": _JPEG,
    "gif": ImageFormat("GIF", "gif", "GIF image", True, True, True),
    "tiff": _TIFF,
    "tif": _TIFF,
    "bmp": ImageFormat("BMP", "bmp", "Windows bitmap", True, False, True),
    "webp": ImageFormat("WEBP", "webp", "WebP image", True, False, True),
    "ico": ImageFormat("ICO", "ico", "Windows icon", False, False, True),
    "ppm": ImageFormat("PPM", "ppm", "Portable pixmap", True, False, False),
    "pgm": ImageFormat("PGM", "pgm", "Portable graymap", True, False,
                       False),
    "pbm": ImageFormat("PBM", "pbm", "Portable bitmap", True, False, False),
    "svg": ImageFormat("SVG", "svg", "SVG drawing", False, False, True),
    # Not an ImageMagick coder here: pdftoppm turns page 1 into a PNG.
    "pdf": ImageFormat("PDF", "pdf", "PDF document", False, False, True),
}

# Longest side, in pixels, of a rasterised PDF page: a fixed size rather than
# a resolution, so that a page declaring huge dimensions cannot become a
# decompression bomb.
PDF_RENDER_SIZE = 2048

# ImageMagick keeps a pixel cache that does not fit in memory on disk (in the
# request's directory); this bounds it.  Not a setting yet.
DISK_LIMIT = "1GiB"

# identify -verbose keys that describe our temporary file or the run, not
# the image.
EXCLUDED_KEYS = frozenset((
    "Filename", "Base filename", "Artifacts", "Pixels per second",
    "User time", "Elapsed time", "Version", "Tainted"))
EXCLUDED_PROPERTIES = frozenset(("date:create", "date:modify",
                                 "date:timestamp"))

SI_FACTORS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}
SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)[bp]?\s*$",
                          re.IGNORECASE)


def parse_si(value, name):
    """``'128MP'`` -> 128000000, ``'256MiB'`` -> 268435456, as ImageMagick
    reads its limits."""
    match = SIZE_PATTERN.match(str(value))
    if not match:
        raise ConfigurationError("%s: cannot read %r as an ImageMagick size "
                                 "(e.g. 128MP, 256MiB)" % (name, value))
    number, prefix, binary = match.groups()
    prefix = prefix.lower()
    if binary:
        factor = 1024 ** "_kmgtp".index(prefix) if prefix else 1
    else:
        factor = SI_FACTORS[prefix]
    return int(float(number) * factor)


@functools.lru_cache(maxsize=None)
def imagemagick_commands(search_path=None):
    """``(convert_argv, identify_argv)`` of the real ImageMagick.

    ImageMagick 7's ``magick`` first; else Debian's versioned IM6 binaries,
    which a shim named ``convert`` earlier in PATH cannot shadow.
    """
    magick = shutil.which("magick", path=search_path)
    if magick:
        return (magick,), (magick, "identify")
    for suffix in ("-im6.q16", "-im6"):
        convert = shutil.which("convert" + suffix, path=search_path)
        identify = shutil.which("identify" + suffix, path=search_path)
        if convert and identify:
            return (convert,), (identify,)
    if os.path.exists("/usr/bin/convert"):
        return ("/usr/bin/convert",), ("/usr/bin/identify",)
    raise ConversionError("ImageMagick is not installed (no magick, "
                          "convert-im6.q16 or /usr/bin/convert)")


class ImageMagickHandler(Handler):
    """Converts between the raster formats of ``IMAGE_FORMATS``."""

    name = "imagemagick"
    accepts_spooled_documents = True
    tool_read_only = (POLICY_PATH,)
    # ImageMagick 6 loses some coder errors, such as a limit hit inside
    # libpng, and then prints nothing at all.
    silent_failure_reason = ("no reason given (the image may exceed a "
                             "resource limit)")

    def __init__(self, settings):
        super().__init__(settings)
        # Checked now so that a bad value stops the server at start.
        self.area_limit = parse_si(settings.imagemagick_area_limit,
                                   "imagemagick_area_limit")
        parse_si(settings.imagemagick_memory_limit,
                 "imagemagick_memory_limit")
        self._capabilities = None

    def preflight_problems(self):
        try:
            self._commands()
        except ConversionError as error:
            return [str(error)]
        return []

    def start(self):
        super().start()
        # What this build reads and writes, asked once, now: an
        # ImageMagick that cannot even list its formats stops the start.
        self._coder_capabilities()

    def convert(self, data, source_format, destination_format, zip=False,
                refresh=False, conversion_kw=None):
        """Return the image in ``destination_format``; ``conversion_kw``'s
        ``password`` opens a protected PDF; ``zip``, ``refresh`` and other
        keys are ignored (one image in, one out)."""
        source = self._readable(source_format)
        target = self._writable(destination_format)
        password = (conversion_kw or {}).get("password")
        with self.workspace() as work:
            input_spec = self._input_spec(
                work, work.write_input(data, source.coder.lower()), source,
                password)
            self._check_area(work, input_spec)
            if not target.multi_frame:
                input_spec += "[0]"
            output = work.file("output." + destination_format)
            argv = list(self._commands()[0]) + self._limit_args()
            argv.append(input_spec)
            if not target.alpha:
                argv += ["-background", "white", "-alpha", "remove",
                         "-alpha", "off"]
            argv.append("%s:%s" % (target.coder, output))
            work.run(argv)
            self._check_output(work, output, target)
            return work.output(output)

    def get_metadata(self, data, source_format, base_document=False):
        source = self._readable(source_format)
        if source.coder == "PDF":
            raise UnsupportedFormat(
                "ImageMagick does not read PDF metadata; the pdf handler does")
        with self.workspace() as work:
            filename = work.write_input(data, source.coder.lower())
            input_spec = self._input_spec(work, filename, source)
            self._check_area(work, input_spec)
            argv = list(self._commands()[1]) + self._limit_args()
            argv += ["-verbose", input_spec + "[0]"]
            result = work.run(argv)
            metadata = parse_identify_verbose(
                result.stdout.decode("utf-8", "replace"))
            base = work.output(filename) if base_document else None
        metadata["MIMEType"] = source.mimetype
        if base_document:
            metadata["Data"] = base
        return metadata

    def set_metadata(self, data, source_format, metadata):
        raise UnsupportedFormat(
            "setting metadata is not supported for images")

    def allowed_conversion_formats(self, source_mimetype):
        extension = extension_for_mimetype(source_mimetype or "")
        if not self._can_read(extension):
            return []
        seen = set()
        formats = []
        for row in self._targets():
            if row.mimetype not in seen:
                seen.add(row.mimetype)
                formats.append((row.mimetype, row.title))
        return formats

    def allowed_extensions(self, source=None, document_type=None):
        if not self._can_read(source):
            return []
        return self._target_extensions()

    def can_write(self, source_mimetype, destination_mimetype):
        # Only raster targets: svg, pdf, emf... are left to a later rule.
        return self._can_read(extension_for_mimetype(source_mimetype or "")) \
            and any(row.mimetype == destination_mimetype
                    for row in self._targets())

    def tool_environment(self, path=None):
        env = super().tool_environment(path)
        env["MAGICK_CONFIGURE_PATH"] = POLICY_PATH
        if path:
            # ImageMagick's own temporary files stay in the request folder.
            env["MAGICK_TEMPORARY_PATH"] = path
            env["TMPDIR"] = path
        return env

    def _targets(self):
        capabilities = self._coder_capabilities()
        return [row for row in IMAGE_FORMATS.values()
                if row.writable and "w" in capabilities.get(row.coder, "")]

    def _target_extensions(self):
        targets = self._targets()
        return [(name, row.title) for name, row in IMAGE_FORMATS.items()
                if row in targets]

    def _can_read(self, extension):
        row = IMAGE_FORMATS.get(extension)
        if row is None:
            return False
        if row.coder == "PDF":
            return shutil.which(
                "pdftoppm", path=self.tool_environment().get("PATH")) \
                is not None
        return "r" in self._coder_capabilities().get(row.coder, "")

    def _readable(self, source_format):
        if not self._can_read(source_format):
            raise UnsupportedFormat(
                "this ImageMagick cannot read %r documents" % source_format)
        return IMAGE_FORMATS[source_format]

    def _writable(self, destination_format):
        row = IMAGE_FORMATS.get(destination_format)
        if row is None or row not in self._targets():
            raise UnsupportedFormat(
                "ImageMagick cannot produce %r; it produces: %s"
                % (destination_format, ", ".join(
                    name for name, _title in self._target_extensions())))
        return row

    def _coder_capabilities(self):
        """``{coder: 'rw'}`` from ``-list format``: which formats this build
        really has (webp, svg, ... are optional)."""
        if self._capabilities is None:
            argv = list(self._commands()[0]) + ["-list", "format"]
            result = self.run_tool(argv, self.settings.tool_timeout,
                                   self.tool_environment(),
                                   tool="ImageMagick",
                                   read_only=self.tool_read_only)
            self._capabilities = parse_format_list(
                result.stdout.decode("utf-8", "replace"))
        return self._capabilities

    def _input_spec(self, work, filename, source, password=None):
        """ImageMagick's explicit input spec for the document at
        ``filename`` (a PDF's first page made PNG by pdftoppm)."""
        if source.coder == "PDF":
            pdf = readable_pdf(filename, password, self)
            page = work.file("page")
            work.run(["pdftoppm", "-png", "-f", "1", "-l", "1",
                      "-scale-to", str(PDF_RENDER_SIZE), "-singlefile",
                      pdf, page])
            return "PNG:%s.png" % page
        return "%s:%s" % (source.coder, filename)

    def _check_area(self, work, input_spec):
        """Refuse, from the header alone, an image too large to decode."""
        argv = list(self._commands()[1]) + self._limit_args()
        argv += ["-ping", "-format", "%w %h\\n", input_spec]
        result = work.run(argv)
        for line in result.stdout.decode("ascii", "replace").splitlines():
            try:
                width, height = (int(word) for word in line.split())
            except ValueError:
                continue
            if width * height > self.area_limit:
                raise ConversionError(
                    "the image is %dx%d pixels, more than the limit of %s "
                    "(imagemagick_area_limit)"
                    % (width, height, self.settings.imagemagick_area_limit))

    def _check_output(self, work, output, target):
        work.check_output(output, "ImageMagick", target.coder + " image")
        argv = list(self._commands()[1]) + self._limit_args()
        argv += ["-ping", "-format", "%m\\n", "%s:%s" % (target.coder,
                                                         output)]
        found = work.run(argv).stdout.decode("ascii", "replace")
        found = found.split()[0] if found.split() else ""
        if found != target.coder:
            raise ConversionError("ImageMagick's output is %r, not %s"
                                  % (found, target.coder))

    def _limit_args(self):
        settings = self.settings
        return ["-limit", "memory", settings.imagemagick_memory_limit,
                "-limit", "map", settings.imagemagick_memory_limit,
                "-limit", "area", settings.imagemagick_area_limit,
                "-limit", "disk", DISK_LIMIT,
                "-limit", "time", str(math.ceil(settings.tool_timeout))]

    def _commands(self):
        return imagemagick_commands(self.tool_environment().get("PATH"))


def parse_format_list(text):
    """``-list format`` lines such as ``  PNG* PNG  rw-  Portable...``."""
    capabilities = {}
    pattern = re.compile(r"^\s*([A-Z0-9-]+)\*?\s+\S+\s+([r-])([w-])[+-]\s")
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            name, read, write = match.groups()
            capabilities[name] = (read + write).replace("-", "")
    return capabilities


def parse_identify_verbose(text):
    """The ``Key: value`` lines of the first image's top level (indent 2),
    capitalised; the ``Properties:`` block becomes a dict."""
    metadata = {}
    properties = {}
    section = None
    images = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, _, value = line.strip().partition(": ")
        if indent == 0:
            images += 1
            if images > 1:
                break
            continue
        if indent == 2:
            key = key.rstrip(":")
            section = key
            if value and key not in EXCLUDED_KEYS:
                metadata[key.capitalize()] = value.strip()
        elif indent == 4 and section == "Properties" and value:
            if key not in EXCLUDED_PROPERTIES:
                properties[key] = value.strip()
    if properties:
        metadata["Properties"] = properties
    return metadata
