"""PDFHandler against the real poppler tools and pypdf."""

import xmlrpc.client

import pytest

from cloudooo.errors import (
    ConversionError, ConversionTimeout, InvalidRequest, UnsupportedFormat)
from cloudooo.handler.pdf.handler import PDFHandler
from tests.media_fixtures import (
    corpus_bytes, leftovers, make_settings, pdf_document, pdf_pages)

PAGES = ["Hello cloudooo, page one", "Caf\xe9 cr\xe8me, page two"]
TITLE = "Known fixture title"


@pytest.fixture
def handler(settings):
    yield PDFHandler(settings)
    assert leftovers(settings) == [], "temporary files left behind"


def fixture_pdf():
    return pdf_document(PAGES, TITLE)


def test_pdf_to_text(handler):
    text = handler.convert(fixture_pdf(), "pdf", "txt").decode("utf-8")
    assert PAGES[0] in text
    assert PAGES[1] in text  # Latin-1 in the PDF, UTF-8 out
    assert text.count("\f") == 2


def test_other_targets_belong_to_another_handler(handler):
    with pytest.raises(UnsupportedFormat, match="'odt'"):
        handler.convert(fixture_pdf(), "pdf", "odt")
    with pytest.raises(UnsupportedFormat):
        handler.convert(fixture_pdf(), "odt", "txt")


def test_get_metadata(handler):
    metadata = handler.get_metadata(fixture_pdf(), "pdf")
    assert metadata["title"] == TITLE
    assert metadata["producer"] == "cloudooo tests"
    assert metadata["pages"] == "2"
    assert metadata["page size"].startswith("612 x 792 pts")
    assert metadata["MIMEType"] == "application/pdf"
    assert "Data" not in metadata
    xmlrpc.client.dumps((metadata,), allow_none=False)


def test_get_metadata_base_document(handler):
    data = fixture_pdf()
    assert handler.get_metadata(data, "pdf", base_document=True)["Data"] \
        == data


def test_set_metadata_round_trip(handler):
    updated = handler.set_metadata(fixture_pdf(), "pdf", {
        "Title": "Nouveau titre \xe9t\xe9 \u2013 \u4e2d\u6587",
        "subject": "A subject",
        "Keywords": ["one", "two"],
        "pages": "99",
        "MIMEType": "application/pdf",
    })
    metadata = handler.get_metadata(updated, "pdf")
    assert metadata["title"] == "Nouveau titre \xe9t\xe9 \u2013 \u4e2d\u6587"
    assert metadata["subject"] == "A subject"
    assert metadata["keywords"] == "one, two"
    assert metadata["producer"] == "cloudooo tests"
    assert metadata["pages"] == "2"
    assert PAGES[1] in handler.convert(updated, "pdf", "txt").decode()


def test_set_metadata_custom_key_and_date(handler):
    updated = handler.set_metadata(fixture_pdf(), "pdf", {
        "Department": "Docs", "CreationDate": "D:20110120135018+01'00'"})
    metadata = handler.get_metadata(updated, "pdf")
    assert "2011" in metadata["creationdate"]
    assert metadata["title"] == TITLE


def test_set_metadata_refuses_a_date_that_is_not_a_pdf_date(handler):
    with pytest.raises(InvalidRequest, match="PDF date"):
        handler.set_metadata(fixture_pdf(), "pdf",
                             {"creationdate": "Thu Jan 20 12:50:18 2011"})


def test_allowed_formats(handler):
    assert handler.allowed_conversion_formats("application/pdf") == [
        ("text/plain", "Plain Text")]
    assert handler.allowed_extensions("pdf") == [("txt", "Plain Text")]
    assert handler.allowed_conversion_formats("image/png") == []


@pytest.mark.parametrize("call", ["convert", "get_metadata", "set_metadata"])
def test_not_a_pdf(handler, settings, call):
    with pytest.raises(ConversionError) as raised:
        run(handler, call, b"this is no PDF\n" * 50)
    assert settings.tmp_path not in str(raised.value)


@pytest.mark.parametrize("call", ["convert", "get_metadata", "set_metadata"])
def test_truncated_pdf(handler, call):
    data = fixture_pdf()
    with pytest.raises(ConversionError):
        run(handler, call, data[:len(data) // 3])


def test_timeout(tmp_path):
    settings = make_settings(tmp_path, tool_timeout=0.001)
    with pytest.raises(ConversionTimeout):
        PDFHandler(settings).set_metadata(fixture_pdf(), "pdf",
                                          {"title": "x"})
    assert leftovers(settings) == []


# Corpus document.  Its README says 15 pages; the file has 6 (pdfinfo and
# pypdf agree), and the tests hold to the file.

def test_corpus_pdf_metadata(handler):
    metadata = handler.get_metadata(corpus_bytes("test.pdf"), "pdf")
    assert metadata["title"] == "Free Cloud Alliance Presentation"
    assert metadata["pages"] == "6"
    assert metadata["creator"] == "Impress"


def test_corpus_pdf_text(handler):
    text = handler.convert(corpus_bytes("test.pdf"), "pdf", "txt")
    assert "UNG Docs Architecture" in text.decode("utf-8")


def test_corpus_pdf_set_metadata_keeps_every_page(handler):
    data = corpus_bytes("test.pdf")
    updated = handler.set_metadata(data, "pdf", {"title": "Set Metadata"})
    assert pdf_pages(updated) == pdf_pages(data) == 6
    metadata = handler.get_metadata(updated, "pdf")
    assert metadata["title"] == "Set Metadata"
    assert metadata["creator"] == "Impress"


def run(handler, call, data):
    if call == "convert":
        return handler.convert(data, "pdf", "txt")
    if call == "get_metadata":
        return handler.get_metadata(data, "pdf")
    return handler.set_metadata(data, "pdf", {"title": "x"})
