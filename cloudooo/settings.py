"""All configuration: one typed table, one validating class.

Both PasteDeploy (the ``[app:main]`` section) and the command line go through
``Settings.from_config``.  Every key is declared once below with its converter,
default and meaning; unknown keys and wrong values raise ConfigurationError
naming the key, so a typo never passes silently.
"""

import logging
import os

from cloudooo.errors import ConfigurationError

logger = logging.getLogger(__name__)

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0", "")


def asbool(value):
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("expected a boolean (true/false), got %r" % value)


def aslist(value):
    """Whitespace- or newline-separated words."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return str(value).split()


def aslinelist(value):
    """One item per non-empty line (filter UI names contain spaces)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [line.strip() for line in str(value).splitlines() if line.strip()]


# The handlers a registry rule may name (``Handler.name`` of each class in
# ``cloudooo.app.HANDLER_CLASSES``; a test keeps the two equal).  Known here
# so that a misspelt name is refused with the other configuration mistakes,
# before ``--daemon`` detaches and without importing any handler.
HANDLER_NAMES = ("ooo", "ffmpeg", "imagemagick", "pdf", "chromium")


def asregistry(value):
    """``source_mimetype destination_mimetype handler [condition]`` lines,
    in order; the handler one of HANDLER_NAMES, the condition, when
    present, one of ``registry.RULE_CONDITIONS``."""
    from cloudooo.registry import RULE_CONDITIONS
    rules = []
    for line in aslinelist(value):
        words = line.split()
        if len(words) not in (3, 4):
            raise ValueError("registry line %r must have 3 words: "
                             "source_mimetype destination_mimetype handler "
                             "(and optionally a condition)" % line)
        if words[2] not in HANDLER_NAMES:
            raise ValueError("unknown handler %r in line %r (known: %s)"
                             % (words[2], line, ", ".join(HANDLER_NAMES)))
        if len(words) == 4 and words[3] not in RULE_CONDITIONS:
            raise ValueError("registry line %r: unknown condition %r "
                             "(known: %s)" % (line, words[3],
                                              ", ".join(RULE_CONDITIONS)))
        rules.append(tuple(words))
    return rules


def ranged(kind, minimum, maximum=None, above=False):
    """A converter to ``kind`` that refuses numbers out of range; ``above``
    makes the minimum itself out of range."""
    def convert(value):
        number = kind(value)
        if (number <= minimum if above else number < minimum) or (
                maximum is not None and number > maximum):
            raise ValueError("must be %s %s%s, got %s" % (
                "more than" if above else "at least", minimum,
                " and at most %s" % maximum if maximum is not None else "",
                number))
        return number
    return convert


positive_int = ranged(int, 1)
non_negative_int = ranged(int, 0)
positive_float = ranged(float, 0, above=True)
non_negative_float = ranged(float, 0)
port_number = ranged(int, 1, 65535)


def one_of(*words):
    """A converter accepting only ``words`` (case-insensitive)."""
    def convert(value):
        word = str(value).strip().lower()
        if word not in words:
            raise ValueError("must be one of %s, got %r"
                             % (" | ".join(words), value))
        return word
    return convert


def imagemagick_size(name):
    """A converter for key ``name``: an ImageMagick resource size ('256MiB',
    '128MP'), read as the imagemagick handler reads it (its ConfigurationError
    names the key), kept as written for ImageMagick's ``-limit``."""
    def convert(value):
        from cloudooo.handler.imagemagick.handler import parse_si
        parse_si(value, name)
        return str(value).strip()
    return convert


def optional_str(value):
    value = str(value).strip()
    return value or None


DEFAULT_OFFICE_BINARY_PATH = "/usr/lib/libreoffice/program"

