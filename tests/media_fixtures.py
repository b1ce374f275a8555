"""Small media documents built on the fly for the handler tests.

Each builder runs the real tool once per test session (results are cached)
in a directory of its own, outside the handlers' tmp_path, so that the tests
can check the handlers leave nothing behind.  The corpus helpers skip a test
when ../shared/corpus is missing (a fresh clone has none).
"""

import functools
import json
import os
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from cloudooo.handler.imagemagick.handler import imagemagick_commands
from cloudooo.settings import Settings

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

# 1 s of 160x120 test pattern at 10 fps and a 440 Hz tone: enough to encode,
# small enough for a whole test run to take seconds.
VIDEO_SOURCE = ("-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10")
AUDIO_SOURCE = ("-f", "lavfi", "-i", "sine=frequency=440:duration=1")
FFMPEG = ("ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error")
FIXTURE_TITLE = "Fixture title"


def make_settings(tmp_path, **values):
    return Settings(working_path=str(tmp_path), **values)


def leftovers(settings):
    """Whatever a handler left in its temporary directory."""
    if not os.path.isdir(settings.tmp_path):
        return []
    return sorted(os.listdir(settings.tmp_path))


def corpus_bytes(name):
    path = CORPUS / name
    if not path.is_file():
        pytest.skip("sample corpus file %s not found (../shared/corpus is "
                    "absent in a fresh clone)" % path)
    return path.read_bytes()


def _build(argv, output_name):
    with tempfile.TemporaryDirectory(prefix="cloudooo-fixture-") as path:
        output = os.path.join(path, output_name)
        subprocess.run(list(argv) + [output], check=True, timeout=60,
                       stdin=subprocess.DEVNULL, capture_output=True)
        with open(output, "rb") as stream:
            return stream.read()


@functools.lru_cache(maxsize=None)
def ogv_video():
    """Theora + Vorbis in Ogg, tagged with FIXTURE_TITLE."""
    return _build(FFMPEG + VIDEO_SOURCE + AUDIO_SOURCE
                  + ("-c:v", "libtheora", "-q:v", "5", "-c:a", "libvorbis",
                     "-shortest", "-metadata", "title=" + FIXTURE_TITLE,
                     "-f", "ogg"), "fixture.ogv")


@functools.lru_cache(maxsize=None)
def ogv_flac_mono_11025():
    """Theora + FLAC in Ogg, like the corpus video, with a mono 11025 Hz
    track: a rate and layout several target encoders cannot take as is."""
    return _build(FFMPEG + VIDEO_SOURCE
                  + ("-f", "lavfi", "-i",
                     "sine=frequency=440:duration=1:sample_rate=11025",
                     "-c:v", "libtheora", "-q:v", "5", "-c:a", "flac",
                     "-ac", "1", "-shortest", "-f", "ogg"), "mono.ogv")


@functools.lru_cache(maxsize=None)
def ogg_audio_96k_stereo():
    """Vorbis in Ogg at 96 kHz stereo: above what WMA and MP2 accept."""
    return _build(FFMPEG + ("-f", "lavfi", "-i",
                            "sine=frequency=440:duration=1:sample_rate=96000",
                            "-ac", "2", "-c:a", "libvorbis", "-f", "ogg"),
                  "stereo96k.ogg")


@functools.lru_cache(maxsize=None)
def ogg_audio():
    """Vorbis in Ogg, no video."""
    return _build(FFMPEG + AUDIO_SOURCE + ("-c:a", "libvorbis", "-f", "ogg"),
                  "fixture.ogg")


@functools.lru_cache(maxsize=None)
def odd_sized_video():
    """161x121 lossless video in Matroska: x264 and VP9 need even sizes."""
    return _build(FFMPEG + ("-f", "lavfi", "-i",
                            "testsrc=duration=0.5:size=161x121:rate=10",
                            "-c:v", "ffv1", "-f", "matroska"), "odd.mkv")


def empty_wav():
    """A valid WAV header announcing no sample at all."""
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8) + b"WAVE"
            + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", 0))


