"""The handler contract as clients and operators see it, on a server that
routes no document to LibreOffice: the manager alone refuses empty
documents, format lists come through the registry (a document_type query
answers without an office handler), and a handler's missing program stops
the start-up rather than the first request.
"""

import subprocess
import xmlrpc.client

import pytest

from cloudooo.errors import ConfigurationError
from cloudooo.handler.ffmpeg.handler import FFmpegHandler
from cloudooo.handler.pdf.handler import PDFHandler
from tests import media_fixtures
from tests.ops_helpers import only_registry
from tests.server import CLOUDOOO, ServerProcess, b64, unb64
from tests.test_http_edges import path_without

TOOLS_ONLY = ["video/* * ffmpeg", "audio/* * ffmpeg",
              "application/ogg * ffmpeg", "image/* image/* imagemagick",
              "application/pdf text/* pdf",
              "application/pdf image/* imagemagick"]
START_TIMEOUT = 90


@pytest.fixture(scope="module")
def tools_server(tmp_path_factory):
    """A server routing ffmpeg, ImageMagick and pdf only: no LibreOffice."""
    server = only_registry(
        ServerProcess(tmp_path_factory.mktemp("tools-server")), TOOLS_ONLY)
    server.start()
    yield server
    assert server.stop() == []


@pytest.mark.parametrize("call", [
    lambda proxy: proxy.convertFile("", "ogv", "webm"),
    lambda proxy: proxy.getFileMetadataItemList("", "ogv"),
    lambda proxy: proxy.updateFileMetadata("", "ogv", {"title": "x"}),
    lambda proxy: proxy.convertFile("", "png", "jpg"),
    lambda proxy: proxy.getFileMetadataItemList("", "png"),
    lambda proxy: proxy.convertFile("", "pdf", "txt"),
    lambda proxy: proxy.getFileMetadataItemList("", "PDF"),
    lambda proxy: proxy.updateFileMetadata("", ".pdf", {"title": "x"}),
], ids=["ffmpeg-convert", "ffmpeg-get", "ffmpeg-set", "imagemagick-convert",
        "imagemagick-get", "pdf-convert", "pdf-get", "pdf-set"])
def test_empty_documents_are_refused_by_the_manager(tools_server, call):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call(tools_server.proxy())
    assert caught.value.faultCode == 2
    assert "document is empty (0 bytes)" in caught.value.faultString


def test_formats_are_normalized_before_the_handler(tools_server):
    """'.PNG', 'JPG' and a mimetype reach ImageMagick as png and jpg."""
    proxy = tools_server.proxy()
    png = b64(media_fixtures.magick_image("rose:", "png"))
    for source, destination in ((".PNG", "JPG"), ("image/png", "image/jpeg"),
                                (" png ", ".jpg")):
        jpeg = unb64(proxy.convertFile(png, source, destination))
        assert media_fixtures.identify(jpeg)[0] == "JPEG", (source,
                                                            destination)
    assert proxy.getFileMetadataItemList(png, "PNG")["MIMEType"] == \
        "image/png"


def test_document_type_without_an_office_handler(tools_server):
    proxy = tools_server.proxy()
    # Only LibreOffice knows kinds of documents: none routed, none listed.
    for word in ("text", "Spreadsheet", "pres", "nonsense"):
        assert proxy.getAllowedExtensionList({"document_type": word}) == []
    assert proxy.getAllowedExtensionList({"document_type": ""}) == [["", ""]]
    # By source, the routed handlers still answer.
    assert ["jpg", "JPEG image"] in proxy.getAllowedExtensionList(
        {"extension": "png"})
    from_pdf = proxy.getAllowedExtensionList({"extension": "pdf"})
    assert ["txt", "Plain Text"] in from_pdf
    assert ["png", "PNG image"] in from_pdf
    assert proxy.getAllowedExtensionList({"extension": "odt"}) == [["", ""]]
    assert ["text/plain", "Plain Text"] in \
        proxy.getAllowedConversionFormatList("application/pdf; x=y")


def test_a_missing_program_stops_the_start_with_its_name(tmp_path):
    """ffmpeg is there but not ffprobe, which the handler also runs: the
    server refuses to start and says which program is missing."""
    server = only_registry(ServerProcess(tmp_path / "server"), TOOLS_ONLY)
    server_path = path_without(tmp_path / "bin", ("ffprobe",))
    result = subprocess.run(
        [CLOUDOOO, "serve", str(server.config_path),
         "--pid-file", str(server.pid_path)], capture_output=True, text=True,
        timeout=START_TIMEOUT, env={"PATH": server_path})
    assert result.returncode != 0
    assert "ffprobe not found in PATH (install ffmpeg, or set env-PATH); " \
        "the registry routes to ffmpeg" in result.stderr
    assert "ffmpeg not found" not in result.stderr
    assert not server.pid_path.exists()


@pytest.mark.parametrize("handler_class, program", [
    (FFmpegHandler, "ffprobe"), (PDFHandler, "pdfinfo")])
def test_start_checks_the_programs(settings, tmp_path, monkeypatch,
                                   handler_class, program):
    """start() runs the same check as the pre-flight, for a handler started
    another way (a WSGI container loading the app)."""
    handler = handler_class(settings)
    handler.start()  # everything is installed here
    monkeypatch.setenv("PATH", path_without(tmp_path / "bin", (program,)))
    with pytest.raises(ConfigurationError, match="%s not found" % program):
        handler_class(settings).start()


def test_a_missing_chromium_stops_the_start(tmp_path):
    server = only_registry(ServerProcess(
        tmp_path / "server", chromium_binary=str(tmp_path / "no-chromium")),
        ["text/html application/pdf chromium"])
    result = subprocess.run(
        [CLOUDOOO, "serve", str(server.config_path),
         "--pid-file", str(server.pid_path)], capture_output=True, text=True,
        timeout=START_TIMEOUT)
    assert result.returncode != 0
    assert "Chromium not found: %s is missing" % (
        tmp_path / "no-chromium") in result.stderr
    assert not server.pid_path.exists()
