"""The contract every handler implements.

A handler is built once per application with the Settings, started with the
server and stopped with it.  It works on raw bytes (the manager does base64)
and on format names that are lower-case extensions without a dot (``odt``,
``ms.docx``, ``mp4``).  It raises only ``cloudooo.errors`` exceptions for
anything a client caused; the XML-RPC layer turns them into Faults.
Tools that read documents run through ``run_tool``, in the sandbox.
"""

import os


from cloudooo.sandbox import Sandbox, limits_from_settings
from cloudooo.util import RunningCommands, run_command


class Handler:
    name = "base"
    # True: ``data`` may come as a cloudooo.spool.SpooledDocument (a file)
    # and results may be returned as one; False: bytes in and out.
    accepts_spooled_documents = False
    # A handler that only converts (no metadata): the registry passes it by
    # for methods without a destination.
    converts_only = False
    # Whether get_metadata takes ``password`` (and convert a ``password``
    # key of conversion_kw) to open password-protected documents.
    accepts_password = False
    # Whether convert honours a ``resolution`` key of conversion_kw when it
    # renders an image (getImage's resolution); the others would ignore it.
    renders_at_resolution = False

    def __init__(self, settings):
        self.settings = settings
        self._sandbox = None
        # Tools run through run_tool, ended by a stop (interrupt()).
        self.running_commands = RunningCommands()

    @property
    def sandbox(self):
        """The Sandbox children of this handler run in (built on first
        use: some handlers are built without settings to list formats)."""
        if self._sandbox is None:
            self._sandbox = Sandbox.from_settings(self.settings)
        return self._sandbox

    def run_tool(self, argv, timeout, env, path=None, input_bytes=None,
                 tool=None, read_only=()):
        """run_command for a tool that reads documents: in the sandbox,
        with ``path`` (the request's folder) as its only writable place and
        working directory, under the tools' resource limits."""
        wrapped = self.sandbox.wrap(
            argv, writable=[path] if path else [], cwd=path,
            read_only=read_only, limits=limits_from_settings(
                self.settings, self.settings.sandbox_tool_memory_limit))
        return run_command(wrapped, timeout, env=self.sandbox.environment(
            env, self.settings.env), cwd=path, input_bytes=input_bytes,
            tool=tool or os.path.basename(argv[0]),
            running=self.running_commands)

    def start(self):
        """Start long-lived resources (the office pool).  Must be quick to
        call twice."""

    def stop(self):
        """Release every resource and child process."""

    def interrupt(self):
        """The server is stopping and its drain time runs out: make the
        work in flight end now, raising ServerStopping to its requests.
        Must be safe to call from another thread than the requests'."""
        self.running_commands.interrupt()

    def convert(self, data, source_format, destination_format, zip=False,
                refresh=False, conversion_kw=None):
        """Return the converted document as bytes (a zip of the output
        folder when ``zip`` is true)."""
        raise NotImplementedError

    def get_metadata(self, data, source_format, base_document=False):
        """Return a dict of metadata, XML-RPC-safe values, with ``MIMEType``.
        With ``base_document``, key ``Data`` holds the bytes of the document
        in this handler's base format (ODF for office); else ``Data`` is
        absent or ''."""
        raise NotImplementedError

    def set_metadata(self, data, source_format, metadata):
        """Return the document (bytes) with ``metadata`` (capitalised keys)
        written into it."""
        raise NotImplementedError

    def allowed_conversion_formats(self, source_mimetype):
        """Return ``[(mimetype, title), ...]`` this handler can produce."""
        return []

    def allowed_extensions(self, source_extension=None, document_type=None):
        """Return ``[(extension, title), ...]`` this handler can produce from
        ``source_extension``, or for a kind of document named by
        ``document_type`` (a word such as 'text'; handlers without kinds
        return [])."""
        return []

    def can_write(self, source_mimetype, destination_mimetype):
        """Whether this handler can produce ``destination_mimetype`` from
        ``source_mimetype``.  The registry skips a matching rule whose
        handler cannot, so that a later rule serves the pair."""
        return True
