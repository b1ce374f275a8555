"""The client command line: ``cloudooo convert|formats|metadata``.

Talks to a running server over XML-RPC, as any client would.  ``convert``
takes files or folders and converts them in parallel (``-j N``), with a
progress bar on a terminal (tqdm) and one plain line per file otherwise;
its exit status is 1 when any file failed, after a summary of the Faults.
"""

import base64
import os
import shutil
import sys
import threading
import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor, as_completed

DEFAULT_SERVER = "http://127.0.0.1:8011"
DEFAULT_TIMEOUT_SECONDS = 600.0


def add_client_commands(commands):
    """Add convert, formats and metadata to ``cloudooo``'s subcommands."""
    convert = commands.add_parser(
        "convert", help="convert files with a running server")
    convert.add_argument("files", nargs="+", metavar="FILE",
                         help="files, or folders (their files)")
    convert.add_argument("--to", required=True, metavar="EXT",
                         help="destination format (pdf, docx, png...)")
    convert.add_argument("--from", dest="source_format", metavar="EXT",
                         help="source format (default: each file's "
                         "extension)")
    convert.add_argument("--out", metavar="DIR",
                         help="folder for the results (default: beside "
                         "each file)")
    convert.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                         help="files converted at once (default 1)")
    _add_server_options(convert)
    convert.set_defaults(run=convert_command)

    formats = commands.add_parser(
        "formats", help="what a file can be converted to")
    formats.add_argument("file", metavar="FILE")
    _add_server_options(formats)
    formats.set_defaults(run=formats_command)

    metadata = commands.add_parser(
        "metadata", help="show a file's metadata, or write it with --set")
    metadata.add_argument("file", metavar="FILE")
    metadata.add_argument("--set", action="append", default=[],
                          metavar="KEY=VALUE",
                          help="write this metadata (repeatable); the file "
                          "is rewritten, or written into --out")
    metadata.add_argument("--out", metavar="DIR",
                          help="with --set: write the new file here instead "
                          "of over FILE")
    _add_server_options(metadata)
    metadata.set_defaults(run=metadata_command)


def _add_server_options(parser):
    parser.add_argument("--server", default=DEFAULT_SERVER, metavar="URL",
                        help="server URL (default %s)" % DEFAULT_SERVER)
    parser.add_argument("--timeout", type=float,
                        default=DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS",
                        help="seconds one call may take (default %.0f)"
                        % DEFAULT_TIMEOUT_SECONDS)


def server_proxy(url, timeout):
    """An xmlrpc.client proxy whose calls give up after ``timeout``."""
    base = xmlrpc.client.SafeTransport if url.startswith("https:") else \
        xmlrpc.client.Transport

    class TimeoutTransport(base):
        def make_connection(self, host):
            connection = super().make_connection(host)
            connection.timeout = timeout
            return connection

    return xmlrpc.client.ServerProxy(url, transport=TimeoutTransport(),
                                     allow_none=True)


def describe_error(error):
    if isinstance(error, xmlrpc.client.Fault):
        return "Fault %d: %s" % (error.faultCode, error.faultString)
    if isinstance(error, xmlrpc.client.ProtocolError):
        return "HTTP %s %s" % (error.errcode, error.errmsg)
    if isinstance(error, OSError):
        return "%s: %s" % (type(error).__name__, error.strerror or error)
    return "%s: %s" % (type(error).__name__, error)


def extension_of(path):
    name = os.path.basename(path)
    return name.rsplit(".", 1)[1].lower() if "." in name.strip(".") else ""


def expand_files(arguments):
    """Files as given; a folder stands for its regular files, sorted."""
    files = []
    for argument in arguments:
        if os.path.isdir(argument):
            files.extend(sorted(
                os.path.join(argument, name) for name in os.listdir(argument)
                if os.path.isfile(os.path.join(argument, name))))
        else:
            files.append(argument)
    return files


def _read_b64(path):
    with open(path, "rb") as stream:
        return base64.encodebytes(stream.read()).decode("ascii")


def output_path(source, destination_format, out_dir):
    stem = os.path.basename(source)
    if "." in stem.strip("."):
        stem = stem.rsplit(".", 1)[0]
    folder = out_dir or os.path.dirname(os.path.abspath(source))
    return os.path.join(folder, "%s.%s" % (stem, destination_format))


