"""Big documents for the streaming tests and the benchmark.

An ODT of text and incompressible "photos" (PNG noise, stored, not deflated,
as LibreOffice stores pictures), of about the size asked, made without
LibreOffice and the same bytes every time for a given seed.
"""

import random
import struct
import threading
import zipfile
import zlib

import psutil

from tests.documents import NAMESPACES, ODT_MIMETYPE, escape, odt_manifest

PNG_WIDTH = 1024
PARAGRAPH = ("Streaming keeps the server's memory flat whatever the size of "
             "the document it converts. ")


def noise_png(width, height, rng):
    """A PNG of random pixels: as incompressible as a photograph."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + rng.randbytes(width * 3)
                    for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b""))


def picture_frame(index):
    return ('<text:p><draw:frame draw:name="photo%d" svg:width="16cm" '
            'svg:height="4cm" text:anchor-type="as-char"><draw:image '
            'xlink:href="Pictures/photo%d.png" xlink:type="simple" '
            'xlink:show="embed" xlink:actuate="onLoad"/></draw:frame>'
            '</text:p>' % (index, index))


def big_odt(path, size, pictures=12, paragraphs_per_picture=20, seed=13):
    """Write to ``path`` an ODT of about ``size`` bytes: text paragraphs and
    ``pictures`` noise photos sharing the size."""
    rng = random.Random(seed)
    height = max(1, size // pictures // (1 + PNG_WIDTH * 3))
    body = []
    for index in range(pictures):
        body.extend("<text:p>%s</text:p>" % escape(PARAGRAPH * 4)
                    for _ in range(paragraphs_per_picture))
        body.append(picture_frame(index))
    content = ('<?xml version="1.0" encoding="UTF-8"?>\n'
               '<office:document-content %s><office:body><office:text>%s'
               '</office:text></office:body></office:document-content>'
               % (NAMESPACES, "".join(body)))
    manifest = odt_manifest(["content.xml"], ["photo%d.png" % index
                                              for index in range(pictures)])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", ODT_MIMETYPE,
                         compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest,
                         compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content,
                         compress_type=zipfile.ZIP_DEFLATED)
        for index in range(pictures):
            archive.writestr("Pictures/photo%d.png" % index,
                             noise_png(PNG_WIDTH, height, rng),
                             compress_type=zipfile.ZIP_STORED)
    return path


# Often: a request's buffers live for well under a second.
RSS_SAMPLE_SECONDS = 0.02


class PeakRss:
    """Highest RSS of one process while the ``with`` block runs."""

    def __init__(self, pid):
        self.process = psutil.Process(pid)
        # RSS before the block, for the growth over it.
        self.idle = self.process.memory_info().rss
        self.peak = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True,
                                        name="peak-rss")

    def _sample(self):
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
