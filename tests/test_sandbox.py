"""The sandbox on its own (issue 9 §1, §3, §8), with real bubblewrap.

The link check refuses most hostile documents before any converter sees
them; these tests go around it on purpose, to show what the second layer
holds by itself: a canary file placed outside the sandbox's view, a
loopback HTTP server counting the requests it gets (there must be none),
and the host's /etc/shadow and /root.  Where it matters, the same run
without the sandbox is the control showing the test can fail.
"""

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import xmlrpc.client

import psutil
import pytest

from cloudooo.errors import ConfigurationError
from cloudooo.sandbox import Sandbox, SandboxLimits, limits_from_settings
from cloudooo.settings import Settings
from tests import documents
from tests.server import ServerProcess, b64, unb64

PDF_MAGIC = b"%PDF-"
MEGABYTE = 1024 ** 2
# What the host must keep to itself; each exists outside (checked).
HOST_SECRETS = ("/etc/shadow", "/root")


@pytest.fixture
def canary(tmp_path):
    """A host file, outside every sandbox view, whose bytes must never
    come back."""
    path = tmp_path / "outside" / "canary.txt"
    path.parent.mkdir()
    secret = "CANARY-%s" % uuid.uuid4().hex
    path.write_text(secret)
    return path, secret.encode()


@pytest.fixture
def spy(spy_http_server):
    url, hits = spy_http_server
    assert_reachable_outside(url, hits)
    return url, hits


def assert_reachable_outside(url, hits):
    """The spy answers a request made outside the sandbox (then forgets
    it): a zero later means the sandbox, not a dead spy."""
    import urllib.request
    with urllib.request.urlopen(url):
        pass
    assert len(hits) == 1
    del hits[:]


@pytest.fixture
def sandbox_settings(tmp_path):
    return Settings(working_path=str(tmp_path / "var"),
                    sandbox_tool_memory_limit=1024,
                    sandbox_file_size_limit=1, sandbox_process_limit=64)


@pytest.fixture
def request_dir(sandbox_settings):
    """A request's folder, as the handlers make them."""
    path = os.path.join(sandbox_settings.tmp_path, "req-test")
    os.makedirs(path)
    return path


def run_in(sandbox, settings, argv, request_dir, **options):
    """``argv`` through the sandbox launcher, as handlers run their tools."""
    wrapped = sandbox.wrap(argv, writable=[request_dir], cwd=request_dir,
                           limits=limits_from_settings(
                               settings, settings.sandbox_tool_memory_limit),
                           **options)
    return subprocess.run(wrapped, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60, cwd=request_dir)


# Run by the sandbox's own python: what can it see, reach and write?
PROBE_SCRIPT = r"""
import json, os, socket, sys
paths, url_port, request_dir = json.loads(sys.argv[1])
report = {"exists": {path: os.path.exists(path) for path in paths}}
report["passwd"] = open("/etc/passwd").read()
try:
    socket.create_connection(("127.0.0.1", url_port), timeout=5).close()
    report["connected"] = True
except OSError as error:
    report["connected"] = str(error)
def can_write(path):
    try:
        with open(os.path.join(path, "written"), "w") as stream:
            stream.write("x")
        return True
    except OSError:
        return False
report["writes"] = {path: can_write(path) for path in
                    (request_dir, "/usr", "/etc", "/tmp")}
report["limits"] = open("/proc/self/limits").read()
report["home"] = os.environ.get("HOME")
report["pids"] = sorted(int(name) for name in os.listdir("/proc")
                        if name.isdigit())
report["environment"] = sorted(os.environ)
print(json.dumps(report))
"""


