"""ffmpeg, ImageMagick and PDF handlers through the server and the registry."""

import os
import xmlrpc.client

import pytest

from tests import media_fixtures
from tests.server import b64, unb64


def convert(proxy, data, source, destination):
    return unb64(proxy.convertFile(b64(data), source, destination))


# No request leaves a file in the server's tmp/ (conftest.py).
pytestmark = pytest.mark.usefixtures("no_request_files_left")


def test_video_conversions_are_probed(proxy):
    video = media_fixtures.ogv_video()
    formats, streams = media_fixtures.ffprobe(convert(proxy, video, "ogv",
                                                      "webm"))
    assert "webm" in formats
    assert {"video:vp9", "audio:opus"} <= set(streams)
    formats, streams = media_fixtures.ffprobe(convert(proxy, video, "ogv",
                                                      "mp4"))
    assert "mp4" in formats and "video:h264" in streams
    formats, streams = media_fixtures.ffprobe(convert(proxy, video, "ogv",
                                                      "mp3"))
    assert formats == ["mp3"] and streams == ["audio:mp3"]


def test_video_metadata_round_trip(proxy):
    video = b64(media_fixtures.ogv_video())
    metadata = proxy.getFileMetadataItemList(video, "ogv")
    assert metadata["Title"] == media_fixtures.FIXTURE_TITLE
    assert metadata["MIMEType"] == "video/ogg"
    updated = proxy.updateFileMetadata(video, "ogv", {"title": "Renamed"})
    assert proxy.getFileMetadataItemList(updated, "ogv")["Title"] == \
        "Renamed"


def test_video_formats_listed(proxy):
    mimetypes = {item[0] for item in proxy.getAllowedConversionFormatList(
        "video/ogg")}
    assert {"video/webm", "video/mp4", "audio/mpeg"} <= mimetypes
    extensions = {item[0] for item in proxy.getAllowedExtensionList(
        {"extension": "ogv"})}
    assert {"webm", "mp4", "mp3"} <= extensions


def test_every_listed_media_target_converts(proxy):
    """Listed => convertible, through the registry: each mimetype offered for
    a video and for an audio source, asked for by mimetype, gives a file of
    that type.  The video is Theora + FLAC, mono at 11025 Hz."""
    sources = ((media_fixtures.ogv_flac_mono_11025(), "ogv", "video/ogg"),
               (media_fixtures.ogg_audio(), "ogg", "audio/ogg"))
    for data, extension, mimetype in sources:
        listed = [item[0] for item in
                  proxy.getAllowedConversionFormatList(mimetype)]
        assert len(listed) == len(set(listed)), listed
        assert listed, mimetype
        for destination in listed:
            output = convert(proxy, data, extension, destination)
            formats, streams = media_fixtures.ffprobe(output)
            assert streams, (destination, formats)
            expect_video = destination.startswith("video/") and (
                mimetype.startswith("video/"))
            assert any(stream.startswith("video:") for stream in streams) \
                == expect_video, (destination, streams)
    extensions = {item[0] for item in proxy.getAllowedExtensionList(
        {"extension": "ogv"})}
    assert {"avi", "flv", "mkv", "mp4", "mpeg", "webm", "mp3", "wav", "mpg",
            "m4v", "3gp", "wmv", "asf", "ts", "aac", "wma"} <= extensions


def test_images(proxy):
    png = media_fixtures.magick_image("rose:", "png")
    jpeg = convert(proxy, png, "png", "jpg")
    assert media_fixtures.identify(jpeg)[0] == "JPEG"
    metadata = proxy.getFileMetadataItemList(b64(png), "png")
    assert metadata["Compression"] == "Zip"
    assert "image/jpeg" in {item[0] for item in
                            proxy.getAllowedConversionFormatList("image/png")}


def test_pdf_text_metadata_and_page_image(proxy):
    pdf = media_fixtures.pdf_document(("First page", "Second page"),
                                      "Fixture PDF")
    assert b"Second page" in convert(proxy, pdf, "pdf", "txt")
    metadata = proxy.getFileMetadataItemList(b64(pdf), "pdf")
    assert (metadata["title"], metadata["pages"]) == ("Fixture PDF", "2")
    updated = unb64(proxy.updateFileMetadata(b64(pdf), "pdf",
                                             {"title": "Retitled"}))
    assert media_fixtures.pdf_pages(updated) == 2
    assert proxy.getFileMetadataItemList(b64(updated), "pdf")["title"] == \
        "Retitled"
    assert convert(proxy, pdf, "pdf", "png").startswith(b"\x89PNG")
    odg = convert(proxy, pdf, "pdf", "odg")  # other targets: LibreOffice
    assert odg[:2] == b"PK"


def test_bad_media_get_faults(proxy):
    video = media_fixtures.ogv_video()
    # (call, the one fault code it gets): 3 unsupported format,
    # 4 the tool could not convert.
    for call, code in (
            (lambda: proxy.convertFile(b64(video), "ogv", "xyz"), 3),
            (lambda: proxy.convertFile(b64(video[:200]), "ogv", "webm"), 4),
            (lambda: proxy.convertFile(b64(os.urandom(2000)), "png", "jpg"),
             4),
            (lambda: proxy.convertFile(b64(b"%PDF-1.4 broken"), "pdf",
                                       "txt"), 4)):
        with pytest.raises(xmlrpc.client.Fault) as caught:
            call()
        assert caught.value.faultCode == code, caught.value.faultString


def test_corpus_media(proxy, corpus):
    metadata = proxy.getFileMetadataItemList(
        b64((corpus / "test.ogv").read_bytes()), "ogv")
    assert metadata["Encoder"] == "Lavf52.64.2"
    jpeg = convert(proxy, (corpus / "test.png").read_bytes(), "png", "jpg")
    assert jpeg.startswith(b"\xff\xd8\xff")
    pdf_metadata = proxy.getFileMetadataItemList(
        b64((corpus / "test.pdf").read_bytes()), "pdf")
    assert pdf_metadata["title"] == "Free Cloud Alliance Presentation"
    formats, _streams = media_fixtures.ffprobe(convert(
        proxy, (corpus / "test.ogg").read_bytes(), "ogg", "mp3"))
    assert formats == ["mp3"]
