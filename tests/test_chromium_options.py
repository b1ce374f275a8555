"""conversion_kw for HTML -> PDF, and the registry rule condition that
routes html -> pdf to Chromium only when conversion_kw is given."""

import base64
from fnmatch import fnmatchcase

import pytest

from cloudooo.errors import ConfigurationError, InvalidRequest
from cloudooo.handler.base import Handler
from cloudooo.handler.chromium.options import (SUPPORTED_KEYS, PrintOptions,
                                               header_html)
from cloudooo.registry import HandlerRegistry
from cloudooo.settings import Settings


def test_defaults_are_wkhtmltopdfs():
    options = PrintOptions({})
    arguments = options.pdf_arguments()
    assert (arguments["width"], arguments["height"]) == ("210mm", "297mm")
    assert arguments["margin"] == dict.fromkeys(
        ("top", "bottom", "left", "right"), "10mm")
    assert arguments["landscape"] is False
    assert arguments["print_background"] is True
    assert arguments["outline"] is False
    assert "header_template" not in arguments
    assert options.enable_javascript is False
    assert options.print_media_type is False


@pytest.mark.parametrize("value, length", [
    ("20mm", "20mm"), ("2cm", "2cm"), ("1in", "1in"), ("96px", "96px"),
    ("1.5 CM", "1.5cm"), (15, "15mm"), ("7.5", "7.5mm"), (0, "0mm")])
def test_margins_take_the_four_units(value, length):
    assert PrintOptions({"margin_left": value}).margins["left"] == length


@pytest.mark.parametrize("conversion_kw, message", [
    ({"margin_top": "2pt"}, "margin_top must be a length"),
    ({"margin_top": True}, "margin_top must be a length"),
    ({"margin_top": "-3mm"}, "margin_top must be a length"),
    ({"page_size": "A11"}, "unknown page_size"),
    ({"page_width": "10cm"}, "go together"),
    ({"orientation": "upside"}, "Portrait or Landscape"),
    ({"zoom": "big"}, "zoom must be a number"),
    ({"zoom": 0}, "zoom must be a number"),
    ({"javascript_delay": -1}, "javascript_delay"),
    ({"toc": "perhaps"}, "toc must be true or false"),
    ({"encoding": "klingon-8"}, "unknown encoding"),
    ({"title": 3}, "title must be a string"),
    ({"header_html_data": "%%%"}, "header_html_data must be base64"),
    ({"footer_left": "x", "footer_html_data": "PHA+"}, "either"),
    ({"wkhtmltopdf_option": 1}, "unsupported key(s) wkhtmltopdf_option"),
])
def test_bad_values_are_invalid_requests(conversion_kw, message):
    with pytest.raises(InvalidRequest) as caught:
        PrintOptions(conversion_kw)
    assert message in str(caught.value)
    assert caught.value.fault_code == 2


def test_unknown_keys_list_every_supported_one():
    with pytest.raises(InvalidRequest) as caught:
        PrintOptions({"b": 1, "a": 2})
    assert "unsupported key(s) a, b" in str(caught.value)
    for key in SUPPORTED_KEYS:
        assert key in str(caught.value)


def test_page_sizes_by_name_and_orientation():
    options = PrintOptions({"page_size": "letter", "orientation":
                            "Landscape"})
    arguments = options.pdf_arguments()
    assert (arguments["width"], arguments["height"]) == ("215.9mm",
                                                         "279.4mm")
    assert arguments["landscape"] is True
    options = PrintOptions({"page_width": "4in", "page_height": 100})
    assert (options.width, options.height) == ("4in", "100mm")


def test_none_is_a_key_not_given():
    options = PrintOptions({"toc": None, "margin_top": None, "title": None,
                            "encoding": None})
    assert options.toc is False and options.margins["top"] == "10mm"
    assert options.title is None and options.encoding is None
    with pytest.raises(InvalidRequest, match="unsupported key"):
        PrintOptions({"bogus": None})


