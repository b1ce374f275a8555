"""End-to-end edges of the HTTP/XML-RPC front and of the start-up options,
through a real ``cloudooo serve`` on loopback.

Most servers here route only ffmpeg (no LibreOffice to start, so they are
up in a second); the zip-slip test needs the office handler and uses the
shared server.
"""

import http.client
import io
import os
import shutil
import socket
import urllib.request
import xmlrpc.client
import zipfile

import pytest

from cloudooo.ops.endpoints import OpsApplication
from cloudooo.xmlrpc import PUBLISHED_METHODS, Dispatcher
from tests import media_fixtures
from tests.ops_helpers import only_registry, wait_for
from tests.server import ServerProcess, b64, free_port, unb64

FFMPEG_ONLY = ["video/* * ffmpeg", "audio/* * ffmpeg",
               "application/ogg * ffmpeg"]
SMALL_REQUEST_LIMIT = 4096


@pytest.fixture(scope="module")
def media_server(tmp_path_factory):
    """A server routing only ffmpeg, with a small max_request_size."""
    server = only_registry(
        ServerProcess(tmp_path_factory.mktemp("media-server"),
                      max_request_size=SMALL_REQUEST_LIMIT), FFMPEG_ONLY)
    server.start()
    yield server
    assert server.stop() == []


def raw_post(port, head_lines, body=b""):
    """POST /RPC2 with the given header lines as written, unchecked by any
    client library; returns the response's status line."""
    request = b"\r\n".join([b"POST /RPC2 HTTP/1.1", b"Host: 127.0.0.1",
                            b"Content-Type: text/xml", b"Connection: close"]
                           + head_lines) + b"\r\n\r\n" + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.split(b"\r\n", 1)[0].decode("latin-1")


def test_body_over_max_request_size_gets_413(media_server):
    proxy = media_server.proxy()
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        proxy.convertFile("A" * (SMALL_REQUEST_LIMIT * 2), "ogv", "webm")
    assert caught.value.errcode == 413
    # The limit is on the request, not a broken server: small calls pass.
    assert "webm" in [extension for extension, _title in
                      proxy.getAllowedExtensionList({"extension": "ogv"})]


@pytest.mark.parametrize("content_length", [b"twelve", b"-5", b"1e3"])
def test_malformed_content_length_gets_400(media_server, content_length):
    status = raw_post(media_server.port,
                      [b"Content-Length: " + content_length], b"<x/>")
    assert status.split()[1] == "400", status
    assert media_server.proxy().getAllowedExtensionList(
        {"extension": "ogv"})


def test_system_multicall_answers_each_call(media_server):
    """system.multicall works: each call's result or Fault in its place."""
    calls = xmlrpc.client.MultiCall(media_server.proxy())
    calls.getAllowedExtensionList({"extension": "ogv"})
    calls.convertFile(b64(b""), "ogv", "webm")  # empty: the client's fault
    calls.noSuchMethod()
    results = calls()
    assert "webm" in [extension for extension, _title in results[0]]
    with pytest.raises(xmlrpc.client.Fault) as empty:
        results[1]
    assert empty.value.faultCode == 2, empty.value.faultString
    assert "empty" in empty.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as unknown:
        results[2]
    assert "noSuchMethod" in unknown.value.faultString


def slip_zip(canary):
    """A zipped HTML page with members named to land outside the unpack
    directory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<html><body><p>page</p>"
                         "<img src='../../slipped.png'/></body></html>")
        archive.writestr("../slipped.txt", canary)
        archive.writestr("../../slipped.png", canary)
    return buffer.getvalue()


def test_zip_slip_is_refused(server):
    canary = b"zip-slip-canary-%s" % os.urandom(8).hex().encode()
    with pytest.raises(xmlrpc.client.Fault) as caught:
        server.proxy().convertFile(b64(slip_zip(canary)), "zip", "odt")
    assert caught.value.faultCode == 5, caught.value.faultString
    assert "zip member escaping the archive" in caught.value.faultString
    written = [os.path.join(folder, name)
               for folder, _dirs, names in os.walk(server.workdir)
               for name in names if name.startswith("slipped")]
    assert written == []
    assert os.listdir(server.tmp_path) == []


def path_without(directory, hidden):
    """Fill ``directory`` with links to every program on our PATH except
    those named in ``hidden``; return it as a PATH."""
    directory.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            link = directory / name
            if name not in hidden and not os.path.lexists(link):
                os.symlink(os.path.join(folder, name), link)
    return str(directory)


def test_env_path_reaches_the_tools(tmp_path):
    """ffmpeg and ffprobe only in a folder named by ``env-PATH``, not in the
    server's own PATH: the server starts and converts with them."""
    tools = tmp_path / "tools-bin"
    tools.mkdir()
    for tool in ("ffmpeg", "ffprobe"):
        os.symlink(shutil.which(tool), tools / tool)
    server_path = path_without(tmp_path / "server-bin", ("ffmpeg", "ffprobe"))
    # Both folders live under /tmp: the sandbox must be told to show them.
    server = only_registry(ServerProcess(tmp_path / "server", **{
        "env-PATH": str(tools),
        "sandbox_read_only_paths": "%s %s" % (tools, server_path)}),
        FFMPEG_ONLY)
    server.launch(server.serve_argv(), env=dict(os.environ, PATH=server_path))
    try:
        server.wait_ready()
        webm = unb64(server.proxy().convertFile(
            b64(media_fixtures.ogv_video()), "ogv", "webm"))
        assert webm.startswith(b"\x1a\x45\xdf\xa3")  # EBML (WebM) header
    finally:
        assert server.stop() == []