def test_the_view_holds_no_host_file_and_no_network(
        sandbox_settings, request_dir, canary, spy, tmp_path):
    canary_path, secret = canary
    url, hits = spy
    port = int(url.split(":")[2].split("/")[0])
    config = tmp_path / "cloudooo.conf"
    config.write_text("[app:main]\n")
    other_request = os.path.join(sandbox_settings.tmp_path, "req-other")
    os.makedirs(other_request)
    hidden = [str(canary_path), str(config), other_request, "/home",
              *HOST_SECRETS]
    assert all(os.path.exists(path) for path in hidden)
    sandbox = Sandbox.from_settings(sandbox_settings)
    result = run_in(sandbox, sandbox_settings,
                    ["/usr/bin/python3", "-c", PROBE_SCRIPT,
                     json.dumps([hidden, port, request_dir])], request_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["exists"] == {path: False for path in hidden}
    assert report["passwd"].splitlines() == [
        "cloudooo:x:1000:1000:cloudooo sandbox:/tmp:/usr/sbin/nologin"]
    assert report["connected"] is not True
    assert hits == []
    assert report["writes"] == {request_dir: True, "/usr": False,
                                "/etc": False, "/tmp": True}
    # The private /tmp was a tmpfs of the sandbox: nothing reached ours.
    assert os.path.exists(os.path.join(request_dir, "written"))
    assert report["home"] == "/tmp"
    # Its own PID namespace: bubblewrap's init and this python, nothing of
    # the host's.
    assert report["pids"] == [1, 2]
    assert secret not in result.stdout + result.stderr
    limits = report["limits"]
    assert re.search(r"Max address space\s+%d\s" % (1024 * MEGABYTE), limits)
    assert re.search(r"Max file size\s+%d\s" % MEGABYTE, limits)
    assert re.search(r"Max processes\s+64\s", limits)


def test_the_environment_keeps_only_what_tools_need(sandbox_settings,
                                                    request_dir):
    sandbox = Sandbox.from_settings(sandbox_settings)
    env = sandbox.environment({"PATH": "/usr/bin", "LANG": "C.UTF-8",
                               "SECRET_TOKEN": "s3cr3t", "HOME": "/root",
                               "CONFIGURED": "yes"}, {"CONFIGURED": "yes"})
    assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8",
                   "CONFIGURED": "yes"}


def test_a_file_over_the_size_limit_cannot_be_written(sandbox_settings,
                                                      request_dir):
    sandbox = Sandbox.from_settings(sandbox_settings)
    result = run_in(sandbox, sandbox_settings,
                    ["dd", "if=/dev/zero", "of=big", "bs=1M", "count=3"],
                    request_dir)
    assert result.returncode != 0
    assert os.path.getsize(os.path.join(request_dir, "big")) <= MEGABYTE


FORK_BOMB = """import os, time
count = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(3)
            os._exit(0)
        count += 1
except OSError:
    pass
print(count)
"""


def test_processes_are_capped_per_sandbox():
    """The kernel exempts root from RLIMIT_NPROC: run as root, this test
    launches the sandbox as nobody, as an unprivileged server would (its
    synthetic /etc then in a folder nobody can read)."""
    with tempfile.TemporaryDirectory(prefix="cloudooo-etc-") as etc:
        os.chmod(etc, 0o755)
        sandbox = Sandbox("bwrap", etc)
        argv = sandbox.wrap(["/usr/bin/python3", "-c", FORK_BOMB],
                            writable=[],
                            limits=SandboxLimits(process_count=64))
        if os.geteuid() == 0:
            argv = ["setpriv", "--reuid=65534", "--regid=65534",
                    "--clear-groups"] + argv
        result = subprocess.run(argv, capture_output=True, timeout=60,
                                cwd="/")
    assert result.returncode == 0, result.stderr
    # Capped at 64 inside, though the host user may run far more.
    assert 0 < int(result.stdout) < 64


def test_bubblewrap_that_cannot_start_stops_the_server_with_advice(
        sandbox_settings):
    sandbox = Sandbox("bwrap", os.path.join(sandbox_settings.working_path,
                                            "etc"), bwrap_path="/bin/false")
    with pytest.raises(ConfigurationError) as caught:
        sandbox.check()
    message = str(caught.value)
    assert "kernel.unprivileged_userns_clone" in message
    assert "sandbox = none" in message


def test_sandbox_none_warns_and_a_wrong_value_is_refused(tmp_path, caplog):
    settings = Settings(working_path=str(tmp_path), sandbox="none")
    with caplog.at_level(logging.WARNING, logger="cloudooo.sandbox"):
        Sandbox.from_settings(settings).prepare()
    assert any(record.levelno == logging.WARNING and "sandbox = none"
               in record.getMessage() for record in caplog.records)
    # Without bubblewrap the argv runs as is, under its limits.
    argv = Sandbox.from_settings(settings).wrap(
        ["true"], writable=[], limits=SandboxLimits(MEGABYTE, MEGABYTE, 5))
    assert argv[-1] == "true" and "bwrap" not in " ".join(argv)
    assert "--nproc=5" not in argv  # it would count the host user's
    with pytest.raises(ConfigurationError) as caught:
        Settings(working_path=str(tmp_path), sandbox="firejail")
    assert "sandbox" in str(caught.value)


# -- ffmpeg and ImageMagick on inputs that point outside -------------------

