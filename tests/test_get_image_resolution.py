"""getImage's ``resolution``: honoured where LibreOffice renders the
picture, a clear Fault 2 where a conversion would ignore it; a picture
returned as stored comes back as it is."""

import struct
import xmlrpc.client

import pytest

from tests import odt_fixtures
from tests.server import b64, unb64

# 96x48 CSS pixels: at LibreOffice's 96 dpi about that many pixels.
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="96px" height="48px" '
       b'viewBox="0 0 96 48"><rect width="96" height="48" fill="#c03030"/>'
       b'</svg>')


def png_size(data):
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def pictures_odt():
    return b64(odt_fixtures.build_odt(
        odt_fixtures.plain_image("shape.svg") +
        odt_fixtures.plain_image("raster.png"),
        pictures={"shape.svg": SVG,
                  "raster.png": odt_fixtures.png((1, 2, 3), 8, 4)}))


def test_resolution_scales_a_rendered_picture(proxy, pictures_odt):
    natural = png_size(unb64(proxy.getImage(pictures_odt, "shape.svg",
                                            "odt", "png")))
    half = png_size(unb64(proxy.getImage(pictures_odt, "shape.svg", "odt",
                                         "png", 48)))
    double = png_size(unb64(proxy.getImage(pictures_odt, "shape.svg", "odt",
                                           "png", 192)))
    assert half == tuple(round(side / 2) for side in natural)
    assert double == tuple(side * 2 for side in natural)


@pytest.mark.parametrize("image_format", [None, "png"])
def test_picture_as_stored_comes_back_whatever_the_resolution(
        proxy, pictures_odt, image_format):
    # Upstream's answer, which ERP5 relies on: nothing is rendered.
    stored = unb64(proxy.getImage(pictures_odt, "raster.png", "odt",
                                  image_format, 48))
    assert png_size(stored) == (8, 4)


def test_resolution_a_conversion_would_ignore_is_refused(proxy,
                                                         pictures_odt):
    # png to jpg is ImageMagick's, which keeps the pixels as they are.
    with pytest.raises(xmlrpc.client.Fault) as caught:
        proxy.getImage(pictures_odt, "raster.png", "odt", "jpg", 48)
    assert caught.value.faultCode == 2, caught.value.faultString
    assert "resolution applies only" in caught.value.faultString


def test_without_resolution_pictures_come_as_before(proxy, pictures_odt):
    stored = unb64(proxy.getImage(pictures_odt, "raster.png", "odt"))
    assert png_size(stored) == (8, 4)
    jpeg = unb64(proxy.getImage(pictures_odt, "raster.png", "odt", "jpg"))
    assert jpeg.startswith(b"\xff\xd8\xff")