def answers(host, port):
    """The status of GET / at host:port, or None when nothing listens."""
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def test_serve_host_and_port_override_the_config(tmp_path):
    """``--host``/``--port`` win over [server:main]: the server answers on
    127.0.0.2 (loopback too) at the chosen port, and not where the config
    said."""
    server = only_registry(ServerProcess(tmp_path), FFMPEG_ONLY)
    configured_port, chosen_port = server.port, free_port()
    server.launch(server.serve_argv("--host", "127.0.0.2",
                                    "--port", str(chosen_port)))
    try:
        wait_for(lambda: server.process.poll() is not None or
                 answers("127.0.0.2", chosen_port),
                 what="an answer on 127.0.0.2:%d" % chosen_port)
        assert server.process.poll() is None, server.log()
        assert answers("127.0.0.2", chosen_port) == 200
        proxy = xmlrpc.client.ServerProxy(
            "http://127.0.0.2:%d/RPC2" % chosen_port)
        assert proxy.getAllowedExtensionList({"extension": "ogv"})
        assert answers("127.0.0.1", chosen_port) is None
        assert answers("127.0.0.1", configured_port) is None
    finally:
        assert server.stop() == []


# -- what is published -----------------------------------------------------

SYSTEM_METHODS = ["system.listMethods", "system.methodHelp",
                  "system.methodSignature", "system.multicall"]


def test_only_the_listed_methods_are_published(media_server):
    proxy = media_server.proxy()
    assert sorted(proxy.system.listMethods()) == sorted(
        list(PUBLISHED_METHODS) + SYSTEM_METHODS)
    # Manager's private helpers are not reachable, whatever their name.
    for name in ("_document", "_granulator", "_legacy_failure",
                 "__init__", "registry"):
        body = xmlrpc.client.dumps((b64(b"x"), "ogv"), name).encode()
        request = urllib.request.Request(media_server.url, data=body)
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = response.read()
        with pytest.raises(xmlrpc.client.Fault) as caught:
            xmlrpc.client.loads(answer)
        assert caught.value.faultCode == 1
        assert caught.value.faultString == "unknown method %r" % name


class Published:
    def echo(self, text):
        return text

    def broken(self):
        # A bug of the server's own: a call inside with a missing argument.
        return self.echo()

    def helper(self):
        return "never reached"


def call(dispatcher, method, *params):
    body = xmlrpc.client.dumps(params, method).encode()
    return xmlrpc.client.loads(dispatcher._marshaled_dispatch(body))[0][0]


def test_a_public_method_not_listed_is_unknown():
    dispatcher = Dispatcher(Published(), ["echo", "broken"])
    assert call(dispatcher, "echo", "hi") == "hi"
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call(dispatcher, "helper")
    assert (caught.value.faultCode, caught.value.faultString) == (
        1, "unknown method 'helper'")


def test_arguments_are_bound_before_the_call_not_read_from_errors():
    """Wrong arity is the client's (Fault 2); a TypeError raised inside a
    method is ours (Fault 1, no Python text), whatever its words."""
    dispatcher = Dispatcher(Published(), ["echo", "broken"])
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call(dispatcher, "echo", "a", "b")
    assert caught.value.faultCode == 2
    assert caught.value.faultString.startswith("echo: too many")
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call(dispatcher, "system.methodHelp")
    assert caught.value.faultCode == 2
    assert "method_name" in caught.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call(dispatcher, "broken")
    assert caught.value.faultCode == 1


def wsgi(app, method, path="/RPC2", body=b""):
    """(status, body) of one request to the WSGI app itself."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path,
               "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    response = app(environ, start_response)
    try:
        return answer["status"], b"".join(response)
    finally:
        getattr(response, "close", lambda: None)()


def wsgi_call(app, method, *params):
    status, body = wsgi(app, "POST", body=xmlrpc.client.dumps(
        params, method).encode())
    assert status == 200
    return xmlrpc.client.loads(body)[0][0]


def test_drain_then_refuse_is_how_the_app_is_stopped():
    app = OpsApplication(Published(), 10 ** 6, methods=["echo"])
    assert wsgi(app, "GET", "/ready")[0] == 200
    app.drain()
    # Not ready, so balancers move away; work is still done meanwhile.
    status, body = wsgi(app, "GET", "/ready")
    assert status == 503
    assert b"the server is draining before it stops" in body
    assert wsgi_call(app, "echo", "hi") == "hi"
    app.refuse()
    with pytest.raises(xmlrpc.client.Fault) as caught:
        wsgi_call(app, "echo", "hi")
    assert (caught.value.faultCode, caught.value.faultString) == (
        2, "the server is stopping")
    assert app.in_flight == 0
