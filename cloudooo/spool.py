"""Big documents kept on disk, never whole in memory.

A document whose base64 text passes ``stream_threshold_size`` is decoded by
the XML-RPC layer straight into a ``SpooledDocument`` (a file under
``tmp_path``) as the request body is parsed; handlers that read files take
it as it is, the others get its bytes.  A big result goes back the same way:
the handler hands over its output file, the manager wraps it in a
``Base64Document`` and the XML-RPC layer streams its base64 into the
response.  Small documents stay bytes and ``str``: that path is cheaper.

Every spooled file is owned by one object and removed by its ``close()``,
or when the object is collected, whatever path the request took.
"""

import base64
import binascii
import hashlib
import os
import shutil
import tempfile
import weakref

# SIMD base64 (AVX2, NEON...): decoding a 20 MB document costs ~15 ms
# instead of ~130 with binascii, encoding ~8 instead of ~60; the same bytes.
import pybase64

# Reads and writes of spooled files go by this much (a multiple of 3, so
# that base64 pieces join without padding in between).
CHUNK_SIZE = 3 * 21888
# What base64 text may hold between its characters: the bytes that
# manager.decode_document strips (regex \s on bytes).
BASE64_BLANKS = b" \t\n\r\x0b\x0c"
BASE64_ALPHABET = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   b"0123456789+/")


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def new_spool_path(directory):
    os.makedirs(directory, exist_ok=True)
    descriptor, path = tempfile.mkstemp(prefix="spool-", dir=directory)
    os.close(descriptor)
    return path


class SpooledDocument:
    """The bytes of one document, in a file this object owns.

    ``error`` says why the base64 text it came from was not valid (the file
    then holds nothing useful); None when it was.  No ``data`` attribute:
    the manager tells XML-RPC binaries by that name.
    """

    def __init__(self, path, size, error=None):
        self.path = path
        self.size = size
        self.error = error
        self._finalizer = weakref.finalize(self, _remove, path)

    @classmethod
    def adopt(cls, path, directory):
        """Take over ``path`` (a handler's output) before its request folder
        is removed: moved, not copied, into ``directory``."""
        new_path = new_spool_path(directory)
        os.replace(path, new_path)
        return cls(new_path, os.path.getsize(new_path))

    def __repr__(self):
        return "<SpooledDocument %d bytes>" % self.size

    def __len__(self):
        return self.size

    def open(self):
        return open(self.path, "rb")

    def head(self, size):
        with self.open() as stream:
            return stream.read(size)

    def read_bytes(self):
        """The whole document, for code that needs bytes (small handlers)."""
        with self.open() as stream:
            return stream.read()

    def link_to(self, path):
        """Make ``path`` hold the document: a hard link, no copy, where the
        file system allows it."""
        try:
            os.link(self.path, path)
        except OSError:
            shutil.copyfile(self.path, path)

    def sha256(self):
        digest = hashlib.sha256()
        with self.open() as stream:
            for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def close(self):
        """Remove the file (an open stream on it still reads it)."""
        self._finalizer()


def output_of(path, threshold, directory):
    """A handler's output file as its result: bytes when small, else a
    SpooledDocument moved out of the request folder into ``directory``."""
    if os.path.getsize(path) > threshold:
        return SpooledDocument.adopt(path, directory)
    with open(path, "rb") as stream:
        return stream.read()


def document_bytes(data):
    """``data`` as bytes, whether it came as bytes or spooled."""
    if isinstance(data, SpooledDocument):
        return data.read_bytes()
    return data