def media_segment(path):
    """A short MPEG-TS audio segment, as a playlist would list."""
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-f",
                    "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a",
                    "mp2", "-f", "mpegts", str(path)], check=True,
                   capture_output=True, timeout=60)


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_ffmpeg_playlist_cannot_read_a_host_file(tmp_path, mode):
    """An HLS playlist listing a host file, run without the handler's
    demuxer whitelist (which refuses playlists): only the sandbox stands
    between ffmpeg and the host."""
    segment = tmp_path / "outside" / "canary.ts"
    segment.parent.mkdir()
    media_segment(segment)
    settings = Settings(working_path=str(tmp_path / "var"), sandbox=mode)
    request = os.path.join(settings.tmp_path, "req-hls")
    os.makedirs(request)
    with open(os.path.join(request, "input.m3u8"), "w") as stream:
        stream.write("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
                     "file:%s\n#EXT-X-ENDLIST\n" % segment)
    shutil.copy(segment, os.path.join(request, "inside.ts"))
    sandbox = Sandbox.from_settings(settings)

    def to_wav(source):
        result = run_in(sandbox, settings, [
            "ffmpeg", "-hide_banner", "-nostdin", "-y", "-i", source,
            "-f", "wav", "output.wav"], request)
        output = os.path.join(request, "output.wav")
        size = os.path.getsize(output) if os.path.exists(output) else 0
        if os.path.exists(output):
            os.remove(output)
        return result.returncode, size

    # ffmpeg works in there: a segment inside the request's folder converts.
    assert to_wav("file:inside.ts")[0] == 0
    code, size = to_wav("file:input.m3u8")
    if mode == "none":
        assert (code, size > 1000) == (0, True)  # the control: it read it
    else:
        assert code != 0 and size < 1000

@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_ffmpeg_url_input_reaches_no_server(tmp_path, spy, mode):
    url, hits = spy
    settings = Settings(working_path=str(tmp_path / "var"), sandbox=mode)
    os.makedirs(settings.tmp_path)
    sandbox = Sandbox.from_settings(settings)
    result = run_in(sandbox, settings, [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-i", url, "-f", "null",
        "-"], settings.tmp_path)
    if mode == "none":
        assert len(hits) == 1  # the control: ffmpeg fetched (a PNG)
    else:
        assert result.returncode != 0
        assert hits == []


MVG_DRAWING = """viewbox 0 0 8 8
image over 0,0 8,8 '%s'
"""


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_imagemagick_drawing_cannot_read_a_host_file(tmp_path, mode):
    """MVG, which the handler's policy refuses, run here without that
    policy: only the sandbox stands between it and the host.  (This
    ImageMagick refuses URLs in drawings by itself: ffmpeg and python show
    the network is unreachable.)"""
    picture = tmp_path / "outside" / "canary.png"
    picture.parent.mkdir()
    picture.write_bytes(documents.png(8, 8, (1, 2, 3)))
    settings = Settings(working_path=str(tmp_path / "var"), sandbox=mode)
    request = os.path.join(settings.tmp_path, "req-mvg")
    os.makedirs(request)
    with open(os.path.join(request, "input.mvg"), "w") as stream:
        stream.write(MVG_DRAWING % picture)
    result = run_in(Sandbox.from_settings(settings), settings, [
        "convert", "mvg:input.mvg", "-format", "%[pixel:p{4,4}]", "info:"],
        request)
    pixel = result.stdout.decode()
    if mode == "none":
        assert "(1,2,3" in pixel, result.stderr  # the control
    else:
        assert "(1,2,3" not in pixel
        assert b"canary.png" in result.stderr  # could not read it


# -- LibreOffice, through real servers --------------------------------------

@pytest.fixture(scope="module")
def office_servers(tmp_path_factory):
    """A server with the default sandbox and, as the control, one with
    ``sandbox = none``; one office instance each."""
    servers = {}
    try:
        for mode in ("bwrap", "none"):
            servers[mode] = ServerProcess(
                tmp_path_factory.mktemp("office-" + mode), sandbox=mode,
                office_pool_size=1).start()
        yield servers
    finally:
        for process in servers.values():
            assert process.stop() == []


