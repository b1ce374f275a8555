"""``cloudooo serve CONF [--daemon]``: load the app, serve it, stop cleanly;
``cloudooo stop|status --pid-file F``; and the client commands ``cloudooo
convert|formats|metadata`` (``cloudooo.ops.client``).

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

from cloudooo.util import wait_until

logger = logging.getLogger("cloudooo.cli")

STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
DRAIN_GRACE_SECONDS = 10.0
# The end of the drain time kept to interrupt what still runs and send
# those requests their "server stopping" Fault.
INTERRUPT_MARGIN_SECONDS = 2.5
LOOP_TICK_SECONDS = 0.2


# How long ``--daemon`` waits for the detached server to say it serves
# (every office instance gets office_start_timeout, in parallel).
DAEMON_START_WAIT_SECONDS = 600


def read_server_options(config_path, variables=None, server_name="main"):
    """The ``[server:NAME]`` options for waitress, minus ``use``;
    ``variables`` (``key=value`` on the command line) fill ``%(key)s``."""
    defaults = dict(variables or {})
    defaults.update({"here": os.path.dirname(os.path.abspath(config_path)),
                     "__file__": os.path.abspath(config_path)})
    parser = configparser.ConfigParser(defaults=defaults)
    try:
        if not parser.read(config_path):
            raise SystemExit("cloudooo: cannot read %s" % config_path)
    except configparser.Error as error:
        raise SystemExit("cloudooo: %s: %s" % (config_path, error))
    section = "server:" + server_name
    if not parser.has_section(section):
        return {}
    use = parser.get(section, "use", fallback="egg:waitress#main")
    if "waitress" not in use:
        raise SystemExit("cloudooo serve: [%s] use = %s: only waitress is "
                         "supported" % (section, use))
    return {key: value for key, value in parser.items(section)
            if key != "use" and key not in parser.defaults()}


class StartReport:
    """With ``--daemon``, the detached server tells the terminal how its
    start-up went over a pipe: the command exits 0 once it serves, or 1
    with the error (an office that cannot start, say) instead of leaving it
    in a log file."""

    def __init__(self, write_fd=None):
        self.write_fd = write_fd

    def send(self, message, close):
        if self.write_fd is None:
            return
        try:
            os.write(self.write_fd, message.encode("utf-8", "replace"))
            if close:
                os.close(self.write_fd)
        except OSError:
            pass
        self.write_fd = None

    def serving(self):
        self.send("ok", close=True)

    def failed(self, error):
        # Left open: it closes when this process exits, so the command
        # returns once the failed server is gone.
        self.send("error: %s" % (error or type(error).__name__), close=False)


def daemonize(log_file, prog="cloudooo"):
    """Detach (double fork, new session), stdio to the log file.  The
    command itself waits for the server's StartReport and exits with it."""
    read_fd, write_fd = os.pipe()
    if os.fork():
        os.close(write_fd)
        os._exit(_wait_for_start_report(read_fd, log_file, prog))
    os.close(read_fd)
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
    return StartReport(write_fd)


def _wait_for_start_report(read_fd, log_file, prog):
    import select
    chunks = []

    def report_complete():
        # The server closes its end once it serves; its exit closes it
        # after a failure: the report is whole at end of file.
        if not select.select([read_fd], [], [], 0)[0]:
            return False
        chunk = os.read(read_fd, 65536)
        chunks.append(chunk)
        return not chunk

    try:
        wait_until(report_complete, DAEMON_START_WAIT_SECONDS,
                   what="the server's start report")
    except TimeoutError:
        sys.stderr.write("%s: still starting after %d s; see %s\n" % (
            prog, DAEMON_START_WAIT_SECONDS, log_file or "the log"))
        return 0
    message = b"".join(chunks).decode("utf-8", "replace")
    if message == "ok":
        return 0
    if not message:
        message = "the server exited during start-up"
    sys.stderr.write("%s: %s%s\n" % (prog, message, "; see %s" % log_file
                                       if log_file else ""))
    return 1


