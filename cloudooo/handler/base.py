"""The contract every handler implements.

A handler is built once per application with the Settings, started with the
server (where it checks that its programs are there) and stopped with it.
The manager has done everything about the request itself: a handler gets
raw bytes (or a SpooledDocument, if it says it takes them), never empty
ones except for the formats where an empty file is a document (txt, csv),
and format names already normalized: lower-case extensions without a dot
(``odt``, ``ms.docx``, ``mp4``), mimetypes without parameters.  It raises
only ``cloudooo.errors`` exceptions for anything a client caused; the
XML-RPC layer turns them into Faults.  Tools that read documents run
through ``run_tool``, in the sandbox; a tool handler's request lives in a
``workspace()``.
"""

import os
import shutil

from cloudooo.errors import ConfigurationError
from cloudooo.handler.workspace import ToolWorkspace
from cloudooo.sandbox import Sandbox, limits_from_settings
from cloudooo.util import RunningCommands, child_environment, run_command


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
    # Programs run by name, looked up on the children's PATH (env-PATH
    # first) before the server starts; ``install_hint`` says where they come
    # from.
    required_programs = ()
    install_hint = ""
    # Paths every tool run of this handler must see in the sandbox.
    tool_read_only = ()
    # What a failure message says when the tool printed no reason.
    silent_failure_reason = "no reason given"

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
            running=self.running_commands,
            silent_failure=self.silent_failure_reason)

    def tool_environment(self, path=None):
        """The environment of this handler's tools (the children's, with
        the ``env-*`` keys) for a run in the request folder ``path``."""
        return child_environment(self.settings.env)

    def workspace(self):
        """A ToolWorkspace for one request: ``with self.workspace() as
        work``."""
        return ToolWorkspace(self)

    def preflight_problems(self):
        """What this machine misses for this handler, as messages ([] when
        nothing): run by ``cloudooo.ops.preflight`` before anything starts,
        and by ``start()``."""
        search_path = self.tool_environment().get("PATH")
        return ["%s not found in PATH (install %s, or set env-PATH); the "
                "registry routes to %s" % (program, self.install_hint,
                                           self.name)
                for program in self.required_programs
                if not shutil.which(program, path=search_path)]

    def start(self):
        """Check the programs, start long-lived resources (the office
        pool).  Must be quick to call twice."""
        problems = self.preflight_problems()
        if problems:
            raise ConfigurationError("; ".join(problems))

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

    def allowed_extensions(self, source=None, document_type=None):
        """Return ``[(extension, title), ...]`` this handler can produce from
        the extension ``source``, or for a kind of document named by
        ``document_type`` (a word such as 'text'; handlers without kinds
        return []).  Asked through the registry, only of the handlers it
        routes to (started ones)."""
        return []

    def can_write(self, source_mimetype, destination_mimetype):
        """Whether this handler can produce ``destination_mimetype`` from
        ``source_mimetype``.  The registry skips a matching rule whose
        handler cannot, so that a later rule serves the pair."""
        return True
