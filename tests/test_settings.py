"""Configuration parsing: every key typed, mistakes named."""

import pytest

from cloudooo.errors import ConfigurationError
from cloudooo.settings import Settings


def test_defaults_and_conversions(tmp_path):
    settings = Settings.from_config({"here": "/x"}, {
        "working_path": str(tmp_path), "office_pool_size": "3",
        "enable_memory_monitor": "yes", "timeout_response": "2.5",
        "env-LANG": "C.UTF-8",
        "ooo_disable_filter_name_list": "\nWord 97–2003\nRich Text\n",
        "mimetype_registry": "\n text/* * ooo\n image/* image/* imagemagick"})
    assert settings.office_pool_size == 3
    assert settings.enable_memory_monitor is True
    assert settings.timeout_response == 2.5
    assert settings.env == {"LANG": "C.UTF-8"}
    assert settings.ooo_disable_filter_name_list == ["Word 97–2003",
                                                     "Rich Text"]
    assert settings.mimetype_registry == [
        ("text/*", "*", "ooo"), ("image/*", "image/*", "imagemagick")]
    assert settings.tmp_path == str(tmp_path / "tmp")
    assert settings.queue_timeout == 60.0  # a default


@pytest.mark.parametrize("key, value, words", [
    ("office_pool_size", "0", "office_pool_size"),
    ("office_pool_size", "two", "office_pool_size"),
    ("enable_memory_monitor", "maybe", "enable_memory_monitor"),
    ("openoffice_port", "70000", "openoffice_port"),
    ("timeout_response", "-1", "timeout_response"),
    ("mimetype_registry", "text/* ooo", "mimetype_registry"),
    ("limit_memory_usd", "10", "limit_memory_usd"),
])
def test_mistakes_name_the_key(tmp_path, key, value, words):
    with pytest.raises(ConfigurationError) as caught:
        Settings(working_path=str(tmp_path), **{key: value})
    assert words in str(caught.value)


def test_working_path_is_required():
    with pytest.raises(ConfigurationError, match="working_path"):
        Settings()


def test_port_range_must_fit(tmp_path):
    with pytest.raises(ConfigurationError, match="office_pool_size"):
        Settings(working_path=str(tmp_path), openoffice_port=65535,
                 office_pool_size=2)
