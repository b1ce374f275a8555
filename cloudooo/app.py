"""PasteDeploy application factory: wiring only.

``[app:main] use = egg:cloudooo`` lands here.  Nothing is global: every call
builds its own settings, handlers, registry and manager, so tests can run
several servers in one process.
"""

import atexit
import functools
import logging
import signal
import sys
import threading

from cloudooo.handler.ffmpeg.handler import FFmpegHandler
from cloudooo.handler.imagemagick.handler import ImageMagickHandler
from cloudooo.handler.ooo.granulator import OdtGranulator
from cloudooo.handler.ooo.handler import OfficeHandler
from cloudooo.handler.pdf.handler import PDFHandler
from cloudooo.manager import Manager
from cloudooo.registry import HandlerRegistry
from cloudooo.settings import Settings
from cloudooo.xmlrpc import XmlRpcApplication
from cloudooo.xmlrpc_stream import Spooling

logger = logging.getLogger(__name__)

GIL_SWITCH_INTERVAL_SECONDS = 0.0005

HANDLER_CLASSES = (OfficeHandler, FFmpegHandler, ImageMagickHandler,
                   PDFHandler)


def configure_logging(settings):
    level = logging.DEBUG if settings.debug_mode else logging.INFO
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=level, format="%(asctime)s %(levelname)s [%(name)s] "
            "[%(threadName)s] %(message)s")
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


def make_app(global_conf, **local_conf):
    settings = Settings.from_config(global_conf, local_conf)
    configure_logging(settings)
    # A thread woken by a worker's reply must not wait the default 5 ms for
    # the GIL while another thread decodes base64: that wait leaves an office
    # instance idle between two conversions of ~30 ms.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
    settings.prepare_directories()
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
    app = XmlRpcApplication(manager, settings.max_request_size,
                            on_close=stop_handlers,
                            spooling=Spooling(settings.tmp_path,
                                              settings.stream_threshold_size))
    app.settings = settings
    app.handlers = handlers
    # A server run by pserve has no other hook to stop soffice at exit;
    # ``cloudooo serve`` installs its own, gentler, handlers over these.
    atexit.register(app.close)
    exit_on_stop_signals()
    logger.info("cloudooo ready: handlers %s", ", ".join(sorted(used)))
    return app