def convert_command(arguments):
    files = expand_files(arguments.files)
    if not files:
        print("cloudooo convert: no files", file=sys.stderr)
        return 2
    if arguments.out:
        os.makedirs(arguments.out, exist_ok=True)
    destination = arguments.to.lstrip(".")
    local = threading.local()

    def convert_one(path):
        if not hasattr(local, "proxy"):  # ServerProxy is not thread-safe
            local.proxy = server_proxy(arguments.server, arguments.timeout)
        source_format = arguments.source_format or extension_of(path)
        if not source_format:
            raise ValueError("no extension: give --from")
        target = output_path(path, destination, arguments.out)
        if os.path.abspath(target) == os.path.abspath(path):
            raise ValueError("the result would overwrite the file: give "
                             "--out")
        result = local.proxy.convertFile(_read_b64(path), source_format,
                                         destination)
        data = base64.decodebytes(result.encode("ascii"))
        with open(target, "wb") as stream:
            stream.write(data)
        return target, len(data)

    progress = _Progress(len(files))
    failures = []
    with ThreadPoolExecutor(max_workers=max(1, arguments.jobs)) as pool:
        futures = {pool.submit(convert_one, path): path for path in files}
        for future in as_completed(futures):
            path = futures[future]
            try:
                target, size = future.result()
            except Exception as error:
                failures.append((path, describe_error(error)))
                progress.line("FAILED %s: %s" % (path, failures[-1][1]))
            else:
                progress.line("ok %s -> %s (%d bytes)" % (path, target,
                                                          size))
            progress.advance()
    progress.close()
    converted = len(files) - len(failures)
    print("%d converted, %d failed" % (converted, len(failures)),
          file=sys.stderr if failures else sys.stdout)
    for path, message in sorted(failures):
        print("  %s: %s" % (path, message), file=sys.stderr)
    return 1 if failures else 0


class _Progress:
    """tqdm's bar on a terminal; plain lines when output is not one."""

    def __init__(self, total):
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            # A terminal that reports a size of 0 (serial consoles, some
            # ptys) would get no bar at all from tqdm: 80x24 then.
            size = shutil.get_terminal_size()
            self.bar = tqdm(total=total, unit="file", file=sys.stderr,
                            ncols=size.columns, nrows=size.lines)

    def line(self, text):
        if self.bar is not None:
            if text.startswith("FAILED"):
                self.bar.write(text, file=sys.stderr)
        else:
            print(text, flush=True)

    def advance(self):
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def formats_command(arguments):
    proxy = server_proxy(arguments.server, arguments.timeout)
    extension = extension_of(arguments.file)
    try:
        targets = proxy.getAllowedExtensionList({"extension": extension})
    except Exception as error:
        print("cloudooo formats: %s" % describe_error(error),
              file=sys.stderr)
        return 1
    targets = [(target, title) for target, title in targets if target]
    if not targets:
        print("cloudooo formats: nothing known for .%s files" % extension,
              file=sys.stderr)
        return 1
    for target, title in targets:
        print("%s\t%s" % (target, title))
    return 0


def metadata_command(arguments):
    proxy = server_proxy(arguments.server, arguments.timeout)
    source_format = extension_of(arguments.file)
    updates = {}
    for item in arguments.set:
        key, equal, value = item.partition("=")
        if not equal or not key.strip():
            print("cloudooo metadata: --set %r: expected KEY=VALUE" % item,
                  file=sys.stderr)
            return 2
        updates[key.strip()] = value
    try:
        document = _read_b64(arguments.file)
        if not updates:
            metadata = proxy.getFileMetadataItemList(document, source_format)
            for key in sorted(metadata):
                if key != "Data":
                    print("%s: %s" % (key, metadata[key]))
            return 0
        result = proxy.updateFileMetadata(document, source_format, updates)
    except Exception as error:
        print("cloudooo metadata: %s" % describe_error(error),
              file=sys.stderr)
        return 1
    target = arguments.file
    if arguments.out:
        os.makedirs(arguments.out, exist_ok=True)
        target = os.path.join(arguments.out, os.path.basename(target))
    with open(target, "wb") as stream:
        stream.write(base64.decodebytes(result.encode("ascii")))
    print("wrote %s" % target)
    return 0
