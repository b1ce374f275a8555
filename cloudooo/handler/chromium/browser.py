"""One headless Chromium, started once and shared, driven over DevTools.

Playwright launches Debian's ``chromium`` (``executable_path``: it never
downloads a browser) and speaks DevTools over a pipe (file descriptors 3
and 4, ``--remote-debugging-pipe``), not a TCP port: so the browser can run
in the sandbox (cloudooo.sandbox) with a network namespace of its own.  The
executable Playwright starts is a launcher of ours (``write_launcher``):
it writes its pid, swaps Playwright's temporary profile for ours (under
our working path: the orphan clean-up finds browsers by it) and execs
setpriv (death with the server), bubblewrap (which passes fds 3 and 4 on)
and the browser.  Its pid is the sandbox's outer bubblewrap: killing its
process group and its descendants reaches everything inside.

Playwright's API is bound to the thread that made it, and waitress calls
us from many threads: one thread of ours runs an asyncio loop owning
Playwright and the browser; request threads hand it coroutines and wait
for the result, at most ``timeout`` seconds.  Each request gets its own
browser context (no cookie, cache or storage shared between requests).

Supervision: a browser that died is started again on the next request; a
request running when it died is submitted once more; a request running
past its timeout kills the browser (the request gets ConversionTimeout).
A stopping server interrupts the browser: it is killed, never started
again, and its requests get ServerStopping, as the office pool's do.
"""

import asyncio
import concurrent.futures
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time

import json
import sys

import psutil

from cloudooo.errors import (ConversionError, ConversionTimeout,
                             ServerStopping)

logger = logging.getLogger(__name__)

