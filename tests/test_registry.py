"""The mimetype registry: first match wins, destination optional."""

from fnmatch import fnmatchcase

import pytest

from cloudooo.errors import ConfigurationError, UnsupportedFormat
from cloudooo.handler.base import Handler
from cloudooo.registry import HandlerRegistry


class NamedHandler(Handler):
    def __init__(self, name, writes="*"):
        super().__init__(None)
        self.name = name
        self.writes = writes

    def can_write(self, source_mimetype, destination_mimetype):
        return fnmatchcase(destination_mimetype, self.writes)


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


def test_a_rule_whose_handler_cannot_write_the_destination_is_passed_by():
    handlers = {"im": NamedHandler("im", writes="image/[pgj]*"),
                "ooo": NamedHandler("ooo")}
    registry = HandlerRegistry([("image/*", "image/*", "im"),
                                ("image/*", "*", "ooo")], handlers)
    assert registry.handler_for("png", "jpg").name == "im"
    assert registry.handler_for("png", "svg").name == "ooo"
    assert registry.handler_for("png", "pdf").name == "ooo"
    # Without a destination (metadata) the first source match still wins.
    assert registry.handler_for("png").name == "im"
    assert registry.routed_handlers() == [handlers["im"], handlers["ooo"]]
