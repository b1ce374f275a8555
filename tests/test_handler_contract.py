"""The handler contract as clients and operators see it, on a server that
routes no document to LibreOffice: the manager alone refuses empty
documents, format lists come through the registry (a document_type query
answers without an office handler), and a handler's missing program stops
the start-up rather than the first request.
"""

import os
import random
import struct
import subprocess
import xmlrpc.client

import psutil
import pytest

from cloudooo.errors import ConfigurationError
from cloudooo.handler.ffmpeg.handler import FFmpegHandler
from cloudooo.handler.pdf.handler import PDFHandler
from tests import media_fixtures
from tests.big_documents import PeakRss
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


# Big documents: ffmpeg, ImageMagick and pdf take a spooled document by its
# file and give their output back as one, as LibreOffice does.

@pytest.fixture(scope="module")
def spooling_tools_server(tmp_path_factory):
    """The same routing, every document and result spooled."""
    server = only_registry(
        ServerProcess(tmp_path_factory.mktemp("spooling-tools-server"),
                      stream_threshold_size=0), TOOLS_ONLY)
    server.start()
    yield server
    assert server.stop() == []


def same_answers(call, *servers):
    """What ``call(proxy)`` answers on each server, asserted equal."""
    answers = [call(server.proxy()) for server in servers]
    assert all(answer == answers[0] for answer in answers), call
    return answers[0]


def with_data_decoded(metadata):
    return dict(metadata, Data=unb64(metadata["Data"]))


def test_spooled_documents_get_the_same_answers(tools_server,
                                                spooling_tools_server):
    servers = (tools_server, spooling_tools_server)
    png = media_fixtures.magick_image("rose:", "png")
    video = media_fixtures.ogv_video()
    pdf = media_fixtures.pdf_document(["Spooled page"], "Spooled")
    jpeg = same_answers(lambda proxy: unb64(proxy.convertFile(
        b64(png), "png", "jpg")), *servers)
    assert media_fixtures.identify(jpeg)[0] == "JPEG"
    assert b"Spooled page" in same_answers(lambda proxy: unb64(
        proxy.convertFile(b64(pdf), "pdf", "txt")), *servers)
    assert same_answers(lambda proxy: unb64(proxy.convertFile(
        b64(video), "ogv", "wav")), *servers)[:4] == b"RIFF"
    for data, source in ((png, "png"), (video, "ogv"), (pdf, "pdf")):
        # A streamed document is one line of base64: compared decoded.
        metadata = same_answers(lambda proxy: with_data_decoded(
            proxy.getFileMetadataItemList(b64(data), source, True)), *servers)
        # The base document of a tool's document is the document itself.
        assert metadata["Data"] == data, source
        assert same_answers(lambda proxy: proxy.getFileMetadataItemList(
            b64(data), source), *servers) == dict(metadata, Data="")
    for server in servers:
        assert os.listdir(server.tmp_path) == []


BIG_WAV_SIZE = 50 * 1024 * 1024
# As tests/test_big_documents.py: the bound for one request whatever the
# document's size, and well under the document (holding it once is 50 MB).
RSS_GROWTH_LIMIT = 64 * 1024 * 1024


def big_wav(size):
    """A WAV of ``size`` bytes of noise, 16-bit mono at 8 kHz."""
    header = media_fixtures.empty_wav()
    samples = random.Random(7).randbytes(size - len(header))
    return (header[:4] + struct.pack("<I", len(header) - 8 + len(samples))
            + header[8:-4] + struct.pack("<I", len(samples)) + samples)


def test_a_big_media_document_stays_off_the_server_heap(tools_server):
    proxy = tools_server.proxy()
    wav = big_wav(BIG_WAV_SIZE)
    text = b64(wav)
    proxy.getFileMetadataItemList(b64(wav[:4096]), "wav")  # warm
    idle = psutil.Process(tools_server.pid).memory_info().rss
    with PeakRss(tools_server.pid) as rss:
        metadata = proxy.getFileMetadataItemList(text, "wav", True)
        tagged = proxy.updateFileMetadata(text, "wav", {"title": "Big"})
    growth = rss.peak - idle
    assert growth <= RSS_GROWTH_LIMIT, "server RSS grew by %d MB" % (
        growth // 2 ** 20)
    assert growth < BIG_WAV_SIZE // 2, growth // 2 ** 20
    assert unb64(metadata["Data"]) == wav
    assert metadata["Channels"] == 1
    del text, metadata
    tagged = unb64(tagged)
    assert len(tagged) > BIG_WAV_SIZE
    assert proxy.getFileMetadataItemList(b64(tagged[:65536]), "wav")[
        "Title"] == "Big"
    assert os.listdir(tools_server.tmp_path) == []