def linked_pictures_doc(workdir, targets):
    """A binary .doc whose pictures are links to ``targets``, made from
    a flat ODT by a LibreOffice of the test's own (in a sandbox, so that
    making it fetches and reads nothing).  The link check cannot parse
    .doc: only the sandbox protects the server from it."""
    frames = "".join(
        '<text:p><draw:frame draw:name="picture%d" text:anchor-type='
        '"as-char" svg:width="2cm" svg:height="2cm"><draw:image '
        'xlink:href="%s" xlink:type="simple" xlink:show="embed" '
        'xlink:actuate="onLoad"/></draw:frame></text:p>' % (number, target)
        for number, target in enumerate(targets))
    source = os.path.join(workdir, "linked.fodt")
    with open(source, "wb") as stream:
        stream.write(documents.fodt(text="linked pictures",
                                    extra_body=frames))
    settings = Settings(working_path=os.path.join(workdir, "var"))
    profile = os.path.join(workdir, "profile")
    os.makedirs(profile)
    argv = Sandbox.from_settings(settings).wrap(
        ["/usr/lib/libreoffice/program/soffice.bin", "--headless",
         "--norestore", "-env:UserInstallation=file://" + profile,
         "--convert-to", "doc", "--outdir", workdir, source],
        writable=[workdir])
    for _start in range(2):  # the first start may only create the profile
        result = subprocess.run(argv, capture_output=True, timeout=120)
        if result.returncode != 81:
            break
    assert result.returncode == 0, result.stderr
    with open(os.path.join(workdir, "linked.doc"), "rb") as stream:
        doc = stream.read()
    for target in targets:
        assert target.encode("utf-16-le") in doc  # the links are in there
    return doc


def test_doc_with_linked_pictures_gets_neither_file_nor_url(
        office_servers, spy, canary, tmp_path):
    url, hits = spy
    canary_path, secret = canary
    picture = canary_path.with_name("canary.jpg")
    subprocess.run(["convert", "-size", "8x8", "xc:#010203", "-set",
                    "comment", secret.decode(), str(picture)], check=True,
                   timeout=60)
    shadow = open("/etc/shadow", "rb").read().split(b"\n")[0]
    targets = ["file://%s" % picture, "file:///etc/shadow", url]
    doc = linked_pictures_doc(str(tmp_path), targets)
    assert hits == [] and secret not in doc

    def images_in_pdf(server):
        pdf = unb64(server.proxy().convertFile(b64(doc), "doc", "pdf"))
        assert pdf.startswith(PDF_MAGIC)
        assert secret not in pdf and shadow not in pdf
        return len(re.findall(rb"/Subtype\s*/Image", pdf))

    assert images_in_pdf(office_servers["bwrap"]) == 0
    assert hits == []
    # The control: without the sandbox, LibreOffice fetches the URL and
    # shows the host's picture.
    assert images_in_pdf(office_servers["none"]) >= 2
    assert hits


