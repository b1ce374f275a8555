"""ImageMagickHandler against the real ImageMagick, pdftoppm included."""

import os
import subprocess
import time
import xmlrpc.client

import pytest

from cloudooo.errors import (
    ConfigurationError, ConversionError, ConversionTimeout,
    UnsupportedFormat)
from cloudooo.handler.imagemagick.handler import (
    ImageMagickHandler, imagemagick_commands, parse_si)
from tests.media_fixtures import (
    corpus_bytes, identify, leftovers, magick_image, make_settings,
    pdf_document, png_bomb, transparent_png)


@pytest.fixture
def handler(settings):
    yield ImageMagickHandler(settings)
    assert leftovers(settings) == [], "temporary files left behind"


def rose_png():
    return magick_image("rose:", "png")


def test_real_imagemagick_is_found():
    convert, identify_ = imagemagick_commands()
    assert os.path.basename(convert[0]) in (
        "magick", "convert-im6.q16", "convert-im6", "convert")
    version = subprocess.run(list(convert) + ["-version"],
                             capture_output=True, text=True).stdout
    assert version.startswith("Version: ImageMagick")


@pytest.mark.parametrize("extension, magick", [
    ("jpg", "JPEG"), ("png", "PNG"), ("gif", "GIF"), ("tiff", "TIFF"),
    ("bmp", "BMP"), ("webp", "WEBP"), ("ppm", "PPM")])
def test_png_to(handler, extension, magick):
    output = handler.convert(rose_png(), "png", extension)
    assert identify(output) == (magick, 70, 46)


def test_gif_to_png_takes_the_first_frame(handler):
    frames = handler.convert(magick_image("logo:", "gif"), "gif", "tiff")
    output = handler.convert(frames, "tiff", "png")
    assert identify(output) == ("PNG", 640, 480)


def test_transparency_becomes_white_in_jpeg(handler):
    output = handler.convert(transparent_png(), "png", "jpg")
    assert mean_brightness(output) > 0.99


def test_pdf_first_page_to_png(handler):
    pdf = pdf_document(["first page", "second page"], "Two pages")
    output = handler.convert(pdf, "pdf", "png")
    magick, width, height = identify(output)
    assert magick == "PNG"
    # US Letter, portrait, rasterised to a 2048-pixel long side.
    assert height == 2048 and width == pytest.approx(2048 * 612 / 792, abs=2)


def test_svg_reading_depends_on_the_build(handler):
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10">'
           b'<rect width="20" height="10" fill="red"/></svg>')
    if "png" in dict(handler.allowed_extensions("svg")):
        assert identify(handler.convert(svg, "svg", "png")) == \
            ("PNG", 20, 10)
    else:
        with pytest.raises(UnsupportedFormat, match="cannot read 'svg'"):
            handler.convert(svg, "svg", "png")


def test_get_metadata(handler, settings):
    metadata = handler.get_metadata(rose_png(), "png")
    assert metadata["Compression"] == "Zip"
    assert metadata["Geometry"].startswith("70x46")
    assert metadata["Mime type"] == "image/png"
    assert metadata["MIMEType"] == "image/png"
    assert "png:IHDR.bit_depth" in metadata["Properties"]
    assert "Filename" not in metadata
    assert settings.tmp_path not in repr(metadata)
    xmlrpc.client.dumps((metadata,), allow_none=False)


def test_get_metadata_base_document(handler):
    data = rose_png()
    assert handler.get_metadata(data, "png", base_document=True)["Data"] \
        == data


def test_set_metadata_is_refused(handler):
    with pytest.raises(UnsupportedFormat,
                       match="setting metadata is not supported for images"):
        handler.set_metadata(rose_png(), "png", {"Comment": "x"})


def test_allowed_formats(handler):
    formats = handler.allowed_conversion_formats("image/png")
    assert ("image/jpeg", "JPEG image") in formats
    assert len(formats) == len(set(formats))
    assert "image/svg+xml" not in dict(formats)
    assert {"jpg", "jpeg", "png", "webp"} <= set(
        dict(handler.allowed_extensions("png")))
    assert "image/png" in dict(handler.allowed_conversion_formats(
        "application/pdf"))
    assert handler.allowed_conversion_formats("video/ogg") == []
    assert handler.allowed_extensions("mvg") == []


# Hostile and broken documents.

MVG = (b"push graphic-context\nviewbox 0 0 640 480\n"
       b"image over 0,0 0,0 'text:/etc/passwd'\npop graphic-context\n")


def test_content_cannot_choose_its_coder(handler):
    with pytest.raises(ConversionError, match="improper image header"):
        handler.convert(MVG, "png", "jpg")


@pytest.mark.parametrize("source_format", ["mvg", "msl", "text", "txt",
                                           "ephemeral", "url", "ps", "xyz"])
def test_dangerous_source_formats_are_unknown(handler, source_format):
    with pytest.raises(UnsupportedFormat):
        handler.convert(MVG, source_format, "png")


