"""PasteDeploy application factory: wiring only.

``[app:main] use = egg:cloudooo`` lands here.  Nothing is global: every call
builds its own settings, handlers, registry and manager, so tests can run
several servers in one process.
"""

import atexit
import ctypes
import ctypes.util
import functools
import logging
import signal
import sys
import threading

from cloudooo.handler.chromium.handler import ChromiumHandler
from cloudooo.handler.ffmpeg.handler import FFmpegHandler
from cloudooo.handler.imagemagick.handler import ImageMagickHandler
from cloudooo.handler.ooo.granulator import OdtGranulator
from cloudooo.handler.ooo.handler import OfficeHandler
from cloudooo.handler.pdf.handler import PDFHandler
from cloudooo.errors import ConfigurationError
from cloudooo.manager import Manager
from cloudooo.ops import requestlog
from cloudooo.ops.endpoints import OpsApplication
from cloudooo.ops.metrics import ServerMetrics
from cloudooo.ops.preflight import check_settings
from cloudooo.registry import HandlerRegistry
from cloudooo.sandbox import Sandbox
from cloudooo.settings import Settings
from cloudooo.xmlrpc_stream import Spooling

logger = logging.getLogger(__name__)

GIL_SWITCH_INTERVAL_SECONDS = 0.0005
# glibc gives each thread a malloc arena of its own: with 8 request threads
# passing megabytes of base64 around, freed memory stays scattered over
# them and the server's RSS crept up for minutes (46 -> 107 MB in a
# 2,000-request soak); two arenas kept it flat (63 MB).
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's malloc.h

HANDLER_CLASSES = (OfficeHandler, FFmpegHandler, ImageMagickHandler,
                   PDFHandler, ChromiumHandler)


def configure_logging(settings):
    level = logging.DEBUG if settings.debug_mode else logging.INFO
    requestlog.configure(settings.log_format, level)
    logging.getLogger("cloudooo").setLevel(level)


def _exit_on_signal(signum, _frame):
    raise SystemExit("stopped by %s" % signal.Signals(signum).name)


def exit_on_stop_signals():
    """Turn SIGTERM, SIGHUP and SIGQUIT into a normal exit (running atexit,
    hence stopping soffice) where nobody handles them yet."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _exit_on_signal)


def limit_malloc_arenas():
    """Before the request threads exist; a no-op off glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError, TypeError):
        pass


def make_app(global_conf, **local_conf):
    settings = Settings.from_config(global_conf, local_conf)
    configure_logging(settings)
    # The same checks the commands run before detaching: a server loaded
    # by ``paster serve`` or a WSGI container gets the same clear message.
    problems = check_settings(settings)
    if problems:
        raise ConfigurationError("; ".join(problems))
    # A thread woken by a worker's reply must not wait the default 5 ms for
    # the GIL while another thread decodes base64: that wait leaves an office
    # instance idle between two conversions of ~30 ms.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
    limit_malloc_arenas()
    settings.prepare_directories()
    # check_settings above ran bubblewrap once; say what protects the host.
    Sandbox.from_settings(settings).prepare()
    handlers = {cls.name: cls(settings) for cls in HANDLER_CLASSES}
    registry = HandlerRegistry(settings.mimetype_registry, handlers)
    # Only handlers the registry routes to are started: no LibreOffice for a
    # server that only converts video.
    used = {name for _source, _destination, name in registry.rules}
    started = []

    def stop_handlers():
        for handler in reversed(started):
            try:
                handler.stop()
            except Exception:
                logger.exception("stopping handler %s failed", handler.name)
        del started[:]

    def interrupt_handlers():
        for handler in started:
            try:
                handler.interrupt()
            except Exception:
                logger.exception("interrupting handler %s failed",
                                 handler.name)

    try:
        for name in sorted(used, key=list(handlers).index):
            handlers[name].start()
            started.append(handlers[name])
    except BaseException:
        stop_handlers()
        raise
    granulator_class = functools.partial(
        OdtGranulator, max_unpacked_size=settings.max_unpacked_size,
        max_compression_ratio=settings.max_compression_ratio)
    manager = Manager(registry, handlers, granulator_class)
    app = OpsApplication(manager, settings.max_request_size,
                         on_close=stop_handlers,
                         on_interrupt=interrupt_handlers,
                         metrics=ServerMetrics(handlers),
                         spooling=Spooling(settings.tmp_path,
                                           settings.stream_threshold_size))
    app.settings = settings
    app.handlers = handlers
    app.handlers_enabled = tuple(sorted(used))
    # A server run by pserve has no other hook to stop soffice at exit;
    # ``cloudooo serve`` installs its own, gentler, handlers over these.
    atexit.register(app.close)
    exit_on_stop_signals()
    logger.info("cloudooo ready: handlers %s", ", ".join(sorted(used)))
    return app
