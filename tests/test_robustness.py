"""Robustness end to end (issue 9, sections 4 to 7): wrong argument types,
stalls, crashes taken for bad documents, SIGHUP with requests in flight,
and a decompression bomb; against a real server and real LibreOffice.
"""

import xmlrpc.client

import pytest

from tests import documents
from tests.server import b64


def fault_of(call):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call()
    return caught.value


# -- wrong argument types (section 7) ---------------------------------------

def wrong_type_calls(proxy, document):
    """(call, name of the wrong argument) for every published method."""
    return [
        (lambda: proxy.convertFile(document, 5, "pdf"), "source_format"),
        (lambda: proxy.convertFile(document, "odt", ["pdf"]),
         "destination_format"),
        (lambda: proxy.convertFile(document, "odt", "pdf", "yes"), "zip"),
        (lambda: proxy.convertFile(document, "odt", "pdf", False, 7),
         "refresh"),
        (lambda: proxy.convertFile(document, "odt", "pdf", False, False,
                                   "x"), "conversion_kw"),
        (lambda: proxy.convertFile(5, "odt", "pdf"), "file"),
        (lambda: proxy.getFileMetadataItemList(document, "odt", "yes"),
         "base_document"),
        (lambda: proxy.updateFileMetadata(document, "odt", ["Title"]),
         "metadata_dict"),
        (lambda: proxy.updateFileMetadata(document, "odt",
                                          {"Title": {"a": 1}}),
         "metadata_dict['Title']"),
        (lambda: proxy.getAllowedExtensionList({"extension": ["odt"]}),
         "request_dict['extension']"),
        (lambda: proxy.getAllowedExtensionList({"mimetype": 5}),
         "request_dict['mimetype']"),
        (lambda: proxy.getAllowedExtensionList("odt"), "request_dict"),
        (lambda: proxy.getAllowedConversionFormatList(5), "source_mimetype"),
        (lambda: proxy.getTableItemList(document, 5), "source_format"),
        (lambda: proxy.getTable(document, 5), "table_id"),
        (lambda: proxy.getColumnItemList(document, ["x"]), "table_id"),
        (lambda: proxy.getLineItemList(document, {}), "table_id"),
        (lambda: proxy.getImageItemList(True), "data"),
        (lambda: proxy.getImage(document, 3), "image_id"),
        (lambda: proxy.getImage(document, "a.png", "odt", 5), "format"),
        (lambda: proxy.getParagraphItemList(document, None),
         "source_format"),
        (lambda: proxy.getParagraph(document, "0"), "paragraph_id"),
        (lambda: proxy.getChapterItemList(document, 1.5), "source_format"),
        (lambda: proxy.getChapterItem("1", document), "chapter_id"),
        (lambda: proxy.convertFile(document), "destination_format"),
    ]


def legacy_wrong_type_calls(proxy, document):
    return [
        (lambda: proxy.run_convert(None, document), "filename"),
        (lambda: proxy.run_convert("a.odt", 5), "data"),
        (lambda: proxy.run_setmetadata("a.odt", document, "Title"), "meta"),
        (lambda: proxy.run_getmetadata("a.odt", document, None, 5),
         "extension"),
        (lambda: proxy.run_generate("a.odt", document, None, 5,
                                    documents.ODT_MIMETYPE), "extension"),
        (lambda: proxy.run_generate("a.odt", document, None, "pdf", 5),
         "orig_format"),
        (lambda: proxy.getAllowedTargetItemList(5), "content_type"),
        (lambda: proxy.run_convert("a", "b", None, None, None, "extra"),
         "too many"),
    ]


def test_wrong_argument_types_get_fault_2_naming_the_argument(server):
    proxy = server.proxy()
    document = b64(documents.fodt(text="typed"))
    tracebacks_before = server.log().count("Traceback")
    for call, argument in wrong_type_calls(proxy, document):
        fault = fault_of(call)
        assert fault.faultCode == 2, (argument, fault.faultString)
        assert argument in fault.faultString, fault.faultString
    for call, argument in legacy_wrong_type_calls(proxy, document):
        status, response, message = call()
        assert (status, response) == (402, {}), (argument, message)
        assert argument in message.splitlines()[-1], message
        assert message.splitlines()[-1].startswith("InvalidRequest:")
    # Client mistakes are no internal errors: nothing logged as one.
    assert server.log().count("Traceback") == tracebacks_before
    # Right types still work, 0/1 flags of old clients included.
    assert proxy.getAllowedExtensionList({"extension": "odt"}) != [("", "")]
    converted = proxy.convertFile(document, "fodt", "odt", 0, 0)
    assert proxy.getParagraphItemList(converted, "odt")
