"""The UNO side of one office instance: a child process that holds the bridge.

Run with a Python that can ``import uno`` (Debian's /usr/bin/python3, or
LibreOffice's own ``program/python``), never imported by the server: it uses
only the standard library and ``uno``, so the server's virtualenv does not
need pyuno.  Keeping the bridge in a child process lets the server throw the
whole bridge away after a crash; a UNO bridge cannot always be re-established
inside the process that lost it.

The worker starts soffice.bin itself (``--office-argv``), as its child: both
then live in one sandbox (cloudooo.sandbox) whose loopback carries their UNO
socket, while the server speaks to the worker over pipes.  It restarts
soffice once when the first start only created the profile (exit code 81).
At end of input it asks soffice to terminate through UNO, so that soffice
removes its own files (the OSL_PIPE socket in /tmp), then waits for it.

Protocol: ``protocol.py``, this script's sibling (one JSON object per line:
a ready message, then one reply per request).  Replies go to the original
stdout; everything else that might print (LibreOffice, scripts) goes to
stderr.
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback

import uno
import unohelper
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException
from com.sun.star.io import IOException
from com.sun.star.lang import DisposedException, IllegalArgumentException
from com.sun.star.task import XInteractionHandler
from com.sun.star.uno import RuntimeException

if __package__:
    # Imported as part of the server's package (the benchmark's floor).
    from cloudooo.handler.ooo import protocol
else:
    # Run as a script under the UNO Python: the sibling file (its folder
    # put first explicitly: -I or PYTHONSAFEPATH would leave it out).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import protocol

# The failures a task reports; the protocol names them on the wire.
LoadError = protocol.LoadError
UnsupportedExport = protocol.UnsupportedExport
PasswordFailure = protocol.PasswordFailure
InvalidOption = protocol.InvalidOption

# Set by take_over_stdout(); None when imported (by the benchmark's floor).
REPLY_STREAM = None

# soffice.bin exits with this code once after creating a new profile and
# expects to be started again (the /usr/bin/soffice wrapper does that).
EXIT_CODE_PROFILE_CREATED = 81
# After terminate() through UNO, how long soffice may take to exit.
OFFICE_EXIT_GRACE_SECONDS = 5.0

# com.sun.star.document.MacroExecMode.NEVER_EXECUTE / UpdateDocMode.NO_UPDATE
NEVER_EXECUTE = 0
NO_UPDATE = 0

# What ``refresh`` updates.  Never UpdateAllLinks nor UpdateAll (which
# updates links too): they load what linked sections and INCLUDETEXT fields
# point at, e.g. /etc/passwd into a .doc.
DISPATCH_REFRESH_COMMANDS = ("UpdateFields", "UpdateInputFields",
                             "UpdateCharts", "UpdateAllIndexes")

STANDARD_PROPERTIES = (
    # (UNO DocumentProperties name, metadata key)
    ("Title", "Title"),
    ("Subject", "Subject"),
    ("Description", "Description"),
    ("Author", "Creator"),
    ("ModifiedBy", "ModifiedBy"),
    ("Generator", "Generator"),
    ("TemplateName", "Template"),
)
DATE_PROPERTIES = (("CreationDate", "CreationDate"),
                   ("ModificationDate", "ModificationDate"),
                   ("PrintDate", "PrintDate"))


class PasswordInteraction(unohelper.Base, XInteractionHandler):
    """The interaction handler of every load: headless LibreOffice asks it
    for a document's password instead of waiting on a dialog.

    It answers the first password request with the client's password, if
    any, and aborts the others (a second request means the first password
    was wrong), so a protected document fails at once instead of hanging.
    ``XInteractionPassword`` among the continuations is what marks a
    password request: pyuno cannot hand over the request itself
    (getRequest() fails on its exception struct).  Other requests (Calc's
    HTML import options, error reports) get no answer, which leaves
    LibreOffice to its defaults, as when no handler is given.
    """

    PASSWORD = uno.getTypeByName("com.sun.star.task.XInteractionPassword")
    ABORT = uno.getTypeByName("com.sun.star.task.XInteractionAbort")

    def __init__(self, password):
        self.password = password
        self.password_requests = 0

    def handle(self, request):
        continuations = request.getContinuations()
        password = next((item for item in continuations
                         if item.queryInterface(self.PASSWORD)), None)
        if password is None:
            return
        self.password_requests += 1
        if self.password and self.password_requests == 1:
            password.setPassword(self.password)
            password.select()
            return
        abort = next((item for item in continuations
                      if item.queryInterface(self.ABORT)), None)
        if abort is not None:
            abort.select()

    def failure(self):
        """Why the load failed, if it was for a password; else None."""
        if not self.password_requests:
            return None
        if self.password:
            return ("wrong password: the password given does not open the "
                    "document")
        return "password required: the document is password-protected"


# Most specific first: a master document also claims to be a text document.
DOCUMENT_SERVICES = ("com.sun.star.text.GlobalDocument",
                     "com.sun.star.text.WebDocument",
                     "com.sun.star.text.TextDocument",
                     "com.sun.star.sheet.SpreadsheetDocument",
                     "com.sun.star.presentation.PresentationDocument",
                     "com.sun.star.drawing.DrawingDocument")


class LoadedDocument:
    """A loaded component, its kind, and (on demand) its import filter.

    ``getIdentifier()`` names the kind in one cheap call; ``getArgs()`` is
    left for the metadata operations because it costs ~0.7 ms of CPU (pyuno
    builds proxies for the interaction handler and UCB content it returns).
    """

    def __init__(self, component):
        self.component = component
        self.service = component.getIdentifier()
        if self.service not in DOCUMENT_SERVICES:
            self.service = next((service for service in DOCUMENT_SERVICES
                                 if component.supportsService(service)), "")

    @property
    def filter_name(self):
        for prop in self.component.getArgs():
            if prop.Name == "FilterName":
                return prop.Value
        return ""


# Image exports without PixelWidth/PixelHeight: 96 pixels per inch.
NATURAL_RESOLUTION = 96


def select_page(document, page):
    """Make ``page`` (from 1) the view's current page, which image exports
    write: a text page, a slide or a drawing page."""
    controller = document.component.getCurrentController()
    if document.service in ("com.sun.star.presentation.PresentationDocument",
                            "com.sun.star.drawing.DrawingDocument"):
        pages = document.component.getDrawPages()
        if page > pages.getCount():
            raise InvalidOption("page %d is beyond the last page (%d)"
                                % (page, pages.getCount()))
        controller.setCurrentPage(pages.getByIndex(page - 1))
    elif document.service.startswith("com.sun.star.text."):
        count = controller.PageCount
        if page > count:
            raise InvalidOption("page %d is beyond the last page (%d)"
                                % (page, count))
        controller.getViewCursor().jumpToPage(page)
    elif page != 1:
        raise InvalidOption("page applies to text documents, presentations "
                            "and drawings; a spreadsheet exports its first "
                            "page")


def pixel_size(context, path):
    """[width, height] in pixels of the image file at ``path``, read by
    LibreOffice itself (whatever the format) from its bytes: a URL would
    meet the graphic cache."""
    manager = context.ServiceManager
    with open(path, "rb") as stream:
        data = stream.read()
    source = manager.createInstanceWithArgumentsAndContext(
        "com.sun.star.io.SequenceInputStream", (uno.ByteSequence(data),),
        context)
    provider = manager.createInstanceWithContext(
        "com.sun.star.graphic.GraphicProvider", context)
    size = provider.queryGraphic(properties({"InputStream": source})) \
        .SizePixel
    return [size.Width, size.Height]


def take_over_stdout():
    """Keep a private copy of stdout for replies and point fd 1 at stderr,
    so that stray prints (ours, LibreOffice's) cannot corrupt the protocol."""
    global REPLY_STREAM
    REPLY_STREAM = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def reply(message):
    REPLY_STREAM.write(protocol.encode(message))
    REPLY_STREAM.flush()


def to_python(value):
    """UNO values (sequences, structs) as JSON-friendly Python values."""
    if isinstance(value, (tuple, list)):
        return [to_python(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, uno.ByteSequence):
        return None
    return str(value)


def properties(mapping):
    """A dict as a tuple of PropertyValue; nested dicts become sequences."""
    result = []
    for name, value in mapping.items():
        if isinstance(value, dict):
            value = uno.Any("[]com.sun.star.beans.PropertyValue",
                            properties(value))
        result.append(PropertyValue(name, 0, value, 0))
    return tuple(result)


def file_url(path):
    return uno.systemPathToFileUrl(os.path.abspath(path))


class OfficeLauncher:
    """soffice.bin as this worker's child: started, restarted once after
    it created its profile, stopped and reaped."""

    def __init__(self, argv):
        self.argv = argv
        self.popen = None
        self.start()

    def start(self):
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

    def check_alive(self):
        """While connecting: start again after exit 81 (and return True);
        raise when soffice is gone for another reason."""
        code = self.popen.poll()
        if code == EXIT_CODE_PROFILE_CREATED:
            self.start()
            return True
        if code is not None:
            raise RuntimeError("soffice exited with code %s while starting"
                               % code)
        return False

    def wait_or_kill(self, grace):
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class Office:
    """The bridge to one soffice and the operations the server asks for."""

    def __init__(self, host, port, connect_timeout, launcher=None):
        local_context = uno.getComponentContext()
        resolver = local_context.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local_context)
        url = ("uno:socket,host=%s,port=%d,tcpNoDelay=1;urp;"
               "StarOffice.ComponentContext" % (host, port))
        deadline = time.monotonic() + connect_timeout
        while True:
            if launcher is not None and launcher.check_alive():
                # Creating the profile was not accepting connections: the
                # clock starts again for the real start.
                deadline = time.monotonic() + connect_timeout
            try:
                self.context = resolver.resolve(url)
                break
            except NoConnectException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.service_manager = self.context.ServiceManager
        self.desktop = self._create("com.sun.star.frame.Desktop")

    def bridge_alive(self):
        """Whether soffice still answers.  A load that fails because soffice
        died under it may come back as None, not as DisposedException
        (seen under kill -9): a crash must not pass for a bad document."""
        try:
            self.desktop.getName()
            return True
        except Exception:
            return False

    def _create(self, name):
        return self.service_manager.createInstanceWithContext(
            name, self.context)

    def terminate(self):
        """Ask soffice to quit; the bridge drops as it does."""
        try:
            self.desktop.terminate()
        except Exception:
            pass  # disposed while answering, or already gone

    # -- operations: each takes the request dict, returns a JSON value ----

    def catalogue(self, request):
        """LibreOffice's filters and types, read once at server start."""
        filters = {}
        factory = self._create("com.sun.star.document.FilterFactory")
        for name in factory.getElementNames():
            filters[name] = {prop.Name: to_python(prop.Value)
                             for prop in factory.getByName(name)
                             if prop.Name in ("UIName", "Type", "Flags",
                                              "DocumentService",
                                              "ExportExtension")}
        types = {}
        detection = self._create("com.sun.star.document.TypeDetection")
        for name in detection.getElementNames():
            types[name] = {prop.Name: to_python(prop.Value)
                           for prop in detection.getByName(name)
                           if prop.Name in ("UIName", "Extensions",
                                            "MediaType", "Preferred")}
        return {"filters": filters, "types": types}

    def convert(self, request):
        with self._loaded(request) as document:
            if request.get("refresh"):
                self._refresh(document.component)
            if request.get("script"):
                self._run_script(document.component, request["script"])
            self._store(document, request)
        return True

    def get_metadata(self, request):
        with self._loaded(request) as document:
            metadata = self._read_properties(document.component)
            metadata["FilterName"] = document.filter_name
            metadata["DocumentService"] = document.service
            if request.get("output"):
                self._store(document, request)
        return metadata

    def set_metadata(self, request):
        with self._loaded(request) as document:
            self._write_properties(document.component, request["metadata"])
            # Written back in the format it came in.
            self._store(document, dict(request, targets={document.service: {
                "filter": document.filter_name}}))
        return True

    # -- helpers ------------------------------------------------------------

    @contextlib.contextmanager
    def _loaded(self, request):
        """The request's input, loaded, closed whatever happens: a document
        left open holds its memory and its lock file until soffice exits."""
        document = self._load(request)
        try:
            yield document
        finally:
            self._close(document.component)

    def _load(self, request):
        load_options = {"Hidden": True,
                        "MacroExecutionMode": NEVER_EXECUTE,
                        "UpdateDocMode": NO_UPDATE,
                        "ReadOnly": False}
        load_options.update(request.get("load_options") or {})
        interaction = PasswordInteraction(request.get("password"))
        load_options["InteractionHandler"] = interaction
        try:
            component = self.desktop.loadComponentFromURL(
                file_url(request["input"]), "_blank", 0,
                properties(load_options))
        except (IllegalArgumentException, IOException) as error:
            if interaction.failure():
                raise PasswordFailure(interaction.failure())
            raise LoadError("LibreOffice cannot open this document: %s"
                            % (error.Message or type(error).__name__))
        if component is None and interaction.failure():
            raise PasswordFailure(interaction.failure())
        if component is None:
            # Truncated or undecodable files come back as None, no exception.
            raise LoadError("LibreOffice cannot open this document "
                            "(corrupt, or not of the type its format says)")
        return LoadedDocument(component)

    def _store(self, document, request):
        """Store with the target matching the document's kind.

        ``targets`` maps a document service to {"filter", "store_options"}:
        the server cannot know the kind before LibreOffice has loaded it.
        """
        target = request["targets"].get(document.service)
        if target is None:
            raise UnsupportedExport(
                "a %s cannot be saved in this format"
                % (document.service.rsplit(".", 1)[-1]
                   or "document of this kind"))
        store_options = {"FilterName": target["filter"], "Overwrite": True}
        store_options.update(target.get("store_options") or {})
        if target.get("image"):
            self._store_image(document, request["output"], store_options,
                              target["image"])
            return
        page_range = (store_options.get("FilterData") or {}).get("PageRange")
        try:
            document.component.storeToURL(file_url(request["output"]),
                                          properties(store_options))
        except IOException:
            # The PDF export fails when the range holds no page at all.
            if page_range:
                raise InvalidOption("page_range %s selects no page of this "
                                    "document" % page_range)
            raise

    def _store_image(self, document, output, store_options, image):
        """An image export: the page asked for, at the pixel size asked.

        LibreOffice exports the view's current page, so the view moves
        there first.  Writer's and Calc's exports come out one pixel larger
        than PixelWidth/PixelHeight say (Impress's do not), so the size is
        measured and the request corrected, at most twice; a side not
        given follows the page's proportions, measured on a first export at
        LibreOffice's own size (NATURAL_RESOLUTION), as is the size that
        ``resolution`` asks for.
        """
        if image.get("page"):
            select_page(document, image["page"])
        wanted = [image.get("width"), image.get("height")]
        filter_data = dict(store_options.get("FilterData") or {})

        def store(size):
            if size:
                filter_data.update(PixelWidth=size[0], PixelHeight=size[1])
            options = dict(store_options, FilterData=filter_data) \
                if filter_data else store_options
            document.component.storeToURL(file_url(output),
                                          properties(options))
            return pixel_size(self.context, output)

        if wanted == [None, None] and not image.get("resolution"):
            store(None)
            return
        if wanted == [None, None]:
            natural = store(None)
            wanted = [max(1, round(side * image["resolution"] /
                                   NATURAL_RESOLUTION)) for side in natural]
        elif None in wanted:
            natural = store(None)
            given = 0 if wanted[0] else 1
            other = 1 - given
            wanted[other] = max(1, round(
                wanted[given] * natural[other] / natural[given]))
        asked = list(wanted)
        for _attempt in range(3):
            got = store(asked)
            if got == wanted:
                return
            asked = [ask + want - have for ask, want, have in
                     zip(asked, wanted, got)]
            if min(asked) < 1:
                return

    @staticmethod
    def _close(document):
        try:
            document.close(True)
        except DisposedException:
            raise
        except Exception:
            # A document that refuses to close must not fail the request;
            # dispose() releases it anyway.
            try:
                document.dispose()
            except DisposedException:
                raise
            except Exception:
                pass

    def _refresh(self, document):
        if hasattr(document, "getTextFields"):
            document.getTextFields().refresh()
        if hasattr(document, "getDocumentIndexes"):
            indexes = document.getDocumentIndexes()
            for position in range(indexes.getCount()):
                indexes.getByIndex(position).update()
        dispatcher = self._create("com.sun.star.frame.DispatchHelper")
        frame = document.getCurrentController().getFrame()
        for command in DISPATCH_REFRESH_COMMANDS:
            dispatcher.executeDispatch(frame, ".uno:" + command, "", 0, ())

    def _run_script(self, document, script):
        # Only reached when the operator enabled ooo_enable_scripting: the
        # server refuses scripts otherwise, before anything gets here.
        namespace = {"document": document, "uno": uno,
                     "context": self.context}
        exec(compile(script, "<conversion script>", "exec"), namespace)

    @staticmethod
    def _read_properties(document):
        props = document.getDocumentProperties()
        metadata = {}
        for uno_name, key in STANDARD_PROPERTIES:
            value = getattr(props, uno_name, "")
            if value:
                metadata[key] = value
        keywords = [word for word in props.Keywords if word]
        if keywords:
            metadata["Keywords"] = keywords
        for uno_name, key in DATE_PROPERTIES:
            date = getattr(props, uno_name)
            if date.Year > 0:
                metadata[key] = "%02d/%02d/%04d %02d:%02d:%02d" % (
                    date.Day, date.Month, date.Year, date.Hours,
                    date.Minutes, date.Seconds)
        language = props.Language
        if language.Language:
            metadata["Language"] = "-".join(
                part for part in (language.Language, language.Country)
                if part)
        user = props.getUserDefinedProperties()
        for prop in user.getPropertyValues():
            value = prop.Value
            if value is None or value == "":
                continue
            if not isinstance(value, (str, int, float, bool)):
                value = str(value)
            metadata[prop.Name] = value
        return metadata

    @staticmethod
    def _write_properties(document, metadata):
        props = document.getDocumentProperties()
        user = props.getUserDefinedProperties()
        uno_name_by_key = {key: uno_name
                           for uno_name, key in STANDARD_PROPERTIES}
        uno_name_by_key["Author"] = "Author"
        for key, value in metadata.items():
            if key == "Keywords":
                if isinstance(value, str):
                    value = value.split()
                props.Keywords = tuple(str(word) for word in value)
            elif key in uno_name_by_key:
                setattr(props, uno_name_by_key[key], str(value))
            elif user.getPropertySetInfo().hasPropertyByName(key):
                user.setPropertyValue(key, str(value))
            else:
                # REMOVEABLE (128): like a property added in File > Properties.
                user.addProperty(key, 128, str(value))


class StopRequested(BaseException):
    """SIGTERM: leave the request loop as at end of input."""


def stop_requested(_signum, _frame):
    raise StopRequested()


def serve(office):
    reply(protocol.ready_message(os.getpid()))
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = protocol.decode(line)
            result = getattr(office, protocol.operation_of(request))(request)
            reply(protocol.ok_reply(result))
        except LoadError as error:
            if not office.bridge_alive():
                reply(protocol.error_reply(protocol.OfficeDisposed(
                    "LibreOffice connection lost while loading the "
                    "document")))
                return 3
            reply(protocol.error_reply(error))
        except protocol.ReplyError as error:
            reply(protocol.error_reply(error))
        except (DisposedException, RuntimeException) as error:
            # The bridge is gone (soffice died): say so, then leave; the
            # server replaces this worker together with its soffice.
            reply(protocol.error_reply(protocol.OfficeDisposed(
                "LibreOffice connection lost: %s"
                % (getattr(error, "Message", "") or type(error).__name__))))
            return 3
        except Exception as error:
            traceback.print_exc()
            message = getattr(error, "Message", None) or str(error) \
                or type(error).__name__
            if not office.bridge_alive():
                reply(protocol.error_reply(protocol.OfficeDisposed(
                    "LibreOffice connection lost: %s" % message)))
                return 3
            reply(protocol.error_reply(protocol.TaskError(message)))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--office-argv", type=json.loads, default=None,
                        help="soffice.bin's argv as a JSON list: start it "
                        "as this worker's child")
    arguments = parser.parse_args()
    take_over_stdout()
    launcher = None
    try:
        if arguments.office_argv:
            launcher = OfficeLauncher(arguments.office_argv)
        office = Office(arguments.host, arguments.port,
                        arguments.connect_timeout, launcher)
    except Exception as error:
        reply(protocol.not_ready_message(
            "cannot connect to soffice on %s:%d: %s"
            % (arguments.host, arguments.port, error)))
        if launcher is not None:
            launcher.wait_or_kill(0)
        return 2
    # The server stops us by closing our input; a TERM is taken the same
    # way so that soffice is asked to quit rather than left behind.
    signal.signal(signal.SIGTERM, stop_requested)
    try:
        code = serve(office)
    except StopRequested:
        code = 0
    if code == 0:
        office.terminate()
    if launcher is not None:
        launcher.wait_or_kill(OFFICE_EXIT_GRACE_SECONDS if code == 0 else 0)
    # os._exit: skip interpreter teardown, where the pyuno bridge's writer
    # thread occasionally segfaults after the work is done.
    REPLY_STREAM.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
