"""Zip members read streaming, under a cap: no decompression bomb.

A 1 MB ODT whose content.xml inflates to 1 GB must not take the server's
memory or disk with it.  Every zip member the server reads (link check,
zipped HTML pages, granulation) goes through ``BoundedZip``: the members'
declared sizes are checked before a byte is inflated, and what is actually
inflated is counted as it streams, against ``max_unpacked_size`` for the
whole request and ``max_compression_ratio`` per member.  Over either, the
request fails at once with InvalidRequest "document expands beyond ...".
"""

import shutil
import struct
import zipfile
import zlib

from cloudooo.errors import InvalidRequest

# Members smaller than this are never refused for their ratio: a tiny file
# of repeated bytes compresses well and harms nobody.
RATIO_EXEMPT_SIZE = 1024 * 1024
# Each member costs the zipfile module a few hundred bytes of memory when it
# opens the archive: a central directory of millions of entries is a bomb
# of its own.
MAX_MEMBERS = 100000
CHUNK_SIZE = 64 * 1024

# What zipfile raises on damaged or odd archives: besides BadZipFile, zlib
# and CRC errors, NotImplementedError for unknown versions or compression,
# RuntimeError for encrypted entries, ValueError and EOFError for bad
# offsets and truncated data, struct.error for cut headers.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError,
              RuntimeError, ValueError, EOFError, OSError, struct.error)


def member_count_is_sane(stream):
    """False when the zip's end record announces more than MAX_MEMBERS
    entries; reads only the end of the file, and rewinds it."""
    try:
        # zipfile's own reader of the end record (zip64 included).
        end_record = zipfile._EndRecData(stream)
    finally:
        stream.seek(0)
    if end_record is None:
        return True  # not a zip: zipfile will say so
    return end_record[zipfile._ECD_ENTRIES_TOTAL] <= MAX_MEMBERS


class UnpackBudget:
    """How much one request may inflate from zips, all members together."""

    def __init__(self, max_unpacked_size, max_compression_ratio):
        self.max_unpacked_size = max_unpacked_size
        self.max_compression_ratio = max_compression_ratio
        self.unpacked = 0

    @classmethod
    def from_settings(cls, settings):
        return cls(settings.max_unpacked_size, settings.max_compression_ratio)

    def charge(self, size):
        self.unpacked += size
        if self.unpacked > self.max_unpacked_size:
            raise self.too_big()

    def check_ratio(self, name, unpacked, compressed):
        if unpacked > RATIO_EXEMPT_SIZE and \
                unpacked > self.max_compression_ratio * max(compressed, 1):
            raise InvalidRequest(
                "document expands beyond %d times its compressed size (%s; "
                "max_compression_ratio)" % (self.max_compression_ratio,
                                            name[:200]))

    def too_big(self):
        return InvalidRequest(
            "document expands beyond %d bytes when unpacked "
            "(max_unpacked_size)" % self.max_unpacked_size)


class BoundedZip:
    """A zip archive whose members are only ever read under ``budget``.

    ``source`` is a path or a seekable binary file object.  Raises
    zipfile.BadZipFile when it is no zip, InvalidRequest when it would
    expand beyond the budget.
    """

    def __init__(self, source, budget):
        self.budget = budget
        if isinstance(source, (str, bytes)):
            with open(source, "rb") as stream:
                sane = member_count_is_sane(stream)
        else:
            sane = member_count_is_sane(source)
        if not sane:
            raise InvalidRequest("document has more than %d files inside"
                                 % MAX_MEMBERS)
        self._zip = zipfile.ZipFile(source)
        # What the archive announces decides at once, before inflating; the
        # streaming count below catches archives that lie about it.
        declared = 0
        for info in self._zip.infolist():
            declared += info.file_size
            budget.check_ratio(info.filename, info.file_size,
                               info.compress_size)
        if declared > budget.max_unpacked_size:
            raise budget.too_big()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self._zip.close()

    def infolist(self):
        return self._zip.infolist()

    def namelist(self):
        return self._zip.namelist()

    def getinfo(self, name):
        return self._zip.getinfo(name)

    def open(self, name):
        """A binary file object over member ``name``, counted as it is
        read (for streaming parsers)."""
        info = name if isinstance(name, zipfile.ZipInfo) \
            else self._zip.getinfo(name)
        return BoundedMember(self._zip.open(info), info.filename,
                             info.compress_size, self.budget)

    def read(self, name, limit=None):
        """Member ``name`` as bytes (its first ``limit`` bytes if given)."""
        with self.open(name) as member:
            return member.read(-1 if limit is None else limit)

    def extract(self, info, path):
        """Write member ``info`` to the file ``path``, streaming."""
        with self.open(info) as member, open(path, "wb") as output:
            shutil.copyfileobj(member, output, CHUNK_SIZE)


class BoundedMember:
    """A zip member's stream (or a stream inflated from it) that charges
    every byte it yields to ``budget``."""

    def __init__(self, stream, name, compressed_size, budget):
        self._stream = stream
        self._name = name
        self._compressed_size = compressed_size
        self._budget = budget
        self._unpacked = 0

    def read(self, size=-1):
        if size is None or size < 0:
            chunks = []
            while True:
                chunk = self.read(CHUNK_SIZE)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        data = self._stream.read(size)
        self._unpacked += len(data)
        self._budget.charge(len(data))
        self._budget.check_ratio(self._name, self._unpacked,
                                 self._compressed_size)
        return data

    def close(self):
        self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