def magick_in_handler_env(handler, tmp_path, spec):
    """Run convert by hand in the handler's environment, so as to try input
    specs the handler itself never builds."""
    (tmp_path / "payload").write_bytes(MVG)
    (tmp_path / "rose.png").write_bytes(rose_png())
    output = tmp_path / "out.png"
    argv = list(imagemagick_commands()[0]) + [
        spec.format(dir=tmp_path), "png:%s" % output]
    result = subprocess.run(argv, env=handler.tool_environment(str(tmp_path)),
                            capture_output=True, text=True, timeout=30)
    return result, output.exists()


@pytest.mark.parametrize("spec", [
    "mvg:{dir}/payload", "msl:{dir}/payload", "text:{dir}/payload",
    "http://127.0.0.1:9/x.png", "https://127.0.0.1:9/x.png",
    "ftp://127.0.0.1:9/x.png", "file://{dir}/rose.png",
    "inline:data:image/png;base64,AAAA", "vid:{dir}/rose.png",
    "ps:{dir}/payload", "pdf:{dir}/payload", "rose:", "xc:red", "label:x",
    "@{dir}/payload"])
def test_policy_refuses_dangerous_coders(handler, tmp_path, spec):
    result, written = magick_in_handler_env(handler, tmp_path, spec)
    assert result.returncode != 0
    assert "not allowed by the security policy" in result.stderr
    assert not written


def test_policy_allows_the_offered_coders(handler, tmp_path):
    result, written = magick_in_handler_env(handler, tmp_path,
                                            "png:{dir}/rose.png")
    assert result.returncode == 0, result.stderr
    assert written


def test_declared_giant_is_refused_before_decoding(handler):
    started = time.monotonic()
    with pytest.raises(ConversionError, match="12000x12000 pixels.*"
                       "imagemagick_area_limit"):
        handler.convert(png_bomb(12000, 12000, rows=10), "png", "jpg")
    # Wider than ImageMagick's own width policy: identify itself refuses.
    with pytest.raises(ConversionError, match="exceed a resource limit"):
        handler.convert(png_bomb(30000, 30000, rows=10), "png", "jpg")
    assert time.monotonic() - started < 5


def test_decompression_bomb_is_refused(handler):
    bomb = png_bomb(12000, 12000)  # 144 MP of black in ~140 kB
    assert len(bomb) < 200000
    with pytest.raises(ConversionError, match="imagemagick_area_limit"):
        handler.convert(bomb, "png", "jpg")
    with pytest.raises(ConversionError):
        handler.get_metadata(bomb, "png")


def test_area_limit_comes_from_the_settings(tmp_path):
    settings = make_settings(tmp_path, imagemagick_area_limit="1MP")
    handler = ImageMagickHandler(settings)
    assert identify(handler.convert(rose_png(), "png", "gif"))[0] == "GIF"
    with pytest.raises(ConversionError, match="1MP"):
        handler.convert(png_bomb(1001, 1000), "png", "gif")
    assert leftovers(settings) == []


def test_bad_limit_setting_stops_the_handler(tmp_path):
    with pytest.raises(ConfigurationError, match="imagemagick_area_limit"):
        ImageMagickHandler(make_settings(tmp_path,
                                         imagemagick_area_limit="lots"))
    assert parse_si("128MP", "x") == 128000000
    assert parse_si("256MiB", "x") == 256 * 1024 * 1024


def test_timeout(tmp_path):
    settings = make_settings(tmp_path)
    handler = ImageMagickHandler(settings)
    assert handler.allowed_extensions("png")  # lists formats in time
    settings.tool_timeout = 0.001
    with pytest.raises(ConversionTimeout):
        handler.convert(rose_png(), "png", "jpg")
    assert leftovers(settings) == []


def test_truncated_png(handler):
    with pytest.raises(ConversionError):
        handler.convert(rose_png()[:60], "png", "jpg")


def test_jpeg_named_png(handler):
    jpeg = handler.convert(rose_png(), "png", "jpg")
    with pytest.raises(ConversionError, match="improper image header"):
        handler.convert(jpeg, "png", "gif")


def test_not_a_pdf(handler):
    with pytest.raises(ConversionError):
        handler.convert(b"%PDF-1.4 but nothing else", "pdf", "png")


def test_impossible_target(handler):
    with pytest.raises(UnsupportedFormat, match="xyz"):
        handler.convert(rose_png(), "png", "xyz")
    with pytest.raises(UnsupportedFormat):
        handler.convert(rose_png(), "png", "svg")


# Corpus documents.

def test_corpus_png_to_jpg(handler):
    output = handler.convert(corpus_bytes("test.png"), "png", "jpg")
    assert identify(output) == ("JPEG", 22, 22)


def test_corpus_png_metadata(handler):
    metadata = handler.get_metadata(corpus_bytes("test.png"), "png")
    assert metadata["Geometry"].startswith("22x22")
    assert metadata["Format"].startswith("PNG")


def mean_brightness(data):
    """0 for black to 1 for white."""
    result = subprocess.run(
        list(imagemagick_commands()[0]) + ["jpeg:-", "-format",
                                           "%[fx:mean]", "info:"],
        input=data, capture_output=True, check=True, timeout=30)
    return float(result.stdout)
