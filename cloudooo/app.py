"""The application: ``build_app`` wires settings, handlers, registry and
manager into the WSGI app; ``configure_process`` holds every process-wide
effect; ``make_app`` is PasteDeploy's factory (``[app:main] use =
egg:cloudooo``), which calls both.
"""

import atexit
import configparser
import ctypes
import ctypes.util
import functools
import logging
import logging.config
import os
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


def configure_logging(settings, logging_ini=None):
    """The ini file's own [loggers]/[handlers]/[formatters] if it has them
    (as the classic pserve and paster read them; ``%(request_id)s`` may be
    used in their formats), then our level and request log format."""
    if logging_ini is not None:
        parser = configparser.ConfigParser()
        parser.read(logging_ini)
        if parser.has_section("loggers"):
            logging.config.fileConfig(logging_ini, defaults={
                "here": os.path.dirname(logging_ini),
                "__file__": logging_ini}, disable_existing_loggers=False)
    level = logging.DEBUG if settings.debug_mode else logging.INFO
    requestlog.configure(settings.log_format, level)
    logging.getLogger("cloudooo").setLevel(level)


def _exit_on_signal(signum, _frame):
    raise SystemExit("stopped by %s" % signal.Signals(signum).name)


def exit_on_stop_signals():
    """Turn SIGTERM, SIGHUP and SIGQUIT into a normal exit (running atexit
    and ``finally`` blocks, hence stopping soffice) where nobody handles
    them yet; ``cloudooo serve`` puts its draining handlers over these once
    it serves."""
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


def configure_process(settings, logging_ini=None):
    """Every effect on the whole process, in one place, before the app is
    built: logging, the GIL switch interval, malloc arenas, stop signals.
    Called by whoever runs the server: ``cloudooo serve`` and ``pserve``
    (``cli.run_server``), or ``make_app`` under paster or a WSGI
    container.  ``build_app`` itself touches nothing process-wide."""
    configure_logging(settings, logging_ini)
    # A thread woken by a worker's reply must not wait the default 5 ms for
    # the GIL while another thread decodes base64: that wait leaves an office
    # instance idle between two conversions of ~30 ms.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
    limit_malloc_arenas()
    exit_on_stop_signals()


def make_app(global_conf, **local_conf):
    """PasteDeploy's factory: ``paster serve`` or a WSGI container loads
    us through it (``cloudooo serve`` and ``pserve`` call build_app)."""
    settings = Settings.from_config(global_conf, local_conf)
    configure_process(settings)
    # The checks the commands run before detaching: a server loaded by
    # ``paster serve`` or a WSGI container gets the same clear message.
    problems = check_settings(settings)
    if problems:
        raise ConfigurationError("; ".join(problems))
    app = build_app(settings)
    # paster has no other hook to stop soffice when it exits (the commands
    # close the app themselves, after draining).
    atexit.register(app.close)
    return app


class StartedHandlers:
    """The handlers some registry rule names, started in ``names`` order,
    stopped in reverse; no LibreOffice for a server that only converts
    video."""

    def __init__(self, handlers, names):
        self.handlers = handlers
        self.names = names
        self.started = []

    def start(self):
        try:
            for name in self.names:
                self.handlers[name].start()
                self.started.append(self.handlers[name])
        except BaseException:
            self.stop()
            raise

    def stop(self):
        for handler in reversed(self.started):
            try:
                handler.stop()
            except Exception:
                logger.exception("stopping handler %s failed", handler.name)
        del self.started[:]

    def interrupt(self):
        for handler in self.started:
            try:
                handler.interrupt()
            except Exception:
                logger.exception("interrupting handler %s failed",
                                 handler.name)


def build_app(settings):
    """The WSGI application for checked settings, its handlers started.
    Nothing global: tests may build several in one process."""
    settings.prepare_directories()
    # The preflight checks ran bubblewrap once; say what protects the host.
    Sandbox.from_settings(settings).prepare()
    handlers = {cls.name: cls(settings) for cls in HANDLER_CLASSES}
    registry = HandlerRegistry(settings.mimetype_registry, handlers)
    routed = StartedHandlers(handlers, [
        cls.name for cls in HANDLER_CLASSES
        if cls.name in settings.routed_handler_names])
    routed.start()
    granulator_class = functools.partial(
        OdtGranulator, max_unpacked_size=settings.max_unpacked_size,
        max_compression_ratio=settings.max_compression_ratio)
    manager = Manager(registry, granulator_class)
    app = OpsApplication(
        manager, settings.max_request_size,
        handlers={name: handlers[name] for name in routed.names},
        ready_queue_limit=settings.ready_queue_limit,
        on_close=routed.stop, on_interrupt=routed.interrupt,
        metrics=ServerMetrics(handlers),
        spooling=Spooling(settings.tmp_path, settings.stream_threshold_size))
    logger.info("cloudooo ready: handlers %s",
                ", ".join(sorted(routed.names)))
    return app
