"""``pserve``: the classic command (Pyramid 1.x / Paste), for this server.

Pyramid 2's pserve has no ``--daemon``; ops scripts still say::

    pserve cloudooo.conf --daemon [--pid-file F] [--log-file F] [var=value]
    pserve --stop-daemon [--pid-file F]
    pserve --status [--pid-file F]
    pserve cloudooo.conf [start|stop|restart|status]

Same options, defaults (``pserve.pid`` and ``pserve.log`` in the current
folder when detached) and exit codes; serving is ``cloudooo serve``'s
(checks before detaching, drain on SIGHUP/SIGTERM, every child stopped).
File watching (``--reload``, ``--monitor-restart``) and changing user are
refused with a message: a conversion server is not reloaded on edits.
"""

import argparse
import signal
import sys

from cloudooo.ops import control

DEFAULT_PID_FILE = "pserve.pid"
DEFAULT_LOG_FILE = "pserve.log"
SUBCOMMANDS = ("start", "stop", "restart", "status")
STOP_TIMEOUT_SECONDS = 60.0


def make_parser():
    parser = argparse.ArgumentParser(
        prog="pserve", usage="pserve [options] [config_file] "
        "[start|stop|restart|status] [var=value]",
        description="Serve cloudooo from a PasteDeploy config file (the "
        "classic pserve interface).")
    parser.add_argument("config_uri", nargs="?",
                        help="config file, optionally file#app_name")
    parser.add_argument("args", nargs="*",
                        help="start|stop|restart|status, then var=value")
    parser.add_argument("-n", "--app-name", default=None,
                        help="load the named application (default main)")
    parser.add_argument("-s", "--server", dest="server_type",
                        help="server type (only waitress is supported)")
    parser.add_argument("--server-name", default="main",
                        help="use the [server:NAME] section (default main)")
    parser.add_argument("--daemon", action="store_true",
                        help="run in the background")
    parser.add_argument("--pid-file", help="pid file (default %s when "
                        "detached)" % DEFAULT_PID_FILE)
    parser.add_argument("--log-file", help="log file (default %s when "
                        "detached)" % DEFAULT_LOG_FILE)
    parser.add_argument("--stop-daemon", action="store_true",
                        help="stop the daemon of the pid file")
    parser.add_argument("--status", action="store_true",
                        help="tell whether the daemon is running")
    parser.add_argument("-v", "--verbose", action="count", default=1)
    parser.add_argument("-q", "--quiet", action="store_const", const=0,
                        dest="verbose")
    for refused in ("--reload", "--monitor-restart"):
        parser.add_argument(refused, action="store_true",
                            help=argparse.SUPPRESS)
    parser.add_argument("--reload-interval", help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    return parser


def parse_vars(items):
    variables = {}
    for item in items:
        name, equal, value = item.partition("=")
        if not equal or not name:
            raise SystemExit("pserve: variable assignment %r is not "
                             "name=value" % item)
        variables[name] = value
    return variables


def main(argv=None):
    parser = make_parser()
    options = parser.parse_intermixed_args(argv)
    for refused, why in (("reload", "--reload"),
                         ("monitor_restart", "--monitor-restart"),
                         ("user", "--user"), ("group", "--group")):
        if getattr(options, refused):
            parser.error("%s is not supported by cloudooo's pserve" % why)
    if options.server_type and "waitress" not in options.server_type:
        parser.error("--server %s: only waitress is supported"
                     % options.server_type)
    args = list(options.args)
    command = None
    # "pserve start" with no config would read "start" as the config.
    if options.config_uri in SUBCOMMANDS and not args:
        command, options.config_uri = options.config_uri, None
    elif args and args[0] in SUBCOMMANDS:
        command = args.pop(0)
    pid_file = options.pid_file or DEFAULT_PID_FILE

    if options.status or command == "status":
        code, message = control.status(pid_file)
        if code == 0:
            print("Server running in PID %d" % control.read_pid(pid_file))
        else:
            print(message)
        return 0 if code == 0 else 1
    if options.stop_daemon or command in ("stop", "restart"):
        code, message = control.stop(pid_file, signal.SIGTERM,
                                     STOP_TIMEOUT_SECONDS)
        if options.verbose or code:
            print(message)
        if command != "restart":
            return {0: 0, 3: 1}.get(code, 3)
        if code == 1:
            print("Could not stop daemon; aborting")
            return 1
    if not options.config_uri:
        parser.error("a config file is required")
    config, _, fragment = options.config_uri.partition("#")
    daemon = options.daemon or command in ("start", "restart")
    from cloudooo.cli import run_server
    return run_server(
        config, variables=parse_vars(args),
        app_name=options.app_name or fragment or "main",
        server_name=options.server_name, daemon=daemon,
        pid_file=options.pid_file or (DEFAULT_PID_FILE if daemon else None),
        log_file=options.log_file or (DEFAULT_LOG_FILE if daemon else None),
        prog="pserve")


if __name__ == "__main__":
    sys.exit(main())
