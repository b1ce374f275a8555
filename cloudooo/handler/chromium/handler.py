"""The chromium handler: HTML (or a zip holding an HTML page) -> PDF with
page layout, through one shared headless Chromium.

The page is written to its own request folder and checked by the same
link check as LibreOffice's inputs.  The browser then loads it from a
made-up origin (``http://document.invalid/``) whose every request is
answered by us from that folder; any other URL is aborted, so the page
reads nothing outside its folder and reaches no network.  Scripts run
only with ``enable_javascript``.
"""

import asyncio
import io
import logging
import mimetypes
import os
import posixpath
import zipfile
from urllib.parse import quote, unquote, urlsplit

from cloudooo.errors import ConversionError, UnsupportedFormat
from cloudooo.handler.base import Handler
from cloudooo.handler.chromium.browser import (ChromiumBrowser,
                                               terminate_orphans)
from cloudooo.handler.chromium.options import PrintOptions
from cloudooo.handler.ooo import linkcheck
from cloudooo.handler.ooo.boundedzip import UnpackBudget
from cloudooo.handler.ooo.handler import unpack_html_zip
from cloudooo.sandbox import limits_from_settings
from cloudooo.util import child_environment, temporary_directory

logger = logging.getLogger(__name__)

SOURCE_EXTENSIONS = ("html", "htm", "zip")
DESTINATION = "pdf"
PDF_TITLE = "PDF - Portable Document Format"
# The page's origin: .invalid never resolves (RFC 2606), and every request
# to it is answered from the request's folder.
ORIGIN = "http://document.invalid/"
ORIGIN_HOST = "document.invalid"
PAGE_NAME = "document.html"
OUTPUT_NAME = "document.pdf"
# What a spare page shows while it waits for a request.
BLANK_PAGE = "cloudooo-blank"
TOC_HEADINGS = "h1, h2, h3, h4, h5, h6"
# Debian's ghostscript resources (CMaps, font maps) live here, outside
# /usr: without them in the sandbox, the gray PDF's text loses its
# Unicode mapping.
GHOSTSCRIPT_DATA = ("/var/lib/ghostscript",)

# Builds the table of contents from the page's headings, in the page's
# DOM (Playwright evaluates it even where the page's own scripts are off):
# one line per heading, linked to an anchor put at the heading's start,
# with room for its page number, filled in by TOC_PAGES_SCRIPT once a
# first print has told where each anchor landed.  The title is no heading,
# so that it stays out of the outline.
TOC_SCRIPT = """(selector) => {
  const headings = Array.from(document.querySelectorAll(selector));
  const toc = document.createElement('nav');
  toc.id = 'cloudooo-toc';
  toc.style.breakAfter = 'page';
  const title = document.createElement('div');
  title.textContent = 'Table of Contents';
  title.style.cssText = 'font-size: 1.6em; font-weight: bold; ' +
    'margin: 0.6em 0';
  toc.appendChild(title);
  const anchors = [];
  headings.forEach((heading, index) => {
    const anchor = document.createElement('a');
    anchor.id = 'cloudooo-toc-' + index;
    heading.insertBefore(anchor, heading.firstChild);
    anchors.push(anchor.id);
    const level = Number(heading.tagName.substring(1));
    const line = document.createElement('div');
    line.style.cssText = 'display: flex; align-items: baseline; ' +
      'margin: 0.2em 0 0.2em ' + (level - 1) * 1.5 + 'em';
    const link = document.createElement('a');
    link.href = '#' + anchor.id;
    link.textContent = heading.textContent.trim();
    link.style.cssText = 'color: inherit; text-decoration: none';
    const leader = document.createElement('span');
    leader.style.cssText = 'flex: 1; border-bottom: 1px dotted; ' +
      'margin: 0 0.4em';
    const number = document.createElement('span');
    number.className = 'cloudooo-toc-page';
    number.dataset.anchor = anchor.id;
    number.style.cssText = 'min-width: 2em; text-align: right';
    line.append(link, leader, number);
    toc.appendChild(line);
  });
  document.body.insertBefore(toc, document.body.firstChild);
  return anchors;
}"""
TOC_PAGES_SCRIPT = """(pages) => {
  document.querySelectorAll('.cloudooo-toc-page').forEach((number) => {
    number.textContent = pages[number.dataset.anchor] || '';
  });
}"""


