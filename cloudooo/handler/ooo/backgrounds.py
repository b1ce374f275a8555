"""Tiny background images of HTML pages enlarged before LibreOffice sees them.

LibreOffice (7.4) paints a repeated background image tile by tile, in the
layout and again in every export.  A 1x1 pixel image, a common way to paint a
colour or a shade from CSS, means about a million tiles per page: a 236-byte
page whose ``<body>`` has a transparent 1x1 PNG background keeps soffice busy
for the whole ``timeout_response`` (measured: more than 180 s at 100% of a
core; the same image opaque takes 6 s and makes a 3 MB PDF).  Retiled to at
least ``MIN_TILE_PIXELS`` on each side, the same background looks the same
and costs a few hundred tiles: the page converts in about a second.

Only images used as backgrounds are touched (CSS ``background`` and
``background-image``, the HTML ``background`` attribute): a 1x1 ``<img>``
spacer keeps its size, which layouts depend on.  Images given as ``data:``
URIs are rewritten in the page; for a zipped page, image files its pages or
stylesheets name as backgrounds are rewritten in place.
"""

import base64
import binascii
import io
import logging
import os
import re
import warnings

from PIL import Image

logger = logging.getLogger(__name__)

MIN_TILE_PIXELS = 64
# A retiled image is never larger than this (a 1x4096 strip stays as it is:
# it is not the tiny tile that hurts).
MAX_RETILED_PIXELS = 256 * 256
# Retiling costs a millisecond or so: a page naming thousands of tiny
# backgrounds must not make the server spin; past this, they stay as sent.
MAX_RETILED_IMAGES = 100
# How far before a URL we look for the CSS property or attribute using it.
CONTEXT_BYTES = 256

DATA_IMAGE_URI = re.compile(
    rb"data:image/[a-z.+-]*;base64,([A-Za-z0-9+/=\s]{4,})", re.IGNORECASE)
DATA_URI_START = re.compile(rb"data:", re.IGNORECASE)
# What a background URL is preceded by: ``background(-image): ... url(`` in
# CSS, or ``background=`` as an HTML attribute.
BACKGROUND_BEFORE = re.compile(
    rb"(?:\bbackground(?:-image)?\s*:[^;{}<>]*?\burl\(\s*[\"']?"
    rb"|\bbackground\s*=\s*[\"']?)\Z", re.IGNORECASE)
BACKGROUND_FILE_URL = re.compile(
    rb"(?:\bbackground(?:-image)?\s*:[^;{}<>]*?\burl\(\s*[\"']?"
    rb"|\bbackground\s*=\s*[\"']?)([^\"')\s>]+)", re.IGNORECASE)
TEXT_MEMBER_EXTENSIONS = (".html", ".htm", ".xhtml", ".css")


def retile(image_bytes):
    """PNG bytes of ``image_bytes`` repeated to at least MIN_TILE_PIXELS on
    each side, or None when it is no tiny image (or no image at all)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(image_bytes)) as image:
                width, height = image.size
                if width <= 0 or height <= 0 or (
                        width >= MIN_TILE_PIXELS
                        and height >= MIN_TILE_PIXELS):
                    return None
                across = -(-MIN_TILE_PIXELS // width)
                down = -(-MIN_TILE_PIXELS // height)
                if width * across * height * down > MAX_RETILED_PIXELS:
                    return None
                tile = image.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError, EOFError):
        return None
    canvas = Image.new("RGBA", (width * across, height * down))
    for row in range(down):
        for column in range(across):
            canvas.paste(tile, (column * width, row * height))
    output = io.BytesIO()
    canvas.save(output, "PNG", optimize=False)
    return output.getvalue()


def enlarge_tiny_backgrounds(markup):
    """``markup`` (HTML or CSS bytes) with its tiny ``data:`` background
    images retiled; the same bytes object when there is none."""
    if not DATA_URI_START.search(markup):
        return markup  # no copy of a large page that has none
    changed = []

    def replace(match):
        before = markup[max(0, match.start() - CONTEXT_BYTES):match.start()]
        if len(changed) >= MAX_RETILED_IMAGES or \
                not BACKGROUND_BEFORE.search(before):
            return match.group(0)
        try:
            image_bytes = base64.b64decode(
                re.sub(rb"\s+", b"", match.group(1)), validate=True)
        except (binascii.Error, ValueError):
            return match.group(0)
        retiled = retile(image_bytes)
        if retiled is None:
            return match.group(0)
        changed.append(len(image_bytes))
        return b"data:image/png;base64," + base64.b64encode(retiled)

    result = DATA_IMAGE_URI.sub(replace, markup)
    if changed:
        logger.info("enlarged %d tiny background image(s) before loading",
                    len(changed))
        return result
    return markup


def enlarge_tiny_backgrounds_in_file(path):
    with open(path, "rb") as stream:
        markup = stream.read()
    result = enlarge_tiny_backgrounds(markup)
    if result is not markup:
        with open(path, "wb") as stream:
            stream.write(result)
    return markup


def enlarge_tiny_backgrounds_in_folder(folder):
    """An unpacked zipped page: ``data:`` backgrounds in every page and
    stylesheet, and image files they name as backgrounds, retiled in place.
    Files outside ``folder`` are never touched."""
    root = os.path.realpath(folder)
    retiled_files = set()
    for directory, _subdirectories, names in os.walk(root):
        for name in names:
            if not name.lower().endswith(TEXT_MEMBER_EXTENSIONS):
                continue
            path = os.path.join(directory, name)
            markup = enlarge_tiny_backgrounds_in_file(path)
            for match in BACKGROUND_FILE_URL.finditer(markup):
                if len(retiled_files) >= MAX_RETILED_IMAGES:
                    return
                _retile_file(root, directory, match.group(1), retiled_files)


def _retile_file(root, directory, url, retiled_files):
    try:
        relative = url.decode("utf-8").split("#")[0].split("?")[0]
    except UnicodeDecodeError:
        return
    if not relative or ":" in relative or relative.startswith("/"):
        return  # data: URIs are done; absolute links never pass linkcheck
    path = os.path.realpath(os.path.join(directory, relative))
    if path in retiled_files or not path.startswith(root + os.sep) or \
            not os.path.isfile(path):
        return
    with open(path, "rb") as stream:
        retiled = retile(stream.read(MAX_RETILED_PIXELS * 4 + 1))
    if retiled is not None:
        # Same name, PNG bytes: LibreOffice detects images by content.
        with open(path, "wb") as stream:
            stream.write(retiled)
        retiled_files.add(path)
        logger.info("enlarged a tiny background image file before loading")