# (name, converter, default, meaning).  Units are in the names or comments.
SETTINGS_TABLE = (
    ("debug_mode", asbool, False,
     "log at DEBUG level"),
    ("working_path", str, None,
     "directory for profiles, pid files and tmp/ (created if missing)"),
    ("office_binary_path", str, DEFAULT_OFFICE_BINARY_PATH,
     "LibreOffice's program/ directory, holding soffice.bin"),
    ("uno_path", optional_str, None,
     "directory holding uno.py, added to the UNO Python's path if set"),
    ("uno_python", optional_str, None,
     "Python that can 'import uno'; found automatically when unset"),
    ("application_hostname", str, "127.0.0.1",
     "address soffice listens on for UNO (keep it on loopback)"),
    ("openoffice_port", port_number, 4062,
     "UNO port of the first office instance; the others follow it"),
    ("office_pool_size", positive_int, max(1, os.cpu_count() or 1),
     "number of soffice.bin instances converting in parallel"),
    ("queue_timeout", positive_float, 60.0,
     "seconds a request may wait for a free office instance"),
    ("timeout_response", positive_float, 180.0,
     "seconds one office conversion may take before soffice is killed"),
    ("office_start_timeout", positive_float, 60.0,
     "seconds soffice may take to accept UNO connections"),
    ("limit_number_request", non_negative_int, 100,
     "recycle an office instance after this many requests (0 = never)"),
    ("enable_memory_monitor", asbool, False,
     "recycle an office instance whose RSS exceeds limit_memory_used"),
    ("limit_memory_used", positive_int, 3000,
     "RSS limit of one soffice, in MB"),
    ("monitor_interval", positive_float, 5.0,
     "seconds between two checks of the office instances"),
    ("time_before_sleep", non_negative_float, 0.0,
     "stop office instances idle that many seconds (0 = never)"),
    ("quarantine_seconds", non_negative_float, 600.0,
     "how long a document that crashed soffice twice is refused"),
    ("ooo_enable_scripting", asbool, False,
     "allow conversion_kw['script'] (runs code inside LibreOffice)"),
    ("ooo_disable_filter_list", aslinelist, [],
     "LibreOffice filter names never offered, one per line"),
    ("ooo_disable_filter_name_list", aslinelist, [],
     "LibreOffice filter UI names never offered, one per line"),
    ("mimetype_registry", asregistry, [],
     "ordered 'source destination handler' lines, fnmatch patterns"),
    ("ffmpeg_timeout", positive_float, 3600.0,
     "seconds one ffmpeg run may take"),
    ("tool_timeout", positive_float, 120.0,
     "seconds one ImageMagick or poppler run may take"),
    ("imagemagick_memory_limit", imagemagick_size("imagemagick_memory_limit"),
     "256MiB",
     "ImageMagick's memory resource limit"),
    ("imagemagick_area_limit", imagemagick_size("imagemagick_area_limit"),
     "128MP",
     "ImageMagick's largest image area (pixels); bigger is refused"),
    ("max_request_size", positive_int, 512 * 1024 * 1024,
     "largest XML-RPC request body accepted, in bytes"),
    # Zip members the server reads (link check, zipped HTML, granulation).
    ("max_unpacked_size", positive_int, 256 * 1024 * 1024,
     "bytes one request may inflate from a zip document, all members "
     "together; beyond, Fault 2 'document expands beyond ...'"),
    ("max_compression_ratio", positive_int, 200,
     "largest unpacked/packed size ratio of a zip member over 1 MB"),
    # -- operations: request log, /ready, stopping (cloudooo.ops) --
    ("log_format", one_of("text", "json"), "text",
     "log lines as text, or as JSON lines for log shippers"),
    ("ready_queue_limit", non_negative_int, 0,
     "GET /ready answers 503 from this many queued requests (0 = never)"),
    ("drain_notice_seconds", non_negative_float, 0.0,
     "after a stop signal, keep serving this long with /ready at 503 so "
     "a load balancer moves work away, then drain (a 2nd signal skips it)"),
    # The sandbox of every child that parses documents (cloudooo.sandbox).
    ("sandbox", one_of("bwrap", "none"), "bwrap",
     "bwrap: children run in bubblewrap, without network or host files; "
     "none: no sandbox (a WARNING at start)"),
    ("sandbox_office_memory_limit", non_negative_int, 3072,
     "address space of one office instance (soffice and its UNO worker), "
     "in MB; beyond, soffice fails and is replaced (0 = no limit)"),
    ("sandbox_tool_memory_limit", non_negative_int, 4096,
     "address space of one ffmpeg, ImageMagick, poppler or pypdf run, "
     "in MB (0 = no limit)"),
    ("sandbox_file_size_limit", non_negative_int, 2048,
     "largest file a sandboxed child may write, in MB (0 = no limit)"),
    ("sandbox_process_limit", non_negative_int, 512,
     "processes and threads one sandbox may run (0 = no limit; only "
     "with sandbox = bwrap, where each sandbox has a user of its own)"),
    ("sandbox_read_only_paths", aslist, [],
     "more host paths children may read (tools installed outside /usr)"),
    # Stalls: an office task during which soffice stops using the CPU.
    ("stall_seconds", non_negative_float, 15.0,
     "seconds an office task may go with soffice (almost) idle before it "
     "is a stall: killed, Fault 8 (0 = no stall watch, only "
     "timeout_response)"),
    # Headless Chromium (HTML -> PDF with page layout).
    ("chromium_binary", str, "/usr/bin/chromium",
     "the Chromium browser the chromium handler drives"),
    ("chromium_timeout", positive_float, 60.0,
     "seconds one HTML -> PDF conversion may take before the browser is "
     "killed (Fault 8)"),
    ("chromium_start_timeout", positive_float, 30.0,
     "seconds Chromium may take to start and accept DevTools connections"),
    ("chromium_limit_number_request", non_negative_int, 100,
     "conversions after which the browser is restarted, at the first "
     "request that finds it running none (0 = never)"),
    # Big documents streamed (cloudooo.xmlrpc_stream, cloudooo.spool).
    ("stream_threshold_size", non_negative_int, 1024 * 1024,
     "bytes of request body, of a document's base64 text or of a result "
     "above which the document is decoded to disk as it arrives and "
     "streamed back, never held whole in memory"),
)