class ChromiumHandler(Handler):
    name = "chromium"
    converts_only = True

    def __init__(self, settings):
        super().__init__(settings)
        self.browser = None
        self.spares = SparePages()

    def preflight_problems(self):
        binary = self.settings.chromium_binary
        if not os.access(binary, os.X_OK):
            return ["Chromium not found: %s is missing (set chromium_binary;"
                    " on Debian: apt-get install chromium)" % binary]
        return []

    def start(self):
        if self.browser is not None:
            return
        super().start()
        binary = self.settings.chromium_binary
        profile_root = os.path.join(self.settings.working_path, "chromium")
        terminate_orphans(profile_root)
        # The browser itself starts with the first request, then stays.
        # In the sandbox like every converter; no address-space limit (a
        # browser reserves terabytes of it), file size and processes capped.
        self.browser = ChromiumBrowser(
            binary, profile_root,
            env=child_environment(self.settings.env),
            start_timeout=self.settings.chromium_start_timeout,
            sandbox=self.sandbox,
            limits=limits_from_settings(self.settings, 0),
            conversion_limit=self.settings.chromium_limit_number_request)

    def stop(self):
        if self.browser is not None:
            self.browser.stop()
            self.browser = None

    def interrupt(self):
        super().interrupt()  # the grayscale pass's Ghostscript
        browser = self.browser
        if browser is not None:
            browser.interrupt()

    def can_write(self, source_mimetype, destination_mimetype):
        return destination_mimetype == "application/pdf"

    def allowed_extensions(self, source=None, document_type=None):
        if source in SOURCE_EXTENSIONS:
            return [(DESTINATION, PDF_TITLE)]
        return []

    def allowed_conversion_formats(self, source_mimetype):
        if source_mimetype in ("text/html", "application/zip"):
            return [("application/pdf", PDF_TITLE)]
        return []

    def convert(self, data, source_format, destination_format, zip=False,
                refresh=False, conversion_kw=None):
        if source_format not in SOURCE_EXTENSIONS or \
                destination_format != DESTINATION:
            raise UnsupportedFormat("Chromium converts html to pdf only, "
                                    "not %s to %s" % (source_format,
                                                      destination_format))
        options = PrintOptions(conversion_kw)
        with temporary_directory(self.settings.tmp_path) as workdir:
            folder = os.path.join(workdir, "in")
            os.mkdir(folder)
            page_path = self._prepare_input(folder, data, source_format)
            if options.header_footer_html:
                linkcheck.check_html(options.header_footer_html.encode(),
                                     "header or footer")
            page_url = ORIGIN + quote(os.path.relpath(page_path, folder))

            async def job(browser):
                return await print_page(self.spares, browser, folder,
                                        page_url, options)

            pdf = self.browser.run(job, self.settings.chromium_timeout)
            if options.grayscale:
                pdf = self._grayscale(workdir, pdf)
        pdf = set_pdf_title(pdf, options.title)
        # refresh (update fields and indexes) has nothing to do on a web
        # page; zip gives the PDF alone in a zip, as the ooo handler does.
        return zip_of_pdf(pdf) if zip else pdf

    def _grayscale(self, workdir, pdf):
        """The PDF in shades of gray, text, links and bookmarks kept
        (a CSS filter would miss the page's background)."""
        source = os.path.join(workdir, "color.pdf")
        output = os.path.join(workdir, "gray.pdf")
        with open(source, "wb") as stream:
            stream.write(pdf)
        self.run_tool(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE",
                       "-sDEVICE=pdfwrite", "-sColorConversionStrategy=Gray",
                       "-dProcessColorModel=/DeviceGray",
                       "-sOutputFile=" + output, source],
                      self.settings.tool_timeout,
                      child_environment(self.settings.env), path=workdir,
                      tool="ghostscript", read_only=[
                          path for path in GHOSTSCRIPT_DATA
                          if os.path.exists(path)])
        with open(output, "rb") as stream:
            return stream.read()

    def _prepare_input(self, folder, data, source_format):
        budget = UnpackBudget.from_settings(self.settings)
        if source_format == "zip":
            path = unpack_html_zip(data, folder, budget)
            linkcheck.check_folder(folder, budget)
            return path
        path = os.path.join(folder, PAGE_NAME)
        with open(path, "wb") as stream:
            stream.write(data)
        linkcheck.check_document(path, budget)
        return path


class PageRequest:
    """What a page's routing answers from: a request's folder, or nothing
    yet (a spare page waiting for its request)."""

    def __init__(self):
        self.folder = None
        self.encoding = None


