"""``conversion_kw`` for HTML -> PDF: upstream's wkhtmltopdf keys, checked
and turned into Chromium's print settings.

Every key is validated here, before the browser sees the request; an
unknown key, or a known one with a wrong value, is an InvalidRequest
(Fault 2) naming the supported keys: nothing is silently ignored.
"""

import base64
import binascii
import codecs
import html
import re

from lxml import etree, html as lxml_html

from cloudooo.errors import InvalidRequest

# Paper sizes by name, portrait, in millimetres (ISO 216, ISO 269's C5E
# and DLE envelopes, US sizes), the names wkhtmltopdf (Qt) knows.
PAGE_SIZES_MM = {
    "a0": (841, 1189), "a1": (594, 841), "a2": (420, 594),
    "a3": (297, 420), "a4": (210, 297), "a5": (148, 210),
    "a6": (105, 148), "a7": (74, 105), "a8": (52, 74), "a9": (37, 52),
    "b0": (1000, 1414), "b1": (707, 1000), "b2": (500, 707),
    "b3": (353, 500), "b4": (250, 353), "b5": (176, 250),
    "b6": (125, 176), "b7": (88, 125), "b8": (62, 88), "b9": (44, 62),
    "b10": (31, 44), "c5e": (163, 229), "comm10e": (105, 241),
    "dle": (110, 220), "executive": (190.5, 254), "folio": (210, 330),
    "ledger": (431.8, 279.4), "legal": (215.9, 355.6),
    "letter": (215.9, 279.4), "tabloid": (279.4, 431.8),
}
DEFAULT_PAGE_SIZE = "a4"
# wkhtmltopdf's default margins.
DEFAULT_MARGIN = "10mm"
LENGTH_UNITS = ("mm", "cm", "in", "px")
LENGTH = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(mm|cm|in|px)?\s*$",
                    re.IGNORECASE)
# Chromium's printToPDF scale bounds.
ZOOM_RANGE = (0.1, 2.0)
MAX_JAVASCRIPT_DELAY_MS = 60000
# Placeholders in header and footer texts and HTML -> the elements
# Chromium fills in its header and footer templates.
PLACEHOLDER_CLASSES = {"page": "pageNumber", "topage": "totalPages",
                       "title": "title", "date": "date"}
PLACEHOLDER = re.compile(r"\[(page|topage|title|date)\]")
HEADER_FOOTER_FONT = "font-size: 9pt; font-family: sans-serif;"

TEXT_KEYS = ("header_left", "header_center", "header_right",
             "footer_left", "footer_center", "footer_right")
BOOLEAN_KEYS = ("grayscale", "background", "print_media_type",
                "enable_javascript", "outline", "toc")
SUPPORTED_KEYS = (
    "page_size", "page_width", "page_height", "orientation",
    "margin_top", "margin_bottom", "margin_left", "margin_right",
    "header_html_data", "footer_html_data") + TEXT_KEYS + (
    "encoding", "zoom", "javascript_delay", "title") + BOOLEAN_KEYS


def _refuse(message):
    raise InvalidRequest("conversion_kw: %s" % message)


