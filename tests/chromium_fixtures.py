"""HTML pages for the chromium handler's tests, built here."""

import io
import zipfile

from tests import documents

HEADINGS = ("Quarterly overview", "Regional figures", "Outlook for spring")
HEADER_TEXT = "ACME quarterly report"


def wide_table(columns=14, rows=6):
    head = "".join("<th>Column %d</th>" % index for index in range(columns))
    body = "".join(
        "<tr>%s</tr>" % "".join("<td>%d.%d</td>" % (row, column)
                                for column in range(columns))
        for row in range(rows))
    return "<table border=1><tr>%s</tr>%s</table>" % (head, body)


def layout_page():
    """Several headings, a wide table, and exactly two pages: the second
    chapter starts a new page."""
    return ("""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Layout test</title>
<style>body { margin: 0; font-family: sans-serif; }
h2.second { break-before: page; }</style></head>
<body>
<h1>%s</h1><p>Firstword of the report body.</p>
%s
<h2 class="second">%s</h2><p>Figures by region.</p>
<h3>%s</h3><p>Blossoms expected.</p>
</body></html>""" % (HEADINGS[0], wide_table(), HEADINGS[1],
                     HEADINGS[2])).encode()


def header_html():
    return ("""<!DOCTYPE html><html><head>
<script>function subst() { /* wkhtmltopdf fills .page from the URL */ }
</script></head><body onload="subst()">
<div style="font-size: 10pt">%s</div></body></html>""" % HEADER_TEXT).encode()


def footer_html():
    return b"""<html><body><div style="font-size: 10pt; text-align: center">
<span class="page"></span>/<span class="topage"></span></div></body></html>"""


def scripted_page():
    """A page whose script would replace its text."""
    return b"""<html><body><p id="text">Static words</p>
<script>document.getElementById('text').textContent = 'Scripted words';
</script></body></html>"""


def escaping_script_page(spy_url, canary_path):
    """A page whose script tries to reach a loopback server and read a
    local file, then writes what it got into the page."""
    return ("""<html><body><p id="out">start</p><script>
const out = document.getElementById('out');
function note(word) { out.textContent += ' ' + word; }
fetch('%(spy)s?fetch').then(r => r.text()).then(t => note('GOT ' + t),
    () => note('fetchblocked'));
fetch('file://%(canary)s').then(r => r.text()).then(t => note(t),
    () => note('fileblocked'));
fetch('/..%%2f..%%2f..%%2f..%%2f..%%2f..%%2f..%%2f..%%2f..%%2f..%(canary)s')
    .then(r => r.text()).then(t => note('escaped ' + t));
const xhr = new XMLHttpRequest();
xhr.open('GET', '%(spy)s?xhr'); xhr.onerror = () => note('xhrblocked');
xhr.send();
const img = new Image(); img.src = '%(spy)s?img'; document.body.append(img);
const frame = document.createElement('iframe');
frame.src = 'file://%(canary)s'; document.body.append(frame);
const link = document.createElement('link'); link.rel = 'stylesheet';
link.href = '%(spy)s?css'; document.head.append(link);
const spyFrame = document.createElement('iframe');
spyFrame.src = '%(spy)s?frame'; document.body.append(spyFrame);
const socket = new WebSocket('%(ws)s?websocket');
socket.onerror = () => note('socketblocked');
navigator.sendBeacon('%(spy)s?beacon', 'x');
new EventSource('%(spy)s?events');
</script></body></html>""" % {"spy": spy_url, "canary": canary_path,
                              "ws": spy_url.replace("http:", "ws:")}).encode()


def linking_page(spy_url):
    return ("""<html><head><link rel="stylesheet" href="%s?css"></head>
<body><p>Linked</p><img src="%s?img"></body></html>"""
            % (spy_url, spy_url)).encode()


def zipped_page():
    """A zip of a page with its stylesheet and picture beside it."""
    page = b"""<html><head><link rel="stylesheet" href="css/style.css">
</head><body><h1>Zipped page</h1><img src="images/dot.png"></body></html>"""
    stylesheet = b"h1::after { content: ' styledbyzip'; }"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", page)
        archive.writestr("css/style.css", stylesheet)
        archive.writestr("images/dot.png", documents.png())
    return buffer.getvalue()


def endless_script_page():
    return b"<html><body><p>Never</p><script>for (;;) {}</script></body>" \
        b"</html>"
