"""What counts as an unsafe link, without LibreOffice."""

import pytest

from cloudooo.errors import UnsafeDocument
from cloudooo.handler.ooo import linkcheck


@pytest.mark.parametrize("target", [
    "http://127.0.0.1/x.png", "HTTPS://example.org/a", "ftp://h/f",
    "file:///etc/passwd", "/etc/passwd", "C:\\\\secret.png",
    "../../etc/x.png", "Pictures/../../../x.png", "smb://host/share",
    "vnd.sun.star.expand:$HOME/x"])
def test_unsafe(target):
    assert linkcheck.is_unsafe_reference(target)


@pytest.mark.parametrize("target", [
    "Pictures/a.png", "./Object 1", "red.png", "images/x.gif", "#anchor",
    "data:image/png;base64,AAAA", "../Pictures/a.png", ""])
def test_safe(target):
    assert not linkcheck.is_unsafe_reference(target)


def test_hyperlinks_are_not_fetched_so_they_pass():
    linkcheck.check_html(b'<a href="http://example.org/">site</a>')
    linkcheck.check_xml(
        b'<r xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        b'xmlns:xlink="http://www.w3.org/1999/xlink"><text:a '
        b'xlink:href="http://example.org/">x</text:a></r>', "content.xml")


@pytest.mark.parametrize("html", [
    b'<img src="http://h/x.png">', b'<link rel="stylesheet" href="//h/s">',
    b'<p style="background: url(http://h/b.png)">x</p>',
    b'<style>@import "http://h/s.css";</style>',
    b'<img srcset="a.png 1x, http://h/b.png 2x">',
    b'<iframe src="file:///etc/passwd"></iframe>'])
def test_html_fetches_are_refused(html):
    with pytest.raises(UnsafeDocument, match="^This document contains "
                                             "unsafe links"):
        linkcheck.check_html(html)


@pytest.mark.parametrize("svg", [
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org'
    b'/1999/xlink"><image xlink:href="http://h/x.png"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/x"/>'
    b'</svg>'])
def test_svg_images_outside_are_refused(tmp_path, svg):
    path = tmp_path / "f.svg"
    path.write_bytes(svg)
    with pytest.raises(UnsafeDocument):
        linkcheck.check_document(str(path), "svg")


def test_svg_links_for_the_reader_pass(tmp_path):
    path = tmp_path / "f.svg"
    path.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><a href="'
                     b'http://example.org/"><rect width="1" height="1"/>'
                     b'</a></svg>')
    linkcheck.check_document(str(path), "svg")


def test_word_and_rtf_fields(tmp_path):
    rtf = tmp_path / "f.rtf"
    rtf.write_bytes(b'{\\rtf1{\\field{\\*\\fldinst INCLUDEPICTURE '
                    b'"http://h/x.png" }{\\fldrslt x}}}')
    with pytest.raises(UnsafeDocument):
        linkcheck.check_document(str(rtf), "rtf")
    harmless = tmp_path / "g.rtf"
    harmless.write_bytes(b"{\\rtf1 the word LINK http://h/ in text}")
    linkcheck.check_document(str(harmless), "rtf")
