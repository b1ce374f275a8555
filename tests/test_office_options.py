"""Operator switches of the office handler: scripting, disabled filters."""

import xmlrpc.client

import pytest

from tests import documents
from tests.server import b64, unb64
from tests.test_compat_lists import EXPECTED_BY_KIND

SCRIPT = "document.getText().setString('written by the script')"


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    from tests.server import ServerProcess
    server = ServerProcess(tmp_path_factory.mktemp("options"),
                           office_pool_size=1, ooo_enable_scripting="true",
                           ooo_disable_filter_list="MS Word 97",
                           ooo_disable_filter_name_list="Rich Text").start()
    yield server
    assert server.stop() == []


def test_scripts_run_when_enabled(configured):
    text = unb64(configured.proxy().convertFile(
        b64(documents.fodt()), "fodt", "txt", False, False,
        {"script": SCRIPT}))
    assert b"written by the script" in text


def test_disabled_filters_are_not_offered(configured):
    proxy = configured.proxy()
    extensions = {item[0] for item in proxy.getAllowedExtensionList(
        {"extension": "odt"})}
    assert "doc" not in extensions and "rtf" not in extensions
    assert "docx" in extensions
    # The operator's lists add to the built-in exclusions (DocBook, XHTML,
    # Text, templates...), never replace them.
    assert [tuple(pair) for pair in proxy.getAllowedExtensionList(
        {"document_type": "text"})] == [
        pair for pair in EXPECTED_BY_KIND["text"]
        if pair[0] not in ("doc", "rtf")]
    for destination in ("doc", "rtf"):
        with pytest.raises(xmlrpc.client.Fault) as caught:
            proxy.convertFile(b64(documents.fodt()), "fodt", destination)
        assert caught.value.faultCode == 3
