"""Everything start-up would find wrong, found before anything starts.

``cloudooo serve``, ``pserve`` and ``paster serve`` (through the app
factory) all run ``check_configuration`` first, so that with ``--daemon``
a mistake reaches the terminal with a non-zero exit status instead of a log
file after the detach: unknown keys and bad values, unknown handler names,
an empty registry, an unwritable working_path, a missing soffice.bin, UNO
Python, ffmpeg, ImageMagick or poppler binary, a server port in use.
"""

import os
import socket

from cloudooo.errors import ConfigurationError
from cloudooo.settings import Settings


def load_settings(config_path, variables=None, app_name="main"):
    """The app's Settings as PasteDeploy hands them to the factory.

    Only of a plain ``[app:NAME]``: ``cloudooo serve`` and ``pserve``
    build the application from these settings, so WSGI middleware
    (``filter-with``, a pipeline) would be left out without a word."""
    from paste.deploy.loadwsgi import APP, loadcontext
    try:
        context = loadcontext(APP, "config:" + os.path.abspath(config_path),
                              name=app_name, global_conf=variables or {})
    except LookupError as error:
        raise ConfigurationError(str(error))
    if context.object_type is not APP:
        raise ConfigurationError(
            "[app:%s] is a %s: cloudooo serve and pserve serve the "
            "application alone (no filter-with, no pipeline); serve "
            "middleware with paster serve or another WSGI server"
            % (app_name, context.object_type.name))
    return Settings.from_config(context.global_conf, context.local_conf)


def check_settings(settings):
    """Problems of a valid Settings with this machine: a list of
    messages, empty when all is well."""
    from cloudooo.app import HANDLER_CLASSES
    used = settings.routed_handler_names
    if not used:
        # (Settings alone may lack rules: a handler tested on its own, the
        # cluster reading its servers' common keys.)
        return ["mimetype_registry: no rules; nothing could be converted"]
    problems = []
    try:
        handlers = {cls.name: cls(settings) for cls in HANDLER_CLASSES
                    if cls.name in used}
    except ConfigurationError as error:
        return [str(error)]
    problem = _unwritable(settings.working_path)
    if problem:
        problems.append("working_path: %s" % problem)
    if settings.sandbox == "bwrap" and not problem:
        from cloudooo.sandbox import Sandbox
        try:
            Sandbox.from_settings(settings).check()
        except ConfigurationError as error:
            problems.append(str(error))
    if "ooo" in used:
        problems.extend(_office_problems(settings))
    # Each handler says what it misses (its programs), without starting;
    # its start() runs the same check.
    for name in sorted(used):
        problems.extend(handlers[name].preflight_problems())
    return problems


def _office_problems(settings):
    from cloudooo.handler.ooo.process import find_uno_python
    binary = os.path.join(settings.office_binary_path, "soffice.bin")
    if not os.access(binary, os.X_OK):
        return ["office_binary_path: %s is missing or not executable "
                "(on Debian: apt-get install libreoffice-core)" % binary]
    uno_python, tried = find_uno_python(settings.uno_python,
                                        settings.office_binary_path)
    if uno_python is None:
        return ["no Python that can 'import uno' (tried: %s); install "
                "python3-uno or set uno_python" % ", ".join(
                    "%s: %s" % item for item in tried)]
    return []


def _unwritable(path):
    """Why ``path`` cannot be made or written to, or None.  Nothing is
    created: the nearest existing folder must let us create the rest."""
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        return "%s is not a directory" % existing
    if not os.access(existing, os.W_OK | os.X_OK):
        return "%s is not writable" % existing
    return None


def check_port_free(host, port):
    """A clear message when [server:main]'s address is taken, or None."""
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except (socket.gaierror, ValueError) as error:
        return "[server:main] host %s port %s: %s" % (host, port, error)
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            return "[server:main] cannot listen on %s port %s: %s" % (
                host, port, error.strerror or error)
    return None


def check_configuration(config_path, variables=None, app_name="main",
                        server_options=None):
    """Raise ConfigurationError naming every problem found."""
    settings = load_settings(config_path, variables, app_name)
    problems = check_settings(settings)
    if server_options:
        problem = check_port_free(server_options.get("host", "0.0.0.0"),
                                  server_options.get("port", 8080))
        if problem:
            problems.append(problem)
    if problems:
        raise ConfigurationError("; ".join(problems))
    return settings
