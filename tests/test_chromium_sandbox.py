"""The chromium handler's browser runs in the sandbox (issue 9 §1, "any
later converter"): its own network namespace, no host file in its view.

The handler's own routing already aborts every URL but the request's
folder; these tests reach past it to prove the sandbox holds by itself."""

import asyncio
import os
import uuid

import psutil
import pytest

from cloudooo.errors import ConversionTimeout
from cloudooo.handler.chromium.browser import ChromiumBrowser
from cloudooo.sandbox import Sandbox, SandboxLimits
from tests.test_chromium import browser_processes, pdf_pages_text, to_pdf

CHROMIUM = "/usr/bin/chromium"
WAIT_SECONDS = 90

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                reason="chromium is not installed")


@pytest.fixture
def canary(tmp_path):
    """A host file outside the browser's view; its bytes must not come
    back."""
    path = tmp_path / "outside" / "canary.html"
    path.parent.mkdir()
    secret = "CANARY-%s" % uuid.uuid4().hex
    path.write_text("<html><body><p>%s</p></body></html>" % secret)
    return path, secret


def page_trying(canary_path, spy_url):
    """A page whose scripts try the canary over file:// and the spy over
    loopback, and write what they got into the page.  The URLs are put
    together at run time, past the link check (the first layer)."""
    return ("""<html><body><p id="out">Attempts:</p>
<script>
var file = ['fi', 'le://'].join('') + '%(canary)s';
var spy = ['ht', 'tp://'].join('') + '%(spy)s';
function note(text) {
  document.getElementById('out').textContent += ' ' + text;
}
var frame = document.createElement('iframe');
frame.src = file;
document.body.appendChild(frame);
var picture = document.createElement('img');
picture.src = spy + '?img';
document.body.appendChild(picture);
fetch(file).then(r => r.text()).then(note, () => note('file-refused'));
fetch(spy + '?fetch').then(r => note('spy-answered'),
  () => note('spy-refused'));
var request = new XMLHttpRequest();
try {
  request.open('GET', file, false);
  request.send();
  note(request.responseText);
} catch (error) { note('xhr-refused'); }
</script></body></html>""" % {"canary": canary_path,
                              "spy": spy_url.split("://", 1)[1]}).encode()


def test_the_browser_has_its_own_network_and_no_host_file(
        make_server, canary, spy_http_server):
    spy_url, hits = spy_http_server
    canary_path, secret = canary
    server = make_server()  # sandbox = bwrap, the default
    pdf = to_pdf(server.proxy(), page_trying(canary_path, spy_url),
                 {"enable_javascript": True, "javascript_delay": 1000,
                  "page_size": "A5"})
    text = "".join(pdf_pages_text(pdf))
    assert "Attempts:" in text  # the script ran and wrote
    assert secret not in text and secret.encode() not in pdf
    assert hits == []
    [browser] = browser_processes(server)
    assert os.readlink("/proc/%d/ns/net" % browser.pid) != \
        os.readlink("/proc/%d/ns/net" % server.pid)
    assert os.readlink("/proc/%d/ns/pid" % browser.pid) != \
        os.readlink("/proc/%d/ns/pid" % server.pid)
    assert "(in the sandbox)" in server.log()
    # An ordinary user in there: Chromium keeps its own sandbox too.
    assert "--no-sandbox" not in browser.cmdline()


def read_over_file_url(browser, path):
    """The text a page opened directly at file://path shows, or the
    navigation's error (past the handler's routing: a bare context)."""
    async def job(playwright_browser):
        context = await playwright_browser.new_context()
        try:
            page = await context.new_page()
            try:
                await page.goto("file://%s" % path)
            except Exception as error:
                return "navigation failed: %s" % str(error).splitlines()[0]
            return await page.inner_text("body")
        finally:
            await context.close()
    return browser.run(job, WAIT_SECONDS)


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_a_host_file_exists_only_without_the_sandbox(tmp_path, canary, mode):
    """Opened by the browser itself, the canary reads as missing in the
    sandbox; without it (the control), the same call reads it."""
    canary_path, secret = canary
    sandbox = Sandbox(mode, str(tmp_path / "etc"))
    browser = ChromiumBrowser(
        CHROMIUM, str(tmp_path / "profiles"), start_timeout=60,
        sandbox=sandbox, limits=SandboxLimits(process_count=512))
    try:
        shown = read_over_file_url(browser, canary_path)
        if mode == "bwrap":
            assert secret not in shown
            assert "ERR_FILE_NOT_FOUND" in shown
            # The profile, the only writable path, is the browser's own.
            assert read_over_file_url(browser, "/etc/shadow").startswith(
                "navigation failed")
        else:
            assert secret in shown
        pid = browser.pid
    finally:
        browser.stop()
    assert not psutil.pid_exists(pid)
    assert os.listdir(tmp_path / "profiles") == []


def test_a_browser_timeout_kills_everything_in_the_sandbox(tmp_path):
    """The kill reaches the processes inside bubblewrap's PID namespace."""
    browser = ChromiumBrowser(
        CHROMIUM, str(tmp_path / "profiles"), start_timeout=60,
        sandbox=Sandbox("bwrap", str(tmp_path / "etc")))

    async def endless(playwright_browser):
        await asyncio.sleep(3600)

    try:
        read_over_file_url(browser, "/nonexistent")  # started
        family = [browser._process] + \
            browser._process.children(recursive=True)
        assert any("chromium" in " ".join(process.cmdline())
                   for process in family[1:])
        with pytest.raises(ConversionTimeout):
            browser.run(endless, 2)
        gone, alive = psutil.wait_procs(family, timeout=WAIT_SECONDS)
        assert alive == []
    finally:
        browser.stop()