@functools.lru_cache(maxsize=None)
def magick_image(builtin, extension):
    """An ImageMagick built-in picture (rose:, logo:, xc:red) as a file.

    Made without cloudooo's policy, which refuses built-ins: this is the
    tests' own trusted input.
    """
    return _build(imagemagick_commands()[0] + ("-size", "40x30", builtin),
                  "fixture." + extension)


def png_bytes(width, height, color_type, idat):
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xffffffff))
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def transparent_png():
    """A 4x4 RGBA PNG, fully transparent black: JPEG shows how its alpha
    was flattened."""
    rows = b"".join(b"\0" + b"\0\0\0\0" * 4 for _ in range(4))
    return png_bytes(4, 4, 6, zlib.compress(rows))


def png_bomb(width, height, rows=None):
    """A grey PNG declaring width x height pixels of black.

    With ``rows``, only that many rows are stored (the file stays tiny);
    without, every row is, which deflate squeezes about 1000:1.
    """
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    chunks = [compressor.compress(row)
              for _ in range(height if rows is None else rows)]
    chunks.append(compressor.flush())
    return png_bytes(width, height, 0, b"".join(chunks))


def pdf_document(pages, title):
    """A minimal PDF: one page of Helvetica text per string, and a title.

    Written by hand rather than by a tool so that the text and the
    information dictionary are exactly known.  Strings are Latin-1
    (WinAnsiEncoding) and must not hold parentheses or backslashes.
    """
    objects = []

    def add(body):
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               b"/Encoding /WinAnsiEncoding >>")
    pages_id = len(objects) + 2 * len(pages) + 1
    kids = []
    for text in pages:
        stream = (b"BT /F1 18 Tf 72 720 Td (" + text.encode("latin-1")
                  + b") Tj ET")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream
                      + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox "
                        b"[0 0 612 792] /Resources << /Font << /F1 %d 0 R "
                        b">> >> /Contents %d 0 R >>"
                        % (pages_id, font, content)))
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids), len(kids))) == pages_id
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    info = add(b"<< /Title (" + title.encode("latin-1") + b") "
               b"/Producer (cloudooo tests) >>")

    document = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(document))
        document += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(document)
    document += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        document += b"%010d 00000 n \n" % offset
    document += (b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n"
                 b"startxref\n%d\n%%%%EOF\n"
                 % (len(objects) + 1, catalog, info, xref))
    return bytes(document)


def _with_file(data, function):
    with tempfile.TemporaryDirectory(prefix="cloudooo-check-") as path:
        filename = os.path.join(path, "document.bin")
        with open(filename, "wb") as stream:
            stream.write(data)
        return function(filename)


def ffprobe_json(data):
    """ffprobe's -show_format -show_streams output, parsed."""
    def probe(filename):
        return subprocess.run(
            ["ffprobe", "-v", "error", "-print_format", "json",
             "-show_format", "-show_streams", filename],
            capture_output=True, check=True, timeout=30).stdout
    return json.loads(_with_file(data, probe))


def ffprobe(data):
    """ffprobe's view of a document: (format names, ['video:theora', ...])."""
    found = ffprobe_json(data)
    return (found["format"]["format_name"].split(","),
            ["%s:%s" % (stream["codec_type"], stream["codec_name"])
             for stream in found["streams"]])


def identify(data):
    """ImageMagick's view of an image: (format, width, height)."""
    def run(filename):
        return subprocess.run(
            list(imagemagick_commands()[1]) + [
                "-ping", "-format", "%m %w %h\\n", filename + "[0]"],
            capture_output=True, check=True, timeout=30, text=True).stdout
    magick, width, height = _with_file(data, run).split()[:3]
    return magick, int(width), int(height)


def pdf_pages(data):
    """The page count pdfinfo reads."""
    def run(filename):
        return subprocess.run(["pdfinfo", filename], capture_output=True,
                              check=True, timeout=30, text=True).stdout
    for line in _with_file(data, run).splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise AssertionError("pdfinfo printed no page count")
