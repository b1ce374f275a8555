"""``cloudooo serve CONF [--daemon]``: load the app, serve it, stop cleanly.

Signal handlers only record the signal (as gunicorn's arbiter does); the
serving loop notices it, stops accepting, lets requests in flight finish
(up to a grace period), interrupts those still running so that they answer
with the "server stopping" Fault within it, then stops every handler and its
child processes.  SIGHUP, SIGTERM, SIGINT and SIGQUIT all mean "stop".
"""

import argparse
import configparser
import logging
import os
import signal
import sys
import time

logger = logging.getLogger("cloudooo.cli")

STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
DRAIN_GRACE_SECONDS = 10.0
# The end of the drain time kept to interrupt what still runs and send
# those requests their "server stopping" Fault.
INTERRUPT_MARGIN_SECONDS = 2.5
LOOP_TICK_SECONDS = 0.2


def read_server_options(config_path):
    """The ``[server:main]`` options for waitress, minus ``use``."""
    parser = configparser.ConfigParser(defaults={
        "here": os.path.dirname(os.path.abspath(config_path)),
        "__file__": os.path.abspath(config_path)})
    if not parser.read(config_path):
        raise SystemExit("cloudooo: cannot read %s" % config_path)
    if not parser.has_section("server:main"):
        return {}
    use = parser.get("server:main", "use", fallback="egg:waitress#main")
    if "waitress" not in use:
        raise SystemExit("cloudooo serve: [server:main] use = %s: only "
                         "waitress is supported" % use)
    defaults = parser.defaults()
    return {key: value for key, value in parser.items("server:main")
            if key != "use" and key not in defaults}


def daemonize(log_file):
    """Detach (double fork, new session), stdio to the log file."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir("/")
    with open(os.devnull, "rb") as devnull:
        os.dup2(devnull.fileno(), 0)
    log_path = log_file or os.devnull
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)


class PidFile:
    def __init__(self, path):
        self.path = os.path.abspath(path) if path else None

    def write(self):
        if not self.path:
            return
        existing = self._read()
        if existing and _process_exists(existing):
            raise SystemExit("cloudooo: already running as pid %d (%s)"
                             % (existing, self.path))
        with open(self.path, "w") as stream:
            stream.write("%d\n" % os.getpid())

    def remove(self):
        if self.path and self._read() == os.getpid():
            os.unlink(self.path)

    def _read(self):
        try:
            with open(self.path) as stream:
                return int(stream.read().strip() or 0)
        except (OSError, ValueError):
            return 0


def _process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Server:
    """waitress's loop, run one tick at a time so a signal can stop it."""

    def __init__(self, app, options):
        import waitress
        self.app = app
        self.waitress = waitress.create_server(app, **options)
        self.stop_signal = None

    def _on_signal(self, signum, _frame):
        self.stop_signal = signum

    def serve_forever(self):
        from waitress import wasyncore
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        self.waitress.print_listen("cloudooo serving on http://{}:{}")
        sys.stdout.flush()
        loop_map = self.waitress._map
        while self.stop_signal is None:
            wasyncore.loop(timeout=LOOP_TICK_SECONDS, map=loop_map,
                           use_poll=True, count=1)
        logger.info("received %s: stopping", signal.Signals(
            self.stop_signal).name)
        self._drain(loop_map)

    def _drain(self, loop_map):
        """Stop accepting; answer what is in flight; interrupt what is still
        running near the end of the drain time (its requests get the
        "server stopping" Fault); then stop handlers."""
        from waitress import wasyncore
        self.app.refusing = True
        self._stop_listening()
        deadline = time.monotonic() + DRAIN_GRACE_SECONDS
        interrupt_at = deadline - INTERRUPT_MARGIN_SECONDS
        interrupted = False
        while time.monotonic() < deadline and (
                self.app.in_flight or _pending_output(loop_map)):
            if not interrupted and self.app.in_flight and \
                    time.monotonic() >= interrupt_at:
                logger.warning("%d request(s) still running: interrupting "
                               "them", self.app.in_flight)
                self.app.interrupt()
                interrupted = True
            wasyncore.loop(timeout=LOOP_TICK_SECONDS, map=loop_map,
                           use_poll=True, count=1)
        self.app.close()
        self.waitress.task_dispatcher.shutdown(timeout=1)
        for channel in list(loop_map.values()):
            channel.close()

    def _stop_listening(self):
        """Close the listening socket only.  waitress's own close() also
        closes the trigger by which a request thread wakes the loop to send
        its answer: the answers of the drain would fail with EBADF."""
        from waitress import wasyncore
        if hasattr(self.waitress, "trigger"):
            wasyncore.dispatcher.close(self.waitress)
        else:  # several listening sockets: each is its own dispatcher
            self.waitress.close()


def _pending_output(loop_map):
    return any(getattr(channel, "total_outbufs_len", 0)
               or getattr(channel, "requests", None)
               for channel in loop_map.values())


def serve(arguments):
    from paste.deploy import loadapp
    config_path = os.path.abspath(arguments.config)
    options = read_server_options(config_path)
    if arguments.host:
        options["host"] = arguments.host
    if arguments.port:
        options["port"] = str(arguments.port)
    # Validate the configuration before detaching, so mistakes reach the
    # terminal rather than a log file.
    from paste.deploy import appconfig
    from cloudooo.settings import Settings
    from cloudooo.errors import ConfigurationError
    try:
        context = appconfig("config:" + config_path)
        Settings.from_config(context.global_conf, context.local_conf)
    except ConfigurationError as error:
        raise SystemExit("cloudooo: %s: %s" % (config_path, error))
    pid_file = PidFile(arguments.pid_file)
    if arguments.log_file:
        arguments.log_file = os.path.abspath(arguments.log_file)
    if arguments.daemon:
        daemonize(arguments.log_file)
    elif arguments.log_file:
        log = open(arguments.log_file, "ab")
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    pid_file.write()
    try:
        app = loadapp("config:" + config_path)
        try:
            Server(app, options).serve_forever()
        finally:
            app.close()
    finally:
        pid_file.remove()
    logger.info("cloudooo stopped")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="cloudooo", description="XML-RPC document conversion server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the server")
    serve_parser.add_argument("config", help="PasteDeploy ini file")
    serve_parser.add_argument("--daemon", action="store_true",
                              help="detach and run in the background")
    serve_parser.add_argument("--pid-file", help="write the pid here")
    serve_parser.add_argument("--log-file", help="append output here")
    serve_parser.add_argument("--host", help="override [server:main] host")
    serve_parser.add_argument("--port", type=int,
                              help="override [server:main] port")
    arguments = parser.parse_args(argv)
    if arguments.command == "serve":
        return serve(arguments)
    return 2


if __name__ == "__main__":
    sys.exit(main())
