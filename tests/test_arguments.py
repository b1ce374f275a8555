"""Argument checking on its own (cloudooo.arguments); the published
methods' use of it is tested end to end in test_robustness.py."""

from typing import Dict, List, Optional, Union

import pytest
import xmlrpc.client

from cloudooo.arguments import checked, mismatch
from cloudooo.errors import InvalidRequest


def test_plain_types_and_xmlrpc_names_in_messages():
    assert mismatch("odt", str, "source_format") is None
    assert mismatch(5, str, "source_format") == \
        "source_format must be a string, not int"
    assert mismatch(["a"], dict, "meta") == "meta must be a struct, not array"
    assert mismatch(xmlrpc.client.Binary(b"x"), str, "file") == \
        "file must be a string, not base64 (Binary)"


def test_bool_takes_0_and_1_and_int_refuses_bool():
    assert mismatch(True, bool, "zip") is None
    assert mismatch(1, bool, "zip") is None
    assert mismatch(2, bool, "zip") == "zip must be a boolean, not int"
    assert mismatch(True, int, "paragraph_id") == \
        "paragraph_id must be an int, not boolean"
    assert mismatch(3, float, "resolution") is None


def test_optional_and_unions():
    assert mismatch(None, Optional[str], "extension") is None
    assert mismatch(4, Optional[str], "extension") == \
        "extension must be a string or nil, not int"
    assert mismatch(2.5, Union[int, float, str], "resolution") is None


def test_containers_name_the_wrong_item():
    request_dict = Optional[Dict[str, Optional[str]]]
    assert mismatch({"extension": "odt"}, request_dict, "request_dict") \
        is None
    assert mismatch({"extension": ["odt"]}, request_dict, "request_dict") \
        == "request_dict['extension'] must be a string or nil, not array"
    assert mismatch([1, "a", None], List[Union[int, str]], "keywords") == \
        "keywords[2] must be an int or a string, not nil"


def test_checked_binds_the_signature_and_checks_what_was_sent():
    calls = []

    @checked
    def convert(file: str, source_format: str, zip: bool = False,
                meta: Optional[dict] = None):
        calls.append((file, source_format, zip, meta))
        return "done"

    assert convert("data", "odt") == "done"
    assert convert("data", "odt", 1, {"a": 1}) == "done"
    with pytest.raises(InvalidRequest) as caught:
        convert("data")
    assert str(caught.value).startswith("convert: wrong arguments")
    assert "convert(file, source_format, zip=False, meta=None)" in \
        str(caught.value)
    with pytest.raises(InvalidRequest) as caught:
        convert("data", "odt", False, None, "extra")
    assert "too many" in str(caught.value)
    with pytest.raises(InvalidRequest) as caught:
        convert("data", source_format=7)
    assert str(caught.value) == \
        "convert: source_format must be a string, not int"
    assert len(calls) == 2  # refused calls never ran