def test_booleans_as_erp5_may_send_them():
    assert PrintOptions({"toc": "True", "outline": 1}).toc is True
    options = PrintOptions({"background": "false", "grayscale": "yes"})
    assert options.background is False and options.grayscale is True
    assert options.pdf_arguments()["print_background"] is False


def test_header_html_of_wkhtmltopdf_becomes_a_chromium_template():
    page = b"""<html><head><style>.h { color: red }</style>
    <script>function subst() {}</script></head><body onload="subst()">
    <div class="h">Page <span class="page"></span> of
    <span class="topage"></span> [page]/[topage]</div></body></html>"""
    template = header_html(page.decode())
    assert "<script" not in template and "subst()" not in template
    assert '<span class="page pageNumber"></span>' in template
    assert '<span class="topage totalPages"></span>' in template
    assert '<span class="pageNumber"></span>/<span class="totalPages">' \
        in template
    assert ".h { color: red }" in template


def test_text_headers_escape_their_text_and_fill_placeholders():
    options = PrintOptions({"footer_left": "<b>a & b</b>",
                            "footer_right": "[page] of [topage]",
                            "header_center": "[title]", "title": "T<1>"})
    assert "&lt;b&gt;a &amp; b&lt;/b&gt;" in options.footer_template
    assert '<span class="pageNumber"></span> of <span class="totalPages">' \
        in options.footer_template
    assert "T&lt;1&gt;" in options.header_template
    arguments = options.pdf_arguments()
    assert arguments["display_header_footer"] is True


def test_header_html_data_may_come_as_binary():
    class Binary:
        data = b"<p>binary header</p>"
    options = PrintOptions({"header_html_data": Binary()})
    assert "binary header" in options.header_template
    encoded = base64.encodebytes(b"<p>text header</p>").decode()
    assert "text header" in PrintOptions(
        {"header_html_data": encoded}).header_template


# -- routing ------------------------------------------------------------------

class NamedHandler(Handler):
    def __init__(self, name, writes="*", converts_only=False):
        super().__init__(None)
        self.name = name
        self.writes = writes
        self.converts_only = converts_only

    def can_write(self, source_mimetype, destination_mimetype):
        return fnmatchcase(destination_mimetype, self.writes)


@pytest.fixture
def handlers():
    return {"ooo": NamedHandler("ooo"),
            "chromium": NamedHandler("chromium", "application/pdf",
                                     converts_only=True)}


def test_if_conversion_kw_rule_applies_only_with_conversion_kw(handlers):
    registry = HandlerRegistry([
        ("text/html", "application/pdf", "chromium", "if-conversion-kw"),
        ("text/*", "*", "ooo")], handlers)
    assert registry.handler_for("html", "pdf").name == "ooo"
    assert registry.handler_for("html", "pdf", {}).name == "ooo"
    assert registry.handler_for("html", "pdf",
                                {"page_size": "A4"}).name == "chromium"
    assert registry.handler_for("html", "odt",
                                {"page_size": "A4"}).name == "ooo"
    # Everyone else still reads three words per rule.
    assert registry.rules[0] == ("text/html", "application/pdf", "chromium")


def test_unconditional_rule_and_metadata_pass_a_converts_only_handler(
        handlers):
    registry = HandlerRegistry([
        ("text/html", "application/pdf", "chromium"),
        ("text/*", "*", "ooo")], handlers)
    assert registry.handler_for("html", "pdf").name == "chromium"
    # Metadata has no destination: Chromium cannot read it, ooo does.
    assert registry.handler_for("html").name == "ooo"


def test_unknown_condition_is_a_configuration_error(tmp_path, handlers):
    with pytest.raises(ConfigurationError, match="if-sunny"):
        Settings(working_path=str(tmp_path), mimetype_registry=
                 "text/html application/pdf chromium if-sunny")
    with pytest.raises(ConfigurationError, match="if-sunny"):
        HandlerRegistry([("text/html", "*", "chromium", "if-sunny")],
                        handlers)
    settings = Settings(working_path=str(tmp_path), mimetype_registry=
                        "text/html application/pdf chromium "
                        "if-conversion-kw\ntext/* * ooo")
    assert settings.mimetype_registry[0][3] == "if-conversion-kw"
