"""The mimetype registry: first match wins, destination optional."""

import pytest

from cloudooo.errors import ConfigurationError, UnsupportedFormat
from cloudooo.handler.base import Handler
from cloudooo.registry import HandlerRegistry


class NamedHandler(Handler):
    def __init__(self, name):
        super().__init__(None)
        self.name = name


@pytest.fixture
def registry():
    handlers = {name: NamedHandler(name) for name in ("ooo", "pdf", "im")}
    return HandlerRegistry([("application/pdf", "text/*", "pdf"),
                            ("application/pdf", "*", "ooo"),
                            ("image/*", "image/*", "im"),
                            ("text/*", "*", "ooo")], handlers)


def test_first_match_wins(registry):
    assert registry.handler_for("pdf", "txt").name == "pdf"
    assert registry.handler_for("pdf", "odt").name == "ooo"
    assert registry.handler_for("png", "jpg").name == "im"


def test_without_destination_only_the_source_counts(registry):
    assert registry.handler_for("pdf").name == "pdf"
    assert registry.handler_for("csv").name == "ooo"


def test_unknown_and_unrouted(registry):
    with pytest.raises(UnsupportedFormat, match="xyz"):
        registry.handler_for("xyz", "pdf")
    with pytest.raises(UnsupportedFormat, match="png to mp3"):
        registry.handler_for("png", "mp3")


def test_bad_rules_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="nosuch"):
        HandlerRegistry([("text/*", "*", "nosuch")], {"ooo": None})
    with pytest.raises(ConfigurationError, match="no rules"):
        HandlerRegistry([], {"ooo": None})