class Base64Document:
    """The base64 text of a SpooledDocument as an API method returns it,
    produced chunk by chunk while the response is sent.  One line, without
    the line breaks of ``encodebytes`` (XML-RPC allows both, every base64
    decoder reads both): line by line costs three times the CPU here, and
    each line one parser call in the client.  Owns the document:
    ``close()`` removes its file."""

    def __init__(self, document):
        self.document = document

    def __repr__(self):
        return "<Base64Document of %d bytes>" % self.document.size

    def __len__(self):
        """Characters of the text, known before a byte is encoded."""
        return 4 * -(-self.document.size // 3)

    def chunks(self):
        """The text as ASCII bytes.  The file leaves the folder as soon as
        it is open, so nothing stays behind whatever the client does."""
        with self.document.open() as stream:
            self.document.close()
            for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
                yield pybase64.b64encode(chunk)

    def close(self):
        self.document.close()


class Base64SpoolWriter:
    """Decodes base64 text fed piece by piece into a new spool file.

    Accepts exactly what ``manager.decode_document`` accepts (blanks
    anywhere, then strict base64): complete groups of four characters are
    decoded as they come; from the group before the first ``=`` on, the
    rest (a few bytes) waits for the end.  Invalid text does not raise: the document
    comes out with ``error`` set, as the manager must say so in its own
    words.
    """

    def __init__(self, directory):
        self.path = new_spool_path(directory)
        self._stream = open(self.path, "wb")
        self._pending = b""
        self._padded = False
        self._context = 0
        self._error = None
        self._size = 0

    def feed(self, text):
        if self._error is not None:
            return
        try:
            chunk = text.encode("ascii")
        except UnicodeEncodeError:
            self._error = "not ASCII"
            return
        self.feed_ascii(chunk)

    def feed_lines(self, chunk):
        """The fast path: take ``chunk`` (bytes) if it is base64 alphabet and
        line breaks only, with no padding yet, and return its number of line
        breaks; else return None having changed nothing, for ``feed`` to
        judge it."""
        if self._padded or self._error is not None or b"=" in chunk:
            return None
        text = chunk.replace(b"\n", b"")
        pending = self._pending + text if self._pending else text
        cut = len(pending) // 4 * 4 - 4
        if cut > 0:
            try:
                # Validating: refuses anything outside the alphabet.
                data = pybase64.b64decode(pending[:cut], validate=True)
            except binascii.Error:
                return None
            pending = pending[cut:]
        else:
            data = b""
        if pending.translate(None, BASE64_ALPHABET):
            return None
        self._stream.write(data)
        self._size += len(data)
        self._pending = pending
        return len(chunk) - len(text)

    def feed_ascii(self, chunk):
        """Feed text given as ASCII bytes (read straight from the body)."""
        if self._error is not None:
            return
        pending = self._pending + chunk.translate(None, BASE64_BLANKS)
        if not self._padded and b"=" in pending:
            self._padded = True
            cut = pending.index(b"=") // 4 * 4
            # The group before the padding stays: the decoder judges
            # padding by what precedes it ("QUJD=" passes, "=" does not).
            keep = max(0, cut - 4)
            self._write(pending[:keep])
            pending = pending[keep:]
            self._context = cut - keep
        if self._padded:
            # After the first '=', the decoder accepts only '=' (any
            # number after a whole group) or one padded group: more than
            # two groups' worth decide the same as two.
            rest = pending[self._context:]
            if len(rest) > 8:
                if rest.strip(b"="):
                    self._error = "data after padding"
                else:
                    pending = pending[:self._context] + b"=" * 8
            self._pending = pending
            return
        # The last whole group waits too, in case padding follows it.
        cut = len(pending) // 4 * 4 - 4
        if cut > 0:
            self._write(pending[:cut])
            pending = pending[cut:]
        self._pending = pending

    def _write(self, group_text):
        if not group_text or self._error is not None:
            return
        try:
            # Whole groups without padding: decoded only when every
            # character is of the alphabet, where every decoder agrees.
            data = pybase64.b64decode(group_text, validate=True)
        except binascii.Error:
            self._error = "Non-base64 digit found"
            return
        self._stream.write(data)
        self._size += len(data)

    def finish(self):
        """The SpooledDocument of what was fed."""
        if self._error is None:
            try:
                data = base64.b64decode(self._pending, validate=True)
            except (binascii.Error, ValueError) as error:
                self._error = str(error)
            else:
                self._stream.write(data)
                self._size += len(data)
        self._stream.close()
        return SpooledDocument(self.path, self._size, self._error)

    def abandon(self):
        self._stream.close()
        _remove(self.path)