SETTINGS_BY_NAME = {row[0]: row for row in SETTINGS_TABLE}

# Keys PasteDeploy or pserve add on their own; they are not ours to check.
PASTE_KEYS = ("here", "__file__", "__name__")


class Settings:
    """Validated configuration.  Attributes are the names in SETTINGS_TABLE,
    plus ``env`` (the ``env-NAME`` keys) and ``tmp_path``."""

    def __init__(self, **values):
        self.env = {}
        for name, converter, default, _meaning in SETTINGS_TABLE:
            setattr(self, name, default)
        for name, value in values.items():
            self._set(name, value)
        if not self.working_path:
            raise ConfigurationError(
                "working_path: required (a directory for cloudooo's files)")
        self.working_path = os.path.abspath(
            os.path.expanduser(self.working_path))
        self.tmp_path = os.path.join(self.working_path, "tmp")
        last_port = self.openoffice_port + self.office_pool_size - 1
        if last_port > 65535:
            raise ConfigurationError(
                "openoffice_port: %d + office_pool_size %d goes past 65535"
                % (self.openoffice_port, self.office_pool_size))

    def _set(self, name, value):
        if name.startswith("env-"):
            self.env[name[len("env-"):]] = str(value)
            return
        if name in PASTE_KEYS:
            return
        row = SETTINGS_BY_NAME.get(name)
        if row is None:
            raise ConfigurationError("unknown configuration key %r" % name)
        try:
            setattr(self, name, row[1](value))
        except (TypeError, ValueError) as error:
            raise ConfigurationError("%s: %s" % (name, error))

    @classmethod
    def from_config(cls, global_conf, local_conf):
        """Build from PasteDeploy's two dicts.  Only the app's own section is
        checked strictly: [DEFAULT] may hold keys meant for other sections."""
        values = {}
        for name, value in (global_conf or {}).items():
            if name in SETTINGS_BY_NAME or name.startswith("env-"):
                values[name] = value
        values.update(local_conf or {})
        return cls(**values)

    @property
    def routed_handler_names(self):
        """The handlers some registry rule names, in rule order: the only
        ones a server starts."""
        names = []
        for rule in self.mimetype_registry:
            if rule[2] not in names:
                names.append(rule[2])
        return tuple(names)

    def prepare_directories(self):
        os.makedirs(self.tmp_path, exist_ok=True)