def unix_sockets_bound_by(pid):
    """Paths of the unix sockets process ``pid`` has bound, as it sees
    them (from its own network namespace's table, by socket inode)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    paths = []
    with open("/proc/%d/net/unix" % pid) as table:
        next(table)
        for line in table:
            fields = line.split()
            if len(fields) >= 8 and fields[6] in inodes:
                paths.append(fields[7])
    return paths


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_a_stop_leaves_no_osl_pipe(make_server, mode):
    server = make_server(office_pool_size=1, sandbox=mode)
    [office_pid] = server.office_pids()
    pipes = [path for path in unix_sockets_bound_by(office_pid)
             if "OSL_PIPE" in os.path.basename(path)]
    assert pipes, "soffice bound no OSL_PIPE socket"
    if mode == "bwrap":
        # Its /tmp is the instance's own folder: the host's has nothing.
        instance_tmp = os.path.join(server.settings["working_path"],
                                    "instances", "office-0", "tmp")
        host_paths = [os.path.join(instance_tmp, os.path.basename(path))
                      for path in pipes]
        assert not any(os.path.exists(path) for path in pipes)
    else:
        host_paths = pipes
    assert all(os.path.exists(path) for path in host_paths)
    assert server.stop() == []
    assert not any(os.path.exists(path) for path in host_paths + pipes)


def test_restart_log_names_the_old_soffice_pid(make_server):
    server = make_server(office_pool_size=1, monitor_interval=0.5)
    [office_pid] = server.office_pids()
    os.kill(office_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    expected = "soffice pid was %d)" % office_pid
    while expected not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.2)
    assert "pid was None" not in server.log()
    assert convert_small(server).startswith(PDF_MAGIC)


def convert_small(server):
    return unb64(server.proxy().convertFile(b64(documents.fodt()), "fodt",
                                            "pdf"))


def test_sandboxed_office_dies_with_a_killed_server(make_server):
    server = make_server(office_pool_size=1)
    sandboxed = server.children()
    assert server.office_pids()
    os.kill(server.pid, signal.SIGKILL)  # no chance to stop anything
    server.process.wait(10)
    server.pid = None
    gone, alive = psutil.wait_procs(sandboxed, timeout=10)
    assert alive == []


# Headroom over a fresh soffice's address space: enough for a small
# conversion, not for laying out a long document.
OFFICE_HEADROOM_MEGABYTES = 55


def test_office_over_its_memory_limit_faults_and_the_pool_recovers(
        make_server):
    """A document that needs more memory than the office sandbox allows:
    soffice fails, the client gets a Fault, the instance is replaced."""
    from tests.test_supervision import long_document
    # Heavy enough to need far more than the headroom whatever soffice's
    # start-up size (6000 paragraphs sometimes fitted).
    heavy = long_document(20000)
    unlimited = make_server(office_pool_size=1,
                            sandbox_office_memory_limit=0)
    [office_pid] = unlimited.office_pids()
    fresh_megabytes = psutil.Process(office_pid).memory_info().vms // MEGABYTE
    # The control: without the limit, the document converts.
    assert unb64(unlimited.proxy().convertFile(b64(heavy), "fodt", "pdf")) \
        .startswith(PDF_MAGIC)
    assert unlimited.stop() == []
    limited = make_server(office_pool_size=1, sandbox_office_memory_limit=(
        fresh_megabytes + OFFICE_HEADROOM_MEGABYTES))
    with pytest.raises(xmlrpc.client.Fault) as caught:
        limited.proxy().convertFile(b64(heavy), "fodt", "pdf")
    # Short of memory, LibreOffice either dies (twice: the document is
    # retried once) or refuses the load.
    assert caught.value.faultCode == 4, caught.value.faultString
    assert "crashed twice" in caught.value.faultString or \
        "cannot open" in caught.value.faultString, caught.value.faultString
    # The supervision replaced the instance: one healthy soffice serves.
    assert convert_small(limited).startswith(PDF_MAGIC)
    assert len(limited.office_pids()) == 1
    assert os.listdir(limited.tmp_path) == []


def test_the_office_view_holds_its_instance_folders_only(tmp_path, canary):
    """The view an office instance gets (OfficeEntry builds it): its
    profile, its request area and its /tmp writable; the server's request
    folders, working_path and configuration absent."""
    from cloudooo.handler.ooo.entry import OfficeEntry
    canary_path, _secret = canary
    settings = Settings(working_path=str(tmp_path / "var"))
    entry = OfficeEntry(0, settings, "/usr/bin/python3", {})
    for path in (entry.profile_path, entry.requests_path, entry.tmp_path):
        os.makedirs(path)
    waiting = os.path.join(settings.tmp_path, "req-waiting")
    os.makedirs(waiting)
    config = tmp_path / "cloudooo.conf"
    config.write_text("[app:main]\n")
    hidden = [str(canary_path), str(config), waiting,
              os.path.join(settings.working_path, "profiles", "office-1"),
              *HOST_SECRETS]
    os.makedirs(hidden[3])
    probe = (
        "import json, os, sys\n"
        "def writable(path):\n"
        "    try:\n"
        "        open(os.path.join(path, 'x'), 'w').close()\n"
        "        return True\n"
        "    except OSError:\n"
        "        return False\n"
        "paths, places = json.loads(sys.argv[1])\n"
        "print(json.dumps([{p: os.path.exists(p) for p in paths},\n"
        "                  {p: writable(p) for p in places}]))\n")
    places = [entry.profile_path, entry.requests_path, "/tmp",
              settings.working_path, "/usr"]
    result = subprocess.run(
        entry._sandboxed(["/usr/bin/python3", "-c", probe,
                          json.dumps([hidden, places])]),
        capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    exists, writable = json.loads(result.stdout)
    assert exists == {path: False for path in hidden}
    # (working_path exists inside only as the folders leading to the bound
    # ones, written nowhere on the host but, under /tmp, in its own /tmp.)
    del writable[settings.working_path]
    assert writable == {entry.profile_path: True, entry.requests_path: True,
                        "/tmp": True, "/usr": False}
    assert not os.path.exists(os.path.join(settings.working_path, "x"))
    # Its /tmp is the instance's own folder on the host.
    assert os.path.exists(os.path.join(entry.tmp_path, "x"))
