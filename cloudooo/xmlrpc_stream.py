"""XML-RPC bodies read and written as streams: big documents never whole.

Reading: a body above the threshold is fed to expat chunk by chunk; the
text of a document argument (a top-level parameter the method names
``file`` or ``data``, in ``<string>``, an untyped ``<value>`` or
``<base64>``) that passes the threshold is decoded into a SpooledDocument as
it arrives.  Everything else is built by ``xmlrpc.client.Unmarshaller``
itself, so values, errors and their messages are those of
``xmlrpc.client.loads``; smaller bodies go through ``loads`` unchanged.

Writing: ``method_response`` marshals with ``xmlrpc.client.Marshaller``;
a Base64Document anywhere in the result becomes ``<string>`` text streamed
from its file.  Without one, the bytes are exactly those of
``xmlrpc.client.dumps``; with one, exactly what ``dumps`` gives for the
same text as a ``str``.
"""

import re
import uuid
import xmlrpc.client
from xml.parsers import expat

from cloudooo.spool import Base64Document, Base64SpoolWriter, SpooledDocument

# Bodies are read by this much: fewer, larger pieces cost less per byte
# (the spooled text is decoded a piece at a time).
READ_CHUNK_SIZE = 1 << 18
# expat gathers character data up to this size before calling us: without
# it, base64 text costs one Python call per 76-character line.
TEXT_BUFFER_SIZE = 1 << 16
# Elements whose text is a value the manager may take as a document.
DOCUMENT_TEXT_TAGS = ("value", "string", "base64")
XML_HEADER = "<?xml version='1.0'?>\n"
# A tag with nothing that could hide a '>' (no attribute, no quote).
SIMPLE_TAG = re.compile(rb"</?[A-Za-z_][A-Za-z0-9_.:-]*[ \t\r\n]*>\Z")
# What a document argument's text is, sent as xmlrpc.client sends it.
BASE64_LINES = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                b"0123456789+/=\n")
# Markup without its '>' waits for more bytes up to this size, then goes to
# expat as it is (which will say what is wrong with it).
MARKUP_WAIT_LIMIT = 1 << 16


class Spooling:
    """Where and from what size documents are spooled: ``threshold`` bytes
    (of body, of base64 text, of result), files under ``directory``."""

    def __init__(self, directory, threshold):
        self.directory = directory
        self.threshold = threshold


class StreamingUnmarshaller(xmlrpc.client.Unmarshaller):
    """``xmlrpc.client.Unmarshaller`` that spools big document arguments.

    ``document_positions(method_name)`` gives the indexes of the method's
    document arguments.  A value is a candidate while it is a top-level
    parameter at such an index (no array or struct open) and has no child
    element yet; past ``spooling.threshold`` characters, its text goes to a
    Base64SpoolWriter instead of a list of strings.
    """

    def __init__(self, document_positions, spooling):
        super().__init__(use_datetime=False, use_builtin_types=False)
        self._document_positions = document_positions
        self._spooling = spooling
        self._candidate = None   # the tag whose text may be spooled
        self._text_size = 0
        self._writer = None      # Base64SpoolWriter, once past the threshold
        self.documents = []      # SpooledDocuments made, closed by the caller

    def start(self, tag, attrs):
        # A child element: loads forgets the text before it, so do we.
        self._abandon_writer()
        super().start(tag, attrs)
        self._candidate = None
        local_tag = tag.split(":")[-1]
        if local_tag in DOCUMENT_TEXT_TAGS and not self._marks \
                and self._methodname is not None \
                and len(self._stack) in self._document_positions(
                    self._methodname):
            self._candidate = local_tag
            self._text_size = 0

    def data(self, text):
        if self._writer is not None:
            self._writer.feed(text)
            return
        self._data.append(text)
        if self._candidate is not None:
            self._text_size += len(text)
            if self._text_size > self._spooling.threshold:
                self._writer = Base64SpoolWriter(self._spooling.directory)
                self._writer.feed("".join(self._data))
                self._data = []

    def end(self, tag):
        writer, self._writer = self._writer, None
        self._candidate = None
        if writer is None:
            return super().end(tag)
        # No child began since the writer did: this ends its element.
        document = writer.finish()
        if tag.split(":")[-1] == "base64":
            # Refused by the dispatcher whatever it holds (documents come
            # as base64 strings): keep only what says it was a binary.
            document.close()
            self.append(xmlrpc.client.Binary())
        else:
            self.documents.append(document)
            self.append(document)
        self._value = 0

    @property
    def takes_raw_text(self):
        """True while the text of a document argument is being read."""
        return self._candidate is not None

    def raw_text(self, data):
        """Text of a document argument, read from the body (bytes): taken
        when it is base64 lines (its number of line breaks is returned),
        else left to expat (None).  Below the threshold, kept as the text
        expat would report (base64 lines hold nothing expat changes or
        refuses); past it, decoded into the spool."""
        if self._writer is None:
            if data.translate(None, BASE64_LINES):
                return None
            self.data(data.decode("ascii"))
            return data.count(b"\n")
        return self._writer.feed_lines(data)

    def _abandon_writer(self):
        if self._writer is not None:
            self._writer.abandon()
            self._writer = None

    def discard(self):
        """Remove every file made so far (the request failed)."""
        self._abandon_writer()
        close_documents(self.documents)


