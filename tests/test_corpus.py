"""Real-world documents from ../shared/corpus (skipped when it is absent).

Checks the facts its README states, through the running server.
"""

import os

import pytest

from tests import documents
from tests.server import b64, unb64

PDF_MAGIC = b"%PDF-"


def convert(proxy, data, source, destination):
    return unb64(proxy.convertFile(b64(data), source, destination))


def test_metadata_of_test_metadata_odt(proxy, corpus):
    data = (corpus / "testMetadata.odt").read_bytes()
    metadata = proxy.getFileMetadataItemList(b64(data), "odt")
    assert metadata["Title"] == "cloudooo Test"
    assert metadata["Subject"] == "Subject Test"
    assert metadata["Description"] == "cloudooo Comments"
    assert metadata["Keywords"] == ["Keywords Test"]
    assert metadata["Type"] == "Text"
    assert metadata["MIMEType"] == documents.ODT_MIMETYPE


@pytest.mark.parametrize("name, destination, check", [
    ("test.odt", "pdf", lambda data: data.startswith(PDF_MAGIC)),
    ("test.doc", "odt", lambda data: documents.zip_mimetype(data) ==
     documents.ODT_MIMETYPE),
    ("test.docx", "pdf", lambda data: data.startswith(PDF_MAGIC)),
    ("test.docx", "odt", lambda data: documents.zip_mimetype(data) ==
     documents.ODT_MIMETYPE),
    ("test.odt", "docx", lambda data: "word/document.xml" in
     documents.zip_names(data)),
    ("test.ods", "xlsx", lambda data: "xl/workbook.xml" in
     documents.zip_names(data)),
    ("test.odp", "pdf", lambda data: data.startswith(PDF_MAGIC)),
    ("test.pptx", "odp", lambda data: documents.zip_mimetype(data) ==
     "application/vnd.oasis.opendocument.presentation"),
    ("test.odg", "pdf", lambda data: data.startswith(PDF_MAGIC)),
])
def test_corpus_conversions(proxy, corpus, name, destination, check):
    data = (corpus / name).read_bytes()
    assert check(convert(proxy, data, name.rsplit(".", 1)[1], destination))


def csv_rows(proxy, data):
    ods = convert(proxy, data, "csv", "ods")
    return convert(proxy, ods, "ods", "csv").decode("utf-8").splitlines()


def test_csv_ascii(proxy, corpus):
    assert csv_rows(proxy, (corpus / "csv_ascii.csv").read_bytes()) == \
        ["test,1234"]


def test_csv_utf8(proxy, corpus):
    raw = (corpus / "csv_utf8.csv").read_bytes()
    expected = [line for line in raw.decode("utf-8").splitlines() if line]
    assert csv_rows(proxy, raw) == expected
    assert any(ord(char) > 0x2ff for char in "".join(expected))


def test_csv_latin9(proxy, corpus):
    assert csv_rows(proxy, (corpus / "csv_latin9.csv").read_bytes()) == \
        ["Jérome,1€"]


def test_csv_semicolon_is_not_the_delimiter(proxy, corpus):
    assert csv_rows(proxy, (corpus / "csv_semicolon.csv").read_bytes()) == \
        ["a a,1", "b b,2;x"]


def test_no_leftovers_after_corpus(server, corpus):
    """Converting real documents (each a different input filter) leaves
    nothing in the server's temp dir; the conversions run here, so the test
    means the same alone as after the others."""
    proxy = server.proxy()
    for name, destination in (("test.odt", "pdf"), ("test.doc", "odt"),
                              ("test.docx", "pdf"), ("test.ods", "xlsx"),
                              ("csv_utf8.csv", "ods")):
        assert convert(proxy, (corpus / name).read_bytes(),
                       name.rsplit(".", 1)[1], destination)
    assert os.listdir(server.tmp_path) == []
