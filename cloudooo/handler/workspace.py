"""The scaffold the tool handlers (ffmpeg, ImageMagick, pdf) share.

One request, one ``ToolWorkspace``: a private folder under ``tmp_path``,
removed on exit whatever happened; the document put in it under a name the
handler chooses (a big spooled document by hard link, not through memory);
the tools run there, in the sandbox, with the children's environment and
the handler's time limit; the output taken out only if the tool really
wrote one.  What is left to a handler is its argv and its look at the
output.
"""

import logging
import os
import re

from cloudooo.errors import ConversionError
from cloudooo.spool import SpooledDocument, output_of
from cloudooo.util import temporary_directory

logger = logging.getLogger(__name__)

# Tools pick a reader by the input's extension: only plain ones reach a
# file name, anything else gives a bare "input".
SAFE_EXTENSION = re.compile(r"^[a-z0-9]{1,10}$")


class ToolWorkspace:
    """``with handler.workspace() as work:`` -- ``work.path`` is the folder."""

    def __init__(self, handler):
        self.handler = handler
        self.settings = handler.settings
        self.path = None
        self._folder = None

    def __enter__(self):
        self._folder = temporary_directory(self.settings.tmp_path)
        self.path = self._folder.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._folder.__exit__(*exc_info)

    def file(self, name):
        return os.path.join(self.path, name)

    def write_input(self, data, extension="", name="input"):
        """Put the document (bytes or a SpooledDocument) in the folder as
        ``name.extension``; return its path."""
        if SAFE_EXTENSION.match(extension or ""):
            name += "." + extension
        filename = self.file(name)
        if isinstance(data, SpooledDocument):
            data.link_to(filename)
        else:
            with open(filename, "wb") as stream:
                stream.write(data)
        return filename

    def run(self, argv, timeout=None, input_bytes=None, tool=None,
            read_only=()):
        """Run one tool in this folder (``Handler.run_tool``): the
        handler's environment and read-only paths, ``tool_timeout`` unless
        told otherwise."""
        logger.debug("running %s", argv)
        return self.handler.run_tool(
            argv, timeout or self.settings.tool_timeout,
            self.handler.tool_environment(self.path), self.path,
            input_bytes=input_bytes, tool=tool,
            read_only=tuple(self.handler.tool_read_only) + tuple(read_only))

    def check_output(self, filename, tool, kind, allow_empty=False):
        """Refuse a missing output, or an empty one unless an empty file
        is a real result (a PDF without text): a tool may exit 0 having
        written nothing."""
        if not os.path.exists(filename):
            raise ConversionError("%s wrote no %s" % (tool, kind))
        if not allow_empty and os.path.getsize(filename) == 0:
            raise ConversionError("%s wrote an empty %s" % (tool, kind))

    def output(self, filename):
        """The output file as the handler's result: bytes, or for a handler
        that takes spooled documents and a file over
        ``stream_threshold_size``, a SpooledDocument moved out of the
        folder (the manager streams it back)."""
        if self.handler.accepts_spooled_documents:
            return output_of(filename, self.settings.stream_threshold_size,
                             self.settings.tmp_path)
        with open(filename, "rb") as stream:
            return stream.read()