# The machine has no network, and the browser must not need one: no
# first-run, sync, component updates or background fetches.  Every
# connection goes to a proxy that does not exist, loopback included (no
# bypass list), and no name resolves: a request that escaped the per-page
# routing still reaches nothing.
CHROMIUM_FLAGS = (
    "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-extensions", "--disable-default-apps",
    "--mute-audio", "--no-default-browser-check",
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
# Read by Debian's /usr/bin/chromium launcher (a shell script) inside the
# sandbox; nothing secret (apikeys holds Debian's public keys).
CHROMIUM_ETC = ("/etc/chromium.d", "/etc/chromium")
# How long a Playwright error waits for the browser's death to show, to
# tell a crash (resubmit) from the page's own failure: generous, as a
# killed process may take a while to go on a loaded machine, and only
# failures wait.
CRASH_SETTLE_SECONDS = 5.0
STOP_SECONDS = 5.0


# Sets the browser's parent-death signal, then runs it: its parent is
# Playwright's driver, which goes when the server goes (its stdin closes),
# so a server killed outright takes its browser along (the browser is in a
# process group of its own, so nothing else would).
SETPRIV = "/usr/bin/setpriv"


def chromium_argv(binary, profile_directory, extra=()):
    """The command line of a browser with an empty profile, started by
    hand (the bench's one-shot browser; the server's own goes through
    Playwright's launch and ``write_launcher``)."""
    argv = [binary] + list(CHROMIUM_FLAGS)
    if os.geteuid() == 0:
        # Chromium's sandbox refuses to run as root.
        argv.append("--no-sandbox")
    argv.append("--user-data-dir=" + profile_directory)
    argv.extend(extra)
    return argv


def terminate_orphans(profile_root):
    """At server start: browsers of an earlier run of ours (killed before
    it could stop them) still running on a profile under ``profile_root``;
    stopped, and the stale profiles removed.  Others' browsers are never
    touched: only our profile root tells ours."""
    marker = "--user-data-dir=" + os.path.join(profile_root, "")
    stopped = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if process.pid == os.getpid() or not any(
                argument.startswith(marker) for argument in cmdline):
            continue
        logger.warning("chromium: terminating orphan browser pid %d of an "
                       "earlier run", process.pid)
        try:
            process.kill()
        except psutil.Error:
            pass
        stopped.append(process)
    psutil.wait_procs(stopped, timeout=STOP_SECONDS)
    if os.path.isdir(profile_root):
        for name in os.listdir(profile_root):
            shutil.rmtree(os.path.join(profile_root, name),
                          ignore_errors=True)
    return [process.pid for process in stopped]


class ChromiumBrowser:

    def __init__(self, binary, working_path, env=None, start_timeout=30.0,
                 sandbox=None, limits=None, conversion_limit=0):
        """``sandbox``: a cloudooo.sandbox.Sandbox the browser runs in
        (None: none), with ``limits`` (SandboxLimits).  After
        ``conversion_limit`` conversions (0: never) the browser is
        restarted, at the first request that finds none running."""
        self.binary = binary
        self.sandbox = sandbox
        self.limits = limits
        self.working_path = working_path
        self.env = env
        self.start_timeout = start_timeout
        self._guard = threading.Lock()
        self._loop = None
        self._thread = None
        self._playwright = None
        self._browser = None
        self._process = None
        self._home = None  # launcher, pid file and profile of the browser
        self._starting = None  # asyncio.Lock, made on the loop
        self._stopping = False  # set once: no browser starts again
        self.conversion_limit = conversion_limit
        # On the loop only: conversions run by the current browser, and
        # conversions running now.
        self._served = 0
        self._running = 0

    # -- called from request threads ----------------------------------------

    @property
    def pid(self):
        """The running browser's pid (its launcher's: with the sandbox,
        the outer bubblewrap), or None."""
        process = self._process
        return process.pid if is_alive(process) else None

    def run(self, job, timeout, what="conversion"):
        """Run ``await job(browser)`` on the browser's loop; its result.

        A browser crash during the job starts a new browser and runs the
        job once more; past ``timeout`` seconds the browser is killed and
        ConversionTimeout raised.
        """
        if self._stopping:
            raise ServerStopping()
        loop = self._ensure_loop()
        # Starting the browser (or its recycle) has its own limit, not the
        # request's.
        starting = asyncio.run_coroutine_threadsafe(
            self._connected(recycle_if_due=True), loop)
        try:
            starting.result(self.start_timeout + STOP_SECONDS)
        except concurrent.futures.TimeoutError:
            starting.cancel()
            self.kill()
            raise ConversionError("Chromium did not start within "
                                  "chromium_start_timeout (%s s)"
                                  % self.start_timeout)
        future = asyncio.run_coroutine_threadsafe(
            self._run_supervised(job), loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            logger.warning("chromium: %s still running after %s s: killing "
                           "the browser (pid %s)", what, timeout, self.pid)
            self.kill()
            raise ConversionTimeout(
                "Chromium did not finish within chromium_timeout (%s s) and "
                "was killed" % timeout)

    def interrupt(self):
        """The server is stopping and its drain time runs out (any thread):
        kill the browser, start none again; the requests it was serving
        get ServerStopping."""
        self._stopping = True
        pid = self.pid
        if pid is not None:
            logger.warning("chromium: interrupting browser pid %d: the "
                           "server is stopping", pid)
            self.kill()

    def kill(self):
        """SIGKILL the browser and its children (any thread)."""
        process = self._process
        if process is None:
            return
        try:
            family = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for child in family:  # one that left our process group
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        try:  # gone now: no zombie waits for the next request
            process.wait(STOP_SECONDS)
        except psutil.TimeoutExpired:
            logger.error("chromium: pid %d survived SIGKILL", process.pid)
        except psutil.Error:
            pass

    def stop(self):
        """Close the browser and Playwright, stop the loop thread; no
        process of ours survives."""
        with self._guard:
            self._stopping = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            future.result(STOP_SECONDS)
        except Exception:
            logger.warning("chromium: no clean shutdown; killing it")
        self.kill()
        self._reap()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_SECONDS)

    # -- the loop thread ----------------------------------------------------

    def _ensure_loop(self):
        with self._guard:
            if self._stopping:
                raise ServerStopping()
            if self._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def serve():
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()
                    loop.close()

                self._thread = threading.Thread(
                    target=serve, name="chromium", daemon=True)
                self._thread.start()
                started.wait()
                self._loop = loop
            return self._loop

    async def _run_supervised(self, job):
        self._running += 1
        try:
            return await self._run_twice(job)
        finally:
            self._running -= 1

    async def _run_twice(self, job):
        for attempt in (1, 2):
            browser = await self._connected()
            try:
                return await job(browser)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._stopping:
                    # Interrupted by the stop: not the page's fault, and no
                    # second attempt.
                    raise ServerStopping()
                if isinstance(error, ConversionError):
                    raise
                if not await self._died(browser):
                    raise ConversionError("Chromium could not convert this "
                                          "page: %s" % first_line(error))
                logger.warning("chromium: the browser died during a "
                               "conversion (attempt %d)", attempt)
                if attempt == 2:
                    raise ConversionError("Chromium crashed twice on this "
                                          "page")
            finally:
                if browser is self._browser:
                    self._served += 1

    async def _died(self, browser):
        deadline = time.monotonic() + CRASH_SETTLE_SECONDS
        while time.monotonic() < deadline:
            if not self._healthy(browser):
                return True
            await asyncio.sleep(0.05)
        return False

    def _healthy(self, browser):
        return browser is self._browser and browser.is_connected() and \
            is_alive(self._process)

    async def _connected(self, recycle_if_due=False):
        """The running browser, started (again) if needed; with
        ``recycle_if_due``, a new one if the current one has served its
        ``conversion_limit`` and runs no conversion."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._stopping:
                raise ServerStopping()
            if self._browser is not None and self._healthy(self._browser):
                if not (recycle_if_due and self._recycle_due()):
                    return self._browser
                logger.info("chromium: recycling browser pid %d after %d "
                            "conversions (chromium_limit_number_request)",
                            self._process.pid, self._served)
                await self._close_browser()
            elif self._browser is not None or self._process is not None:
                logger.warning("chromium: browser pid %s is gone: "
                               "restarting", self._process and
                               self._process.pid)
                await self._close_browser()
            if self._playwright is None:
                from playwright.async_api import async_playwright
                self._playwright = await async_playwright().start()
            try:
                await self._start_browser()
            except Exception as error:
                # Playwright's driver may be what failed: a new one next
                # time.
                await self._stop_playwright()
                if isinstance(error, ConversionError):
                    raise
                raise ConversionError("Chromium could not start: %s"
                                      % first_line(error))
            return self._browser

    def _recycle_due(self):
        # Never under a running conversion: it would die with the browser.
        return bool(self.conversion_limit) and self._running == 0 and \
            self._served >= self.conversion_limit

    async def _start_browser(self):
        self._served = 0
        os.makedirs(self.working_path, exist_ok=True)
        # One folder per browser: its launcher and pid file outside the
        # sandbox's view, its profile (the only writable path) inside.
        self._home = tempfile.mkdtemp(prefix="chromium-profile-",
                                      dir=self.working_path)
        profile = os.path.join(self._home, "profile")
        os.mkdir(profile)
        pid_path = os.path.join(self._home, "pid")
        argv = [self.binary]
        if self.sandbox is not None:
            argv = self.sandbox.wrap(argv, writable=[profile],
                                     limits=self.limits,
                                     read_only=[path for path in CHROMIUM_ETC
                                                if os.path.exists(path)])
        if os.access(SETPRIV, os.X_OK):
            argv = [SETPRIV, "--pdeathsig", "KILL", "--"] + argv
        launcher = write_launcher(os.path.join(self._home, "launch"), argv,
                                  profile, pid_path)
        env = self.env
        if self.sandbox is not None:
            env = self.sandbox.environment(env)
        # Chromium's own sandbox refuses root; in bubblewrap the browser is
        # an ordinary user and keeps it (a second wall inside the first).
        own_sandbox = (self.sandbox is not None and self.sandbox.enabled) \
            or os.geteuid() != 0
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=launcher, args=list(CHROMIUM_FLAGS),
                chromium_sandbox=own_sandbox, env=env,
                handle_sigint=False, handle_sigterm=False,
                handle_sighup=False, timeout=self.start_timeout * 1000)
            with open(pid_path) as stream:
                self._process = psutil.Process(int(stream.read()))
        except BaseException as error:
            launched = os.path.exists(pid_path)
            await self._close_browser()
            if isinstance(error, (OSError, ValueError, psutil.Error)):
                raise ConversionError("cannot run Chromium %s: %s"
                                      % (self.binary, error))
            if isinstance(error, Exception) and launched:
                # Our launcher ran: the browser (or the sandbox) is what
                # gave up.  Playwright's log ends with the exit code.
                exit_code = re.search(r"exitCode=(-?\d+)", str(error))
                raise ConversionError(
                    "Chromium exited at start (exit %s): %s"
                    % (exit_code.group(1) if exit_code else "unknown",
                       first_line(error)))
            raise
        logger.info("chromium: browser %s started, pid %d%s",
                    self._browser.version, self._process.pid,
                    " (in the sandbox)" if self.sandbox is not None and
                    self.sandbox.enabled else "")

    async def _close_browser(self):
        browser, self._browser = self._browser, None
        if browser is not None and browser.is_connected():
            try:
                await asyncio.wait_for(browser.close(), STOP_SECONDS)
            except Exception:
                pass
        self.kill()
        self._reap()

    def _reap(self):
        process, self._process = self._process, None
        if process is not None:
            try:  # Playwright's driver, its parent, reaps it
                process.wait(STOP_SECONDS)
            except psutil.TimeoutExpired:
                logger.error("chromium: pid %d survived SIGKILL",
                             process.pid)
            except psutil.Error:
                pass
        home, self._home = self._home, None
        if home:
            shutil.rmtree(home, ignore_errors=True)

    async def _shutdown(self):
        await self._close_browser()
        await self._stop_playwright()

    async def _stop_playwright(self):
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            try:
                await asyncio.wait_for(playwright.stop(), STOP_SECONDS)
            except Exception:
                logger.warning("chromium: Playwright's driver did not stop "
                               "cleanly")


def write_launcher(path, argv, profile, pid_path):
    """An executable at ``path`` for Playwright's ``executable_path``: it
    writes its pid to ``pid_path`` and execs ``argv`` followed by
    Playwright's arguments, its ``--user-data-dir`` replaced by
    ``profile`` (and Playwright's own, empty, removed).  Playwright's pipe (fds 3 and 4) is inherited through the
    exec chain."""
    script = (
        "#!%s -I\n"
        "# cloudooo's chromium launcher (written by the server).\n"
        "import json, os, sys\n"
        "ARGV, PROFILE, PID_PATH = json.loads(%r)\n"
        "arguments = []\n"
        "for argument in sys.argv[1:]:\n"
        "    if argument.startswith('--user-data-dir='):\n"
        "        try:  # Playwright's, unused: not left if the server dies\n"
        "            os.rmdir(argument.split('=', 1)[1])\n"
        "        except OSError:\n"
        "            pass\n"
        "        argument = '--user-data-dir=' + PROFILE\n"
        "    arguments.append(argument)\n"
        "with open(PID_PATH, 'w') as stream:\n"
        "    stream.write(str(os.getpid()))\n"
        "os.execv(ARGV[0], ARGV + arguments)\n"
        % (sys.executable, json.dumps([argv, profile, pid_path])))
    with open(path, "w") as stream:
        stream.write(script)
    os.chmod(path, 0o700)
    return path


def is_alive(process):
    """Whether a psutil.Process still runs (a zombie does not)."""
    try:
        return process is not None and process.is_running() and \
            process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def first_line(error):
    """An error's first line, without Playwright's call log."""
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
