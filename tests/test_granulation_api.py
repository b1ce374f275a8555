"""Granulation through the server: ODT directly, doc/docx via LibreOffice."""

import xmlrpc.client

import pytest

from tests import documents, odt_fixtures
from tests.server import b64, unb64

PDF_MAGIC = b"%PDF-"


@pytest.fixture(scope="module")
def sample():
    return b64(odt_fixtures.sample_odt())


def test_tables_of_an_odt(proxy, sample):
    assert proxy.getTableItemList(sample, "odt") == [
        ["Prices", "Table 1: Prices of the day"], ["Developers", ""],
        ["Equipes", "Tabela 2: Times de futebol"]]
    assert proxy.getColumnItemList(sample, "Prices", "odt") == [
        [0, "Item"], [1, "Price"]]
    assert proxy.getLineItemList(sample, "Prices", "odt") == [
        ["Item", "Coffee"], ["Price", "1.50"],
        ["Item", "Tea"], ["Price", "1.20"]]


def test_upstream_shapes_clients_rely_on(proxy):
    """COMPAT.md section 6, through XML-RPC."""
    document = b64(odt_fixtures.compat_odt())
    assert proxy.getTableItemList(document, "odt") == [
        ["Prices", "Table 1: Prices table from Mon Restaurant"],
        ["Contacts", "Tabela 2: Soccer Teams"]]
    assert proxy.getLineItemList(document, "Contacts", "odt") == [
        ["Name", "Hugo"], ["Phone", "+55 (22) 8888-8888"],
        ["Email", "hugo@example.com"],
        ["Name", "Rafael"], ["Phone", "+55 (22) 9999-9999"],
        ["Email", "rafael@example.com"]]
    # An uncaptioned copy of a.png comes first: it carries the caption.
    assert proxy.getImageItemList(document, "odt") == [
        ["a.png", "The A picture"], ["a.png", ""],
        ["b.png", "The B picture"], ["b.png", ""], ["c.png", ""]]
    assert proxy.getParagraphItemList(document, "odt")[:2] == [
        [0, "P1"], [1, "Standard"]]
    assert proxy.getParagraph(document, 0, "odt") == ["Bold body text", "P1"]


def test_get_table_is_an_odt_libreoffice_opens(proxy, sample):
    table = unb64(proxy.getTable(sample, "Prices", "odt"))
    assert documents.zip_mimetype(table) == documents.ODT_MIMETYPE
    assert proxy.getTableItemList(b64(table), "odt")[0][0] == "Prices"
    pdf = unb64(proxy.convertFile(b64(table), "odt", "pdf"))
    assert pdf.startswith(PDF_MAGIC)


def test_images(proxy, sample):
    assert proxy.getImageItemList(sample, "odt") == [
        ["avatar.png", ""], ["logo.png", "TioLive Logo"], ["plain.png", ""]]
    stored = unb64(proxy.getImage(sample, "logo.png", "odt"))
    assert stored == odt_fixtures.SAMPLE_PICTURES["logo.png"]
    jpeg = unb64(proxy.getImage(sample, "logo.png", "odt", "jpg"))
    assert jpeg.startswith(b"\xff\xd8\xff")


def test_paragraphs_and_chapters(proxy, sample):
    paragraphs = proxy.getParagraphItemList(sample, "odt")
    assert paragraphs[0] == [0, "Title"]
    assert proxy.getParagraph(sample, 0, "odt") == ["Granulation sample",
                                                    "Title"]
    chapters = proxy.getChapterItemList(sample, "odt")
    assert [title for _index, title in chapters] == [
        "Granulation sample", "Introduction", "Pictures", "Deep level"]
    assert proxy.getChapterItem(1, sample, "odt") == ["Introduction", 1]


@pytest.mark.parametrize("source", ["docx", "doc"])
def test_granulation_of_converted_formats(proxy, sample, source):
    converted = proxy.convertFile(sample, "odt", source)
    tables = proxy.getTableItemList(converted, source)
    assert len(tables) == 3
    assert [column[1] for column in proxy.getColumnItemList(
        converted, tables[0][0], source)] == ["Item", "Price"]
    titles = [title for _index, title in proxy.getChapterItemList(
        converted, source)]
    assert "Introduction" in titles and "Deep level" in titles
    images = proxy.getImageItemList(converted, source)
    assert len(images) == 3


def test_bad_ids_and_bad_documents(proxy, sample):
    for call in (lambda: proxy.getTable(sample, "Nope", "odt"),
                 lambda: proxy.getColumnItemList(sample, "Nope", "odt"),
                 lambda: proxy.getImage(sample, "missing.png", "odt"),
                 lambda: proxy.getParagraph(sample, 999, "odt"),
                 lambda: proxy.getChapterItem(999, sample, "odt")):
        with pytest.raises(xmlrpc.client.Fault) as caught:
            call()
        assert caught.value.faultCode == 6, caught.value.faultString
        assert "not found" in caught.value.faultString
    spreadsheet = proxy.convertFile(b64(documents.fods()), "fods", "ods")
    with pytest.raises(xmlrpc.client.Fault) as caught:
        proxy.getTableItemList(spreadsheet, "ods")
    assert caught.value.faultCode == 3, caught.value.faultString
    assert "cannot be saved in this format" in caught.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as caught:
        proxy.getTableItemList(b64(b"not an odt at all"), "odt")
    assert caught.value.faultCode == 2