def read_body(stream, length):
    chunks = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, READ_CHUNK_SIZE))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def parse_request(stream, length, document_positions, spooling=None):
    """``(params, method_name)`` of the body, as ``xmlrpc.client.loads``
    answers, with big document arguments as SpooledDocuments."""
    if spooling is None or length <= spooling.threshold:
        return xmlrpc.client.loads(read_body(stream, length),
                                   use_builtin_types=False)
    target = StreamingUnmarshaller(document_positions, spooling)
    parser = RequestParser(target)
    try:
        remaining = length
        while remaining > 0:
            chunk = stream.read(min(remaining, READ_CHUNK_SIZE))
            if not chunk:
                break
            remaining -= len(chunk)
            parser.feed(chunk)
        parser.close()
        return target.close(), target.getmethodname()
    except BaseException:
        target.discard()
        raise


class RequestParser:
    """Feeds the body to expat, except the text of a document argument.

    Expat costs most of the CPU of a big request, scanning megabytes of
    base64 it only hands back.  So the body is cut at markup boundaries and
    a piece of text made of base64 lines, in a document argument, goes
    straight to the unmarshaller (to the spool writer past the threshold),
    expat counting only its line breaks and trailing blanks, unreported:
    it still checks every tag, and its error messages keep their line and
    column numbers.  Only where expat is known to sit in
    element content: just after a simple tag it reported, or after text
    without entity, carriage return or non-ASCII byte; anything else
    (comments, CDATA, attributes, entities, other characters) goes through
    expat whole.
    """

    def __init__(self, target):
        self.target = target
        # As xmlrpc.client.ExpatParser makes it, with text buffered.
        self.parser = expat.ParserCreate(None, None)
        self.parser.buffer_text = True
        self.parser.buffer_size = TEXT_BUFFER_SIZE
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = target.data
        target.xml(None, None)
        self.fed = 0              # bytes given to expat so far
        self.event_offset = None  # where the last tag expat reported began
        self.in_content = False   # expat sits in element content, no token
        self.pending = b""        # markup waiting for its '>'

    def _start(self, tag, attrs):
        self.event_offset = self.parser.CurrentByteIndex
        self.target.start(tag, attrs)

    def _end(self, tag):
        self.event_offset = self.parser.CurrentByteIndex
        self.target.end(tag)

    def _parse(self, data):
        self.parser.Parse(data, False)
        self.fed += len(data)

    def feed(self, chunk):
        data = self.pending + chunk if self.pending else chunk
        position, size = 0, len(data)
        while position < size:
            if data[position] == 0x3C:  # '<'
                end = data.find(b">", position)
                if end < 0:
                    if size - position <= MARKUP_WAIT_LIMIT:
                        break
                    end = size - 1
                self._markup(data[position:end + 1])
                position = end + 1
            else:
                end = data.find(b"<", position)
                if end < 0:
                    end = size
                self._text(data[position:end])
                position = end
        self.pending = data[position:]

    def _markup(self, piece):
        offset = self.fed
        self._parse(piece)
        self.in_content = self.event_offset == offset and \
            SIMPLE_TAG.match(piece) is not None

    def _text(self, piece):
        if self.in_content and self.target.takes_raw_text:
            # Without a handler, expat reports no text: changing it hands
            # what expat holds to the target first, in order.
            self.parser.CharacterDataHandler = None
            try:
                line_breaks = self.target.raw_text(piece)
                if line_breaks is not None:
                    # Expat only counts its lines and columns, for its
                    # error messages: the target has the text already.
                    self._parse(b"\n" * line_breaks + b" " * (
                        len(piece) - 1 - piece.rfind(b"\n")))
                    return
            finally:
                self.parser.CharacterDataHandler = self.target.data
        self._parse(piece)
        # An entity, a carriage return or a character cut in two may be
        # pending in expat: it is then not known to sit in content.
        self.in_content = self.in_content and piece.isascii() and \
            b"&" not in piece and b"\r" not in piece

    def close(self):
        if self.pending:
            self._parse(self.pending)
            self.pending = b""
        self.parser.Parse(b"", True)


