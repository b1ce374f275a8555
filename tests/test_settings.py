"""Configuration parsing: every key typed, mistakes named."""

import re
from pathlib import Path

import pytest

from cloudooo.errors import ConfigurationError
from cloudooo.ops.preflight import check_settings
from cloudooo.settings import HANDLER_NAMES, SETTINGS_BY_NAME, Settings


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


def test_imagemagick_sizes_are_read_with_the_settings(tmp_path):
    """Refused with the other mistakes, before any handler exists; kept
    as written for ImageMagick."""
    with pytest.raises(ConfigurationError) as caught:
        Settings(working_path=str(tmp_path), imagemagick_area_limit="lots")
    assert str(caught.value).startswith("imagemagick_area_limit: cannot "
                                        "read 'lots'")
    settings = Settings(working_path=str(tmp_path),
                        imagemagick_memory_limit=" 1GiB ")
    assert settings.imagemagick_memory_limit == "1GiB"


def test_working_path_is_required():
    with pytest.raises(ConfigurationError, match="working_path"):
        Settings()


def test_port_range_must_fit(tmp_path):
    with pytest.raises(ConfigurationError, match="office_pool_size"):
        Settings(working_path=str(tmp_path), openoffice_port=65535,
                 office_pool_size=2)


def test_misspelt_handler_in_registry_names_it(tmp_path):
    with pytest.raises(ConfigurationError) as caught:
        Settings(working_path=str(tmp_path),
                 mimetype_registry="text/* * oo\nvideo/* * ffmpeg")
    assert "mimetype_registry: unknown handler 'oo'" in str(caught.value)


def test_handler_names_are_the_handler_classes(tmp_path):
    from cloudooo.app import HANDLER_CLASSES
    assert sorted(cls.name for cls in HANDLER_CLASSES) == \
        sorted(HANDLER_NAMES)


def test_a_server_must_route_something(tmp_path):
    settings = Settings.from_config({}, {"working_path": str(tmp_path)})
    assert check_settings(settings) == [
        "mimetype_registry: no rules; nothing could be converted"]


def test_routed_handler_names_in_rule_order(tmp_path):
    settings = Settings(working_path=str(tmp_path), mimetype_registry=(
        "video/* * ffmpeg\ntext/* * ooo\naudio/* * ffmpeg"))
    assert settings.routed_handler_names == ("ffmpeg", "ooo")


SAMPLE_CONF = Path(__file__).resolve().parents[1] / "cloudooo" / "sample" \
    / "sample.conf"
README = Path(__file__).resolve().parents[1] / "README.rst"


def keys_of_sample_conf():
    """Every key the sample sets or shows commented out (``# key = ...``)."""
    keys = set()
    for line in SAMPLE_CONF.read_text().splitlines():
        match = re.match(r"^(?:# )?([a-z][a-z0-9_]*|env-[A-Z]+) *=", line)
        if match:
            keys.add(match.group(1))
    return keys


def test_sample_conf_documents_every_key():
    """README: 'cloudooo/sample/sample.conf documents every key'."""
    assert "sample.conf`` documents every key" in " ".join(
        README.read_text().split())
    documented = keys_of_sample_conf()
    assert [name for name in SETTINGS_BY_NAME if name not in documented] \
        == []


def test_keys_the_readme_names_are_in_the_sample_conf():
    named = set(re.findall(r"``([a-z][a-z0-9_]*)``", README.read_text()))
    settings_named = named & set(SETTINGS_BY_NAME)
    assert len(settings_named) > 20  # the pattern still finds them
    assert sorted(settings_named - keys_of_sample_conf()) == []


def test_sample_conf_loads_as_it_is():
    from cloudooo.ops.preflight import load_settings
    settings = load_settings(str(SAMPLE_CONF))
    assert sorted(settings.routed_handler_names) == sorted(HANDLER_NAMES)