class SparePages:
    """A fresh context with a page, made ahead of the next request.

    Opening a page starts a renderer process, the slowest part of a small
    conversion; the spare's page has already loaded an empty page of our
    origin, so the request's page loads in a warm renderer.  The spare was
    never used by any request: every request still gets a context of its
    own.  It is made once a request is done, not while one runs, which it
    would slow down on a busy machine.  Lives on the browser's loop; one
    spare per browser.
    """

    def __init__(self):
        self._browser = None
        self._task = None

    async def take(self, browser, enable_javascript):
        """(context, page, PageRequest) for one request."""
        if not enable_javascript and self._browser is browser and \
                self._task is not None:
            task, self._task = self._task, None
            try:
                return await task
            except Exception:
                pass  # lost with an earlier browser: make one now
        return await open_page(browser, enable_javascript)

    def refill(self, browser):
        """Start making the next spare, if none is on its way."""
        if self._browser is browser and self._task is not None:
            return
        self._browser = browser
        self._task = asyncio.ensure_future(open_page(browser, False))
        # A spare lost with its browser is not an error worth a log line.
        self._task.add_done_callback(
            lambda task: task.cancelled() or task.exception())


async def open_page(browser, enable_javascript):
    context = await browser.new_context(
        java_script_enabled=enable_javascript, service_workers="block",
        accept_downloads=False)
    try:
        request = PageRequest()
        await context.route("**/*", lambda route: answer_from_folder(
            route, request))
        page = await context.new_page()
        # wkhtmltopdf lays pages out for the screen unless asked for print
        # media: the usual case is set up ahead.
        await page.emulate_media(media="screen")
        await page.goto(ORIGIN + BLANK_PAGE)
        return context, page, request
    except BaseException:
        await context.close()
        raise


async def print_page(spares, browser, folder, page_url, options):
    """Load ``page_url`` in a fresh context, answered from ``folder``;
    return its PDF."""
    context, page, request = await spares.take(browser,
                                               options.enable_javascript)
    try:
        request.folder, request.encoding = folder, options.encoding
        response = await page.goto(page_url, wait_until="load")
        if response is None or not response.ok:
            raise ConversionError("Chromium could not load the page")
        if options.print_media_type:
            await page.emulate_media(media="print")
        if options.javascript_delay_ms:
            await page.wait_for_timeout(options.javascript_delay_ms)
        if options.toc:
            anchors = await page.evaluate(TOC_SCRIPT, TOC_HEADINGS)
            # A first print tells each heading's page; the numbers take
            # the room kept for them, so the pages do not move.
            first = await page.pdf(**options.pdf_arguments())
            await page.evaluate(TOC_PAGES_SCRIPT,
                                anchor_pages(first, anchors))
        return await page.pdf(**options.pdf_arguments())
    finally:
        await context.close()
        if browser.is_connected():
            spares.refill(browser)


async def answer_from_folder(route, request):
    """Our origin's URLs come from the request's folder; data: passes; the
    rest is aborted before anything leaves the browser."""
    url = route.request.url
    folder, encoding = request.folder, request.encoding
    if url.startswith("data:"):
        await route.continue_()
        return
    if url == ORIGIN + BLANK_PAGE and folder is None:
        await route.fulfill(status=200, body=b"",
                            headers={"Content-Type": "text/html"})
        return
    if not url.startswith(ORIGIN) or folder is None:
        logger.debug("chromium: blocked a request out of the page's "
                     "folder")
        await route.abort("blockedbyclient")
        return
    relative = posixpath.normpath(unquote(urlsplit(url).path)).lstrip("/")
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, relative))
    if not path.startswith(root + os.sep) or not os.path.isfile(path):
        await route.fulfill(status=404, body=b"")
        return
    content_type = mimetypes.guess_type(path)[0] or \
        "application/octet-stream"
    if content_type == "text/html" and encoding:
        content_type += "; charset=" + encoding
    with open(path, "rb") as stream:
        body = stream.read()
    await route.fulfill(status=200, body=body,
                        headers={"Content-Type": content_type})


def zip_of_pdf(pdf):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(OUTPUT_NAME, pdf)
    return buffer.getvalue()


def anchor_pages(pdf, anchors):
    """{anchor id: its page number, from 1} read from the PDF's named
    destinations (Chromium makes one for each linked anchor)."""
    from pypdf import PdfReader
    reader = PdfReader(io.BytesIO(pdf))
    wanted = set(anchors)
    pages = {}
    for name, destination in reader.named_destinations.items():
        anchor = name.lstrip("/")
        if anchor in wanted:
            pages[anchor] = str(
                reader.get_destination_page_number(destination) + 1)
    return pages


def set_pdf_title(pdf, title):
    """The PDF with ``title`` as its document title.  Without one, a page
    without <title> keeps none: Chromium would give it our made-up URL."""
    from pypdf import PdfReader, PdfWriter
    reader = PdfReader(io.BytesIO(pdf))
    if title is None:
        current = (reader.metadata or {}).get("/Title") or ""
        if ORIGIN_HOST not in current:
            return pdf
        title = ""
    writer = PdfWriter(clone_from=reader)
    writer.pdf_header = reader.pdf_header
    writer.add_metadata({"/Title": title})
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()