def close_documents(values):
    for value in values:
        if isinstance(value, (SpooledDocument, Base64Document)):
            value.close()


class StreamingMarshaller(xmlrpc.client.Marshaller):
    """Marks where each Base64Document's text goes; the rest is the
    standard marshaller's output, character for character."""

    dispatch = dict(xmlrpc.client.Marshaller.dispatch)

    def __init__(self, encoding=None, allow_none=False):
        super().__init__(encoding, allow_none)
        self.documents = []
        self.marker = None

    def dump_document(self, value, write):
        if self.marker is None:
            # Random, so that no string of the result can be taken for it;
            # made only when needed (a getrandom call per response).
            self.marker = "\x00%s\x00" % uuid.uuid4().hex
        write("<value><string>")
        write(self.marker)
        self.documents.append(value)
        write("</string></value>\n")
    dispatch[Base64Document] = dump_document


class Response:
    """A WSGI response body: bytes pieces and documents' base64 between
    them, of a ``length`` known in advance.  ``close()`` (WSGI calls it, sent
    or not) removes the documents' files."""

    def __init__(self, pieces, documents=()):
        self.pieces = pieces
        self.documents = list(documents)
        self.length = sum(map(len, pieces)) + sum(map(len, self.documents))
        self.on_close = None

    @classmethod
    def of_bytes(cls, body):
        return cls([body])

    def __iter__(self):
        yield self.pieces[0]
        for document, piece in zip(self.documents, self.pieces[1:]):
            yield from document.chunks()
            yield piece

    def close(self):
        close_documents(self.documents)
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()


def method_response(result):
    """The methodResponse of ``result`` as a Response."""
    marshaller = StreamingMarshaller("utf-8", allow_none=True)
    try:
        text = "".join((XML_HEADER, "<methodResponse>\n",
                        marshaller.dumps((result,)), "</methodResponse>\n"))
    except BaseException:
        close_documents(marshaller.documents)
        raise
    if not marshaller.documents:
        return Response.of_bytes(text.encode("utf-8", "xmlcharrefreplace"))
    pieces = [piece.encode("utf-8", "xmlcharrefreplace")
              for piece in text.split(marshaller.marker)]
    return Response(pieces, marshaller.documents)