class PidFile:
    def __init__(self, path):
        self.path = os.path.abspath(path) if path else None

    def check(self):
        """Refuse to start beside a live server of the same pid file."""
        if not self.path:
            return
        existing = self._read()
        if existing and existing != os.getpid() and \
                _process_exists(existing):
            raise SystemExit("cloudooo: already running as pid %d (%s)"
                             % (existing, self.path))
        directory = os.path.dirname(self.path)
        if not os.access(directory, os.W_OK):
            raise SystemExit("cloudooo: cannot write the pid file %s"
                             % self.path)

    def write(self):
        if not self.path:
            return
        self.check()
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
    """Serves until a stop signal, then gives notice, drains and stops."""

    def __init__(self, app, options, drain_notice_seconds=0.0):
        from cloudooo.waitress_adapter import WaitressServer
        self.app = app
        self.waitress = WaitressServer(app, options)
        self.drain_notice_seconds = drain_notice_seconds
        self.stop_signal = None
        self.signals_received = 0

    def _on_signal(self, signum, _frame):
        # From now on GET /ready answers 503.
        self.app.drain()
        self.signals_received += 1
        self.stop_signal = signum

    def serve_forever(self):
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        for line in self.waitress.listening_lines():
            logger.info("%s", line)
        while self.stop_signal is None:
            self.waitress.tick(LOOP_TICK_SECONDS)
        logger.info("received %s: stopping", signal.Signals(
            self.stop_signal).name)
        self._give_notice()
        self._drain()

    def _give_notice(self):
        """Serve on as usual for ``drain_notice_seconds``, /ready at 503,
        so a load balancer checking it stops sending work before the
        listener closes.  A second stop signal ends the notice."""
        notice = self.drain_notice_seconds
        if not notice:
            return
        logger.info("not ready: serving %.0f s more before draining", notice)
        signals_before = self.signals_received
        self._serve_until(lambda: self.signals_received != signals_before,
                          notice)

    def _drain(self):
        """Stop accepting; answer what is in flight; interrupt what is still
        running near the end of the drain time (its requests get the
        "server stopping" Fault); then stop handlers."""
        self.app.refuse()
        self.waitress.stop_listening()
        if not self._serve_until(self._drained, DRAIN_GRACE_SECONDS -
                                 INTERRUPT_MARGIN_SECONDS):
            if self.app.in_flight:
                logger.warning("%d request(s) still running: interrupting "
                               "them", self.app.in_flight)
                self.app.interrupt()
            self._serve_until(self._drained, INTERRUPT_MARGIN_SECONDS)
        self.app.close()
        self.waitress.close()

    def _drained(self):
        """No request running, no answer left to write."""
        return not (self.app.in_flight or self.waitress.has_pending_output())

    def _serve_until(self, condition, seconds):
        """Serve connections until ``condition()`` holds or ``seconds``
        pass; whether it holds."""
        try:
            return wait_until(condition, seconds, LOOP_TICK_SECONDS,
                              pause=self.waitress.tick)
        except TimeoutError:
            return False


def serve(arguments):
    return run_server(arguments.config, host=arguments.host,
                      port=arguments.port, daemon=arguments.daemon,
                      pid_file=arguments.pid_file,
                      log_file=arguments.log_file)


def run_server(config, variables=None, app_name="main", server_name="main",
               host=None, port=None, daemon=False, pid_file=None,
               log_file=None, prog="cloudooo"):
    """Check everything, detach if asked, load the app, serve until a stop
    signal, stop every child.  Shared by ``cloudooo serve`` and our
    ``pserve``."""
    from cloudooo.app import build_app, configure_process
    from cloudooo.errors import ConfigurationError
    from cloudooo.ops.preflight import check_configuration
    config_path = os.path.abspath(config)
    options = read_server_options(config_path, variables, server_name)
    if host:
        options["host"] = host
    if port:
        options["port"] = str(port)
    # Everything that would stop the start-up is found here, before
    # detaching, so mistakes reach the terminal rather than a log file.
    try:
        settings = check_configuration(config_path, variables, app_name,
                                       _listening_options(options))
    except ConfigurationError as error:
        raise SystemExit("%s: %s: %s" % (prog, config_path, error))
    pid_file = PidFile(pid_file)
    pid_file.check()
    if log_file:
        log_file = os.path.abspath(log_file)
        try:
            open(log_file, "ab").close()
        except OSError as error:
            raise SystemExit("%s: cannot write the log file %s: %s"
                             % (prog, log_file, error.strerror))
    report = StartReport()
    if daemon:
        report = daemonize(log_file, prog)
    elif log_file:
        log = open(log_file, "ab")
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        pid_file.write()
        configure_process(settings, logging_ini=config_path)
        try:
            app = build_app(settings)
        except BaseException as error:
            report.failed(error)
            raise
        try:
            server = Server(app, options, settings.drain_notice_seconds)
            report.serving()
            server.serve_forever()
        except BaseException as error:
            report.failed(error)
            raise
        finally:
            app.close()
    finally:
        pid_file.remove()
    logger.info("cloudooo stopped")
    return 0


def _listening_options(options):
    """host and port to probe, unless waitress listens otherwise."""
    if "listen" in options or "unix_socket" in options:
        return None
    return {"host": options.get("host", "0.0.0.0"),
            "port": options.get("port", "8080")}


def stop_command(arguments):
    from cloudooo.ops import control
    code, message = control.stop(
        arguments.pid_file, getattr(signal, "SIG" + arguments.signal),
        arguments.timeout)
    print("cloudooo stop: %s" % message,
          file=sys.stdout if code == 0 else sys.stderr)
    return code


def status_command(arguments):
    from cloudooo.ops import control
    code, message = control.status(arguments.pid_file)
    print("cloudooo: %s" % message)
    return code


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
    stop_parser = commands.add_parser(
        "stop", help="stop a server by its pid file and wait for it")
    stop_parser.add_argument("--pid-file", required=True)
    stop_parser.add_argument("--signal", default="HUP",
                             choices=("HUP", "TERM", "INT", "QUIT"),
                             help="signal to send (default HUP: drain, "
                             "then stop)")
    stop_parser.add_argument("--timeout", type=float, default=60.0,
                             help="seconds to wait (default 60)")
    status_parser = commands.add_parser(
        "status", help="is the server of this pid file running (exit 0), "
        "dead (1) or absent (3)")
    status_parser.add_argument("--pid-file", required=True)
    from cloudooo.ops.client import add_client_commands
    add_client_commands(commands)
    from cloudooo.cluster import add_cluster_command
    add_cluster_command(commands)
    arguments = parser.parse_args(argv)
    if arguments.command == "serve":
        return serve(arguments)
    if arguments.command == "stop":
        return stop_command(arguments)
    if arguments.command == "status":
        return status_command(arguments)
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