def as_boolean(key, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    word = str(value).strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0", ""):
        return False
    _refuse("%s must be true or false, not %r" % (key, value))


def as_length(key, value):
    """A length as Chromium takes it: '20mm', '2cm', '1in', '96px'.  A bare
    number is in millimetres, wkhtmltopdf's default unit."""
    if isinstance(value, bool):
        _refuse("%s must be a length" % key)
    match = LENGTH.match(str(value))
    if not match:
        _refuse("%s must be a length such as 20mm, 2cm, 1in or 96px "
                "(units: %s), not %r" % (key, ", ".join(LENGTH_UNITS),
                                          value))
    number, unit = match.groups()
    return "%s%s" % (number, (unit or "mm").lower())


def as_number(key, value, low, high):
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or not low <= number <= high:
        _refuse("%s must be a number from %s to %s, not %r"
                % (key, low, high, value))
    return number


def as_text(key, value):
    if not isinstance(value, str):
        _refuse("%s must be a string" % key)
    return value


def decode_html_data(key, value):
    """base64 HTML (bytes may come as an XML-RPC Binary too) -> text."""
    if hasattr(value, "data"):
        data = value.data
    else:
        try:
            data = base64.b64decode(re.sub(r"\s+", "", as_text(key, value)),
                                    validate=True)
        except (binascii.Error, ValueError):
            _refuse("%s must be base64-encoded HTML" % key)
    return data.decode("utf-8", "replace")


class PrintOptions:
    """What one request asks for, validated.  ``pdf_arguments()`` gives
    Playwright's ``page.pdf`` arguments; the rest is read by the handler."""

    def __init__(self, conversion_kw):
        conversion_kw = conversion_kw or {}
        unknown = sorted(str(key) for key in conversion_kw
                         if key not in SUPPORTED_KEYS)
        if unknown:
            _refuse("unsupported key(s) %s for HTML -> PDF; supported: %s"
                    % (", ".join(unknown), ", ".join(SUPPORTED_KEYS)))
        # A known key sent as None (XML-RPC nil) is a key not given.
        conversion_kw = {key: value for key, value in conversion_kw.items()
                         if value is not None}
        get = conversion_kw.get
        for key in BOOLEAN_KEYS:
            setattr(self, key, as_boolean(key, get(key, False)))
        # Backgrounds are printed unless asked otherwise, as wkhtmltopdf does.
        self.background = as_boolean("background", get("background", True))
        self.width, self.height = self._page_size(conversion_kw)
        orientation = str(get("orientation", "Portrait")).strip().lower()
        if orientation not in ("portrait", "landscape"):
            _refuse("orientation must be Portrait or Landscape, not %r"
                    % get("orientation"))
        self.landscape = orientation == "landscape"
        self.margins = {side: as_length("margin_" + side,
                                        get("margin_" + side, DEFAULT_MARGIN))
                        for side in ("top", "bottom", "left", "right")}
        self.encoding = None
        if get("encoding") not in (None, ""):
            try:
                self.encoding = codecs.lookup(
                    as_text("encoding", get("encoding"))).name
            except LookupError:
                _refuse("unknown encoding %r" % get("encoding"))
        self.zoom = as_number("zoom", get("zoom", 1), *ZOOM_RANGE)
        self.javascript_delay_ms = as_number(
            "javascript_delay", get("javascript_delay", 0), 0,
            MAX_JAVASCRIPT_DELAY_MS)
        self.title = as_text("title", get("title")) if get("title") \
            is not None else None
        texts = {key: as_text(key, get(key)) for key in TEXT_KEYS
                 if get(key) not in (None, "")}
        self.header_template = self._template(
            "header", get("header_html_data"), texts)
        self.footer_template = self._template(
            "footer", get("footer_html_data"), texts)
        # The header and footer HTML, for the link check.
        self.header_footer_html = "\n".join(
            template for template in (self.header_template,
                                      self.footer_template) if template)

    @staticmethod
    def _page_size(conversion_kw):
        width = conversion_kw.get("page_width")
        height = conversion_kw.get("page_height")
        if (width is None) != (height is None):
            _refuse("page_width and page_height go together")
        if width is not None:
            return (as_length("page_width", width),
                    as_length("page_height", height))
        name = str(conversion_kw.get("page_size", DEFAULT_PAGE_SIZE))
        size = PAGE_SIZES_MM.get(name.strip().lower())
        if size is None:
            _refuse("unknown page_size %r (known: %s)" % (
                name, ", ".join(sorted(PAGE_SIZES_MM))))
        return "%smm" % size[0], "%smm" % size[1]

    def _template(self, where, html_data, texts):
        """Chromium's header or footer template, or None."""
        row = [texts.get("%s_%s" % (where, side), "")
               for side in ("left", "center", "right")]
        if html_data is not None and any(row):
            _refuse("give either %s_html_data or %s_left/center/right"
                    % (where, where))
        if html_data is not None:
            body = header_html(decode_html_data(where + "_html_data",
                                                html_data), self.title)
        elif any(row):
            cells = "".join(
                '<div style="flex: 1; text-align: %s">%s</div>'
                % (align, placeholders(html.escape(text), self.title))
                for align, text in zip(("left", "center", "right"), row))
            body = '<div style="display: flex; width: 100%%">%s</div>' % cells
        else:
            return None
        # The template spans the whole paper width, margins included.
        return ('<div style="width: 100%%; %s margin: 0 %s 0 %s; '
                '-webkit-print-color-adjust: exact">%s</div>'
                % (HEADER_FOOTER_FONT, self.margins["right"],
                   self.margins["left"], body))

    def pdf_arguments(self):
        arguments = dict(
            width=self.width, height=self.height, landscape=self.landscape,
            margin=dict(self.margins), scale=self.zoom,
            print_background=self.background,
            outline=self.outline, tagged=self.outline or None,
            prefer_css_page_size=False)
        if self.header_template or self.footer_template:
            arguments.update(
                display_header_footer=True,
                header_template=self.header_template or "<span></span>",
                footer_template=self.footer_template or "<span></span>")
        return arguments


def placeholders(text, title=None):
    """[page], [topage], [title], [date] -> the elements Chromium fills."""
    def element(match):
        if match.group(1) == "title" and title is not None:
            return html.escape(title)
        return '<span class="%s"></span>' % PLACEHOLDER_CLASSES[
            match.group(1)]
    return PLACEHOLDER.sub(element, text)


def header_html(text, title=None):
    """A wkhtmltopdf header or footer page -> a Chromium template.

    wkhtmltopdf pages fill elements of class page, topage... from a script;
    Chromium runs no script in templates but fills elements of class
    pageNumber, totalPages...: classes are mapped, scripts dropped, the
    head's styles kept.
    """
    document = lxml_html.document_fromstring(text or "<p></p>")
    for script in document.iter("script"):
        script.drop_tree()
    for element in document.iter(etree.Element):
        classes = (element.get("class") or "").split()
        mapped = [PLACEHOLDER_CLASSES[name] for name in classes
                  if name in PLACEHOLDER_CLASSES]
        if mapped:
            element.set("class", " ".join(classes + mapped))
    styles = "".join(etree.tostring(style, encoding="unicode")
                     for style in document.iter("style"))
    body = document.find("body")
    inner = html.escape(body.text or "") + "".join(
        etree.tostring(child, encoding="unicode", method="html")
        for child in body if child.tag != "style") if body is not None \
        else ""
    return placeholders(styles + inner, title)
