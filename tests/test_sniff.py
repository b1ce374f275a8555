"""What a document is, from its bytes (no LibreOffice needed)."""

import gzip
import os

import pytest

from cloudooo.handler.ooo import sniff
from tests import documents, odt_fixtures

FLAT_ODT = documents.fodt()
OOXML = documents.docx_with_external_image("media/x.png")


@pytest.mark.parametrize("data, kind", [
    (odt_fixtures.package({"content.xml": "<x/>"}), sniff.ODF),
    (odt_fixtures.package({"content.xml": "<x/>"},
                          "application/vnd.oasis.opendocument.spreadsheet"),
     sniff.ODF),
    (OOXML, sniff.OOXML),
    (documents.zip_of({"notes.txt": "hello"}), sniff.ZIP),
    # A mimetype member that is not ODF's makes no ODF package.
    (documents.zip_of({"mimetype": "application/epub+zip"}), sniff.ZIP),
    (b"PK\x03\x04 truncated", sniff.ZIP),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, sniff.OLE2),
    (b"{\\rtf1 hello}", sniff.RTF),
    (b"\xef\xbb\xbf {\\rtf1 hello}", sniff.RTF),
    (b"%PDF-1.7\n", sniff.PDF),
    (FLAT_ODT, sniff.MARKUP),
    (b"\xef\xbb\xbf" + FLAT_ODT, sniff.MARKUP),
    (FLAT_ODT.decode().encode("utf-16"), sniff.MARKUP),
    (b"\n  <p>an HTML fragment</p>", sniff.MARKUP),
    (b"<svg><image href='x'/></svg>", sniff.MARKUP),
    (b"just text", sniff.OTHER),
    (os.urandom(64).replace(b"<", b"x").replace(b"PK", b"x") + b"!",
     sniff.OTHER),
    (gzip.compress(b"<svg/>"), sniff.OTHER),
    (b"", sniff.OTHER),
])
def test_kinds(tmp_path, data, kind):
    assert sniff.sniff_bytes(data) == kind
    path = tmp_path / "document.bin"
    path.write_bytes(data)
    assert sniff.sniff_file(str(path)) == kind


def test_office_kinds_are_what_libreoffice_detects():
    assert sniff.OFFICE_KINDS == {sniff.ODF, sniff.OOXML, sniff.OLE2,
                                  sniff.RTF, sniff.PDF}


def test_a_zip_announcing_too_many_members_is_not_opened(monkeypatch):
    monkeypatch.setattr("cloudooo.handler.ooo.boundedzip.MAX_MEMBERS", 10)
    files = {"f%d" % index: "" for index in range(9)}
    assert sniff.sniff_bytes(odt_fixtures.package(files)) == sniff.ODF
    files["one more"] = ""
    assert sniff.sniff_bytes(odt_fixtures.package(files)) == sniff.ZIP


def test_is_markup():
    assert sniff.is_markup(b"\xef\xbb\xbf\n<?xml version='1.0'?><a/>")
    assert sniff.is_markup("<a/>".encode("utf-16-le"))
    assert not sniff.is_markup(b"text <a/>")
