"""cloudooo against its floor and against one-shot soffice, in one run.

    .venv/bin/python bench/bench.py        (or: make bench; ~3-5 minutes)

Starts a server with office_pool_size = 1, one with office_pool_size = 2
(tests.server.ServerProcess, real ``cloudooo serve``) and a bare UNO client
on a soffice.bin of its own (bench/uno_floor.py under /usr/bin/python3),
then measures on the same inputs, interleaved round by round so that
machine noise hits every side alike:

1. floor: load + store + close on a warm bridge, same load options and
   export filters as cloudooo's worker;
2. ours: convertFile through xmlrpc.client (client wall time, base64 both
   ways included), pool of 1, warm;
3. one-shot: ``soffice --headless --convert-to EXT:FILTER[:JSON] --outdir``
   with a private, already created profile;
4. throughput with 4 client threads, pool of 1 against pool of 2, and
   the bare UNO baseline of the same jobs: one uno_floor.py client
   converting them one after the other on its own warm soffice.bin
   (bare1), and two such clients at once, each on its own soffice.bin,
   splitting them (bare2); our clients post request bodies marshalled
   once before the run (PremarshalledClient, as little client CPU as the
   bare clients' paths), and, printed beside, through xmlrpc.client
   marshalling every call (the former figure); the sides rotate order
   run by run;
5. peak RSS of each server process and of every soffice.bin (psutil);
6. the sandbox's cost per conversion: the pool-of-1 server (default
   ``sandbox = bwrap``) against a third one with ``sandbox = none``, calls
   alternated side by side;
7. html -> pdf with page layout through the chromium handler against
   one-shot ``chromium --headless --print-to-pdf`` (bench/chromium_bench.py).

Inputs: small documents generated through the server from tests.documents'
flat ODF, plus ../shared/corpus/ when that folder exists.  Everything
started is stopped (servers, soffice, temporary directories) on the way out,
also on errors and Ctrl-C.
"""

import argparse
import functools
import glob
import http.client
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import psutil  # noqa: E402

from tests import documents  # noqa: E402
from cloudooo.handler.ooo.connection import JsonLineReader  # noqa: E402
from cloudooo.handler.ooo.protocol import WorkerLost  # noqa: E402
from tests.server import ServerProcess, b64, unb64  # noqa: E402
from tests.big_documents import RSS_SAMPLE_SECONDS as BIG_RSS_SAMPLE_SECONDS  # noqa: E402,E501
from tests.big_documents import PeakRss, big_odt  # noqa: E402
sys.path.insert(0, str(PROJECT / "bench"))
import chromium_bench  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
UNO_PYTHON = "/usr/bin/python3"
FLOOR_SCRIPT = PROJECT / "bench" / "uno_floor.py"
SOFFICE_WRAPPER = "/usr/bin/soffice"

# Targets.
LATENCY_TARGET = 1.3       # ours / floor, median, every row: at most
SCALING_TARGET = 1.8       # throughput pool2 / pool1: at least
EFFICIENCY_TARGET = 0.9    # throughput pool2 / bare2 (issue 13): at least

# Repetitions, sized for about 3-5 minutes on a 2-core machine.
WARMUP_CALLS = 2           # per row and side, before measuring
ROUNDS = 60                # measured floor + ours calls per row
ONESHOT_RUNS = 5           # measured one-shot runs per row, spread out
THROUGHPUT_JOBS = 80       # conversions per throughput run
THROUGHPUT_RUNS = 9        # runs per side (see THROUGHPUT_SIDES)
CLIENT_THREADS = 4

# Time limits (seconds): every wait in this script is bounded.
START_TIMEOUT = 120        # a server or the floor up and connected
CALL_TIMEOUT = 120         # one XML-RPC call, one floor request
MIN_OUTPUT_BASE64 = 1000   # a small PDF or docx is longer
ONESHOT_TIMEOUT = 120      # one soffice --convert-to run
STOP_TIMEOUT = 30
RSS_SAMPLE_SECONDS = 0.1
TREE_LIST_SECONDS = 1.0    # how often the sampler looks for new processes

# Big documents (issue 13): sizes in MB, measured rounds of the first.
BIG_SIZES_MB = (20, 100)
BIG_ROUNDS = 5
BIG_RSS_TARGET_MB = 64     # server RSS over idle during one big request
BIG_LATENCY_TARGET = 1.1   # ours / floor on the first size

# Recycling would put a soffice restart into some measured calls; the
# floor never restarts.  The default (100) costs one restart per 100 calls.
SERVER_SETTINGS = {"limit_number_request": 0, "timeout_response": 120,
                   "queue_timeout": 120}


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    destination: str
    filter: str             # what cloudooo's filter catalogue picks
    filter_data: dict = None


PDF_A1 = {"SelectPdfVersion": 1}
CASES = (
    Case("odt->pdf", "odt", "pdf", "writer_pdf_Export", PDF_A1),
    Case("docx->pdf", "docx", "pdf", "writer_pdf_Export", PDF_A1),
    Case("doc->odt", "doc", "odt", "writer8"),
    Case("ods->xlsx", "ods", "xlsx", "Calc Office Open XML"),
    Case("odp->pdf", "odp", "pdf", "impress_pdf_Export",
         dict(PDF_A1, ExportNotesPages=True)),
)
THROUGHPUT_CASES = ("odt->pdf", "docx->pdf")
# pool1, pool2: bodies marshalled before the run (PremarshalledClient);
# "pool1 xmlrpc", "pool2 xmlrpc": xmlrpc.client, as before, printed beside.
XMLRPC_CLIENT_SUFFIX = " xmlrpc"
THROUGHPUT_SIDES = ("bare1", "pool1", "bare2", "pool2",
                    "pool1" + XMLRPC_CLIENT_SUFFIX,
                    "pool2" + XMLRPC_CLIENT_SUFFIX)
# The sandbox's cost: office conversions (its sandbox is made once per
# instance) and one tool conversion (a bubblewrap per tool run).
SANDBOX_CASES = ("odt->pdf", "docx->pdf")
SANDBOX_TOOL_CASE = Case("png->jpg", "png", "jpg", "ImageMagick")
SANDBOX_ROUNDS = 30
SANDBOX_TARGET = 1.05      # sandboxed / unsandboxed office conversion


@dataclass
class Row:
    """One case on one input, with its measurements."""
    case: Case
    origin: str             # "generated" or "corpus"
    path: Path
    floor_ms: list
    ours_ms: list
    oneshot_ms: list

    @property
    def label(self):
        return "%s %s" % (self.case.name, self.origin)


STARTED = time.monotonic()


def log(message, *args):
    """Progress on stderr, with seconds since the start."""
    print("bench [%4.0f s]: %s" % (time.monotonic() - STARTED,
                                   message % args if args else message),
          file=sys.stderr, flush=True)


def check_output(data, destination, what):
    """Refuse a measurement whose output is not a document of its kind."""
    magic = b"%PDF-" if destination == "pdf" else b"PK\x03\x04"
    if not data.startswith(magic):
        raise RuntimeError("%s: output is not a %s file (%d bytes, %r)"
                           % (what, destination, len(data), data[:16]))


def median(values):
    return statistics.median(values)


def p90(values):
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


# -- ours: XML-RPC ------------------------------------------------------------

class TimeoutTransport(xmlrpc.client.Transport):
    """xmlrpc.client's keep-alive transport with a socket timeout."""

    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = CALL_TIMEOUT
        return connection


def proxy_for(server):
    return xmlrpc.client.ServerProxy(server.url, allow_none=True,
                                     transport=TimeoutTransport())


def convert_ours(proxy, data, case):
    """One convertFile as a client sees it; (milliseconds, output bytes)."""
    started = time.perf_counter()
    result = unb64(proxy.convertFile(b64(data), case.source,
                                     case.destination))
    return (time.perf_counter() - started) * 1000.0, result


class PremarshalledClient:
    """convertFile on a keep-alive connection, its request body marshalled
    before the timed run: the throughput side's client then spends about
    as little CPU per conversion as the bare clients (which send a path),
    instead of xmlrpc.client's base64 and marshalling of every call on the
    cores it measures.  The answer is checked cheaply: no fault, a string
    whose first decoded bytes are the destination's magic."""

    def __init__(self, server):
        self.connection = http.client.HTTPConnection(
            "127.0.0.1", server.port, timeout=CALL_TIMEOUT)

    @staticmethod
    def body(data, case):
        return xmlrpc.client.dumps((b64(data), case.source, case.destination),
                                   "convertFile", allow_none=True).encode()

    def convert(self, body, case):
        self.connection.request("POST", "/RPC2", body,
                                {"Content-Type": "text/xml"})
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError("throughput: HTTP %d" % response.status)
        start = answer.find(b"<string>", 0, 200)
        if start < 0 or b"<fault>" in answer[:200]:
            raise RuntimeError("throughput: no document in %r" % answer[:300])
        start += len(b"<string>")
        # 12 base64 characters are 9 bytes: the magic of both outputs.
        check_output(unb64(answer[start:start + 12].decode()),
                     case.destination, "throughput")
        if answer.find(b"</string>", start) < start + MIN_OUTPUT_BASE64:
            raise RuntimeError("throughput: output shorter than %d base64 "
                               "characters" % MIN_OUTPUT_BASE64)

    def close(self):
        self.connection.close()


# -- the floor: bench/uno_floor.py --------------------------------------------

class FloorClient:
    """The uno_floor.py child and its JSON-lines channel."""

    def __init__(self, workdir, name="UNO floor"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.popen = None
        self._pending_jobs = 0
        self.ready = {}
        self._reader = None

    @property
    def soffice_pid(self):
        return self.ready.get("soffice_pid")

    def start(self):
        with open(self.workdir / "floor.log", "wb") as stderr:
            self.popen = subprocess.Popen(
                [UNO_PYTHON, str(FLOOR_SCRIPT), "--start-timeout",
                 str(START_TIMEOUT)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=stderr,
                start_new_session=True)
        self._reader = JsonLineReader(self.popen.stdout)
        self.ready = self._read(START_TIMEOUT + 10)
        if not self.ready.get("ready"):
            raise RuntimeError("%s did not start: %s\n%s" % (
                self.name, self.ready.get("error"), self.log()))
        return self

    def log(self):
        try:
            return (self.workdir / "floor.log").read_text(
                errors="replace")[-4000:]
        except OSError:
            return ""

    def convert(self, path, case, repeat=1):
        """Milliseconds of ``repeat`` conversions; the output file path."""
        output = self.workdir / ("out." + case.destination)
        request = {"input": str(path), "output": str(output),
                   "filter": case.filter, "filter_data": case.filter_data,
                   "repeat": repeat}
        self.popen.stdin.write(json.dumps(request).encode() + b"\n")
        self.popen.stdin.flush()
        answer = self._read(CALL_TIMEOUT * repeat)
        if not answer.get("ok"):
            raise RuntimeError("floor %s on %s: %s"
                               % (case.name, path, answer.get("error")))
        return answer["ms"], output

    def send_jobs(self, jobs):
        """Start a throughput-mode request; ``jobs_done`` waits for it."""
        self._pending_jobs = len(jobs)
        self.popen.stdin.write(json.dumps({"jobs": jobs}).encode() + b"\n")
        self.popen.stdin.flush()

    def jobs_done(self):
        """The answer to ``send_jobs``: (count, seconds in the child)."""
        answer = self._read(CALL_TIMEOUT * max(1, self._pending_jobs))
        if not answer.get("ok") or answer.get("count") != self._pending_jobs:
            raise RuntimeError("%s throughput request: %s"
                               % (self.name, answer.get("error", answer)))
        return answer["count"], answer["seconds"]

    def _read(self, timeout):
        try:
            return self._reader.read(timeout)
        except WorkerLost as error:  # WorkerTimeout included
            raise RuntimeError("%s: %s (exit code %s):\n%s" % (
                self.name, error, self.popen.poll(), self.log()))

    def stop(self):
        """End of input makes the floor stop its soffice; TERM, then KILL
        if it does not.  Its soffice is killed by PID if still there."""
        popen, self.popen = self.popen, None
        if popen is None:
            return
        try:
            popen.stdin.close()
        except OSError:
            pass
        for signum in (None, signal.SIGTERM, signal.SIGKILL):
            if signum is not None and popen.poll() is None:
                popen.send_signal(signum)
            try:
                popen.wait(10)
                break
            except subprocess.TimeoutExpired:
                continue
        popen.stdout.close()
        # Normally done by the floor itself; not when it had to be killed.
        pid = self.soffice_pid
        if pid and psutil.pid_exists(pid):
            try:
                office = psutil.Process(pid)
                if office.name() == "soffice.bin" and any(
                        "cloudooo-floor-" in part for part in office.cmdline()):
                    office.kill()
                    office.wait(10)
            except psutil.Error:
                pass
        tempdir = self.ready.get("tempdir") or ""
        if os.path.basename(tempdir).startswith("cloudooo-floor-"):
            shutil.rmtree(tempdir, ignore_errors=True)


# -- one-shot soffice --convert-to ------------------------------------------

def oneshot_spec(case):
    """``EXT:FILTER[:JSON]``: the same filter and options as the others
    (JSON filter options on the command line work since LibreOffice 7.4)."""
    spec = "%s:%s" % (case.destination, case.filter)
    if case.filter_data:
        options = {}
        for name, value in case.filter_data.items():
            if isinstance(value, bool):
                options[name] = {"type": "boolean",
                                 "value": "true" if value else "false"}
            else:
                options[name] = {"type": "long", "value": str(value)}
        spec += ":" + json.dumps(options, separators=(",", ":"))
    return spec


class OneShot:
    """``soffice --convert-to`` runs sharing one private profile."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.profile_url = (self.workdir / "profile").as_uri()
        self._runs = 0

    def convert(self, path, case):
        """Milliseconds of one run; checks its output."""
        self._runs += 1
        run_dir = self.workdir / ("run-%d" % self._runs)
        input_path = run_dir / ("document." + case.source)
        output_dir = run_dir / "out"
        output_dir.mkdir(parents=True)
        shutil.copyfile(path, input_path)
        argv = [SOFFICE_WRAPPER, "-env:UserInstallation=" + self.profile_url,
                "--headless", "--invisible", "--norestore", "--nologo",
                "--nodefault", "--convert-to", oneshot_spec(case),
                "--outdir", str(output_dir), str(input_path)]
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            output, _ = process.communicate(timeout=ONESHOT_TIMEOUT)
        except BaseException:
            # Timeout or Ctrl-C: the wrapper's whole session goes.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
            raise
        elapsed = (time.perf_counter() - started) * 1000.0
        result = output_dir / ("document." + case.destination)
        if process.returncode != 0 or not result.exists():
            raise RuntimeError("one-shot %s failed (exit %s): %s" % (
                case.name, process.returncode,
                output.decode(errors="replace")[-500:]))
        check_output(result.read_bytes(), case.destination,
                     "one-shot " + case.name)
        shutil.rmtree(run_dir, ignore_errors=True)
        return elapsed


# -- memory and CPU ---------------------------------------------------------

def process_kind(process):
    """What a process under a server is: soffice.bin, uno worker, helper."""
    name = process.name()
    if name == "soffice.bin":
        return "soffice.bin"
    if name.startswith("python"):
        return "uno worker"
    return "helper"


class CpuAccount:
    """CPU seconds spent per component while a server is under load: the
    client (this process), the server, its uno workers, its soffice.bin
    (with their helpers) and everything else on the machine."""

    CATEGORIES = ("client", "server", "uno worker", "soffice.bin", "other")

    def __init__(self):
        self.seconds = dict.fromkeys(self.CATEGORIES, 0.0)
        self.busy_seconds = 0.0
        self.wall_seconds = 0.0
        self.jobs = 0

    @staticmethod
    def snapshot(server_pid):
        """({pid: (category, cpu seconds)}, machine busy seconds)."""
        result = {}
        try:
            root = psutil.Process(server_pid)
            processes = [(psutil.Process(), "client"), (root, "server")] + [
                (child, None) for child in root.children(recursive=True)]
        except psutil.Error:
            processes = []
        for process, category in processes:
            try:
                category = category or process_kind(process)
                times = process.cpu_times()
            except psutil.Error:
                continue
            if category == "helper":
                category = "soffice.bin"
            result[process.pid] = (category, times.user + times.system)
        machine = psutil.cpu_times()
        # guest time is already in user; steal and iowait are not ours.
        busy = machine.user + machine.nice + machine.system + \
            getattr(machine, "irq", 0.0) + getattr(machine, "softirq", 0.0)
        return result, busy

    def add(self, before, after, wall_seconds, jobs):
        (processes_before, busy_before), (processes_after, busy_after) = \
            before, after
        ours = 0.0
        for pid, (category, seconds) in processes_after.items():
            spent = seconds - processes_before.get(pid, (category, 0.0))[1]
            self.seconds[category] += spent
            ours += spent
        busy = busy_after - busy_before
        self.seconds["other"] += max(0.0, busy - ours)
        self.busy_seconds += busy
        self.wall_seconds += wall_seconds
        self.jobs += jobs

    def per_job_ms(self, category):
        return 1000.0 * self.seconds[category] / max(1, self.jobs)

    def ours_per_job_ms(self):
        return sum(self.per_job_ms(category)
                   for category in self.CATEGORIES if category != "other")


def soffice_schedstat(pids):
    """(seconds on a CPU, seconds runnable but waiting for one), summed
    over every thread of the processes ``pids``, from the scheduler's own
    counters (/proc/PID/task/TID/schedstat, Linux)."""
    running = waiting = 0
    for pid in pids:
        for path in glob.glob("/proc/%d/task/*/schedstat" % pid):
            try:
                with open(path) as stats:
                    on_cpu, runnable, _slices = stats.read().split()
            except (OSError, ValueError):
                continue  # a thread that ended meanwhile
            running += int(on_cpu)
            waiting += int(runnable)
    return running / 1e9, waiting / 1e9


class SchedAccount:
    """What the soffice.bin processes of one throughput side did per
    conversion: time on a CPU, and time runnable but waiting for a CPU.
    The same on-CPU time on two sides means LibreOffice did the same work;
    a longer wait is the cores' contention (the other soffice, the server,
    the workers, the clients) that the side's wall clock pays."""

    def __init__(self):
        self.on_cpu = self.waiting = 0.0
        self.jobs = 0

    def add(self, before, after, jobs):
        """Readings of soffice_schedstat around a run of ``jobs``."""
        self.on_cpu += after[0] - before[0]
        self.waiting += after[1] - before[1]
        self.jobs += jobs

    def per_job_ms(self):
        jobs = max(1, self.jobs)
        return 1000.0 * self.on_cpu / jobs, 1000.0 * self.waiting / jobs


class RssSampler:
    """Peak RSS of process trees, per phase, sampled in a thread.

    Listing a tree reads every /proc entry, so trees are listed once a
    second and only their known members' RSS is read at each sample: the
    sampler runs on the cores it measures and must stay cheap.
    """

    def __init__(self, interval=RSS_SAMPLE_SECONDS):
        self.interval = interval
        self.roots = {}                # owner -> pid of the tree's root
        self.phase = "start-up"
        self.peaks = {}                # (phase, owner, kind, pid) -> bytes
        self._members = []             # [(owner, kind, psutil.Process)]
        self._listed_at = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler",
                                        daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _loop(self):
        while not self._stop.wait(self.interval):
            if time.monotonic() - self._listed_at >= TREE_LIST_SECONDS:
                self._list_members()
            for owner, kind, process in self._members:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                key = (self.phase, owner, kind, process.pid)
                if rss > self.peaks.get(key, 0):
                    self.peaks[key] = rss

    def _list_members(self):
        self._listed_at = time.monotonic()
        members = []
        for owner, pid in list(self.roots.items()):
            try:
                root = psutil.Process(pid)
                members.append((owner, "root", root))
                for child in root.children(recursive=True):
                    kind = process_kind(child)
                    # Short-lived helpers soffice forks (named after the
                    # forking thread, e.g. cppu_threadpool) are left out.
                    if kind != "helper":
                        members.append((owner, kind, child))
            except psutil.Error:
                continue
        self._members = members

    def table(self):
        """[(owner, kind, pid, peak in throughput phase, peak overall)]."""
        overall = {}
        for (phase, owner, kind, pid), rss in self.peaks.items():
            key = (owner, kind, pid)
            overall[key] = max(overall.get(key, 0), rss)
        return [(owner, kind, pid,
                 self.peaks.get(("throughput", owner, kind, pid)), rss)
                for (owner, kind, pid), rss in sorted(
                    overall.items(), key=lambda item: (
                        item[0][0], item[0][1] != "root", item[0][1],
                        item[0][2]))]


# -- big documents -----------------------------------------------------------


def tree_cpu_seconds(server_pid):
    """CPU seconds so far of the server and of its UNO workers."""
    server = psutil.Process(server_pid)
    workers = 0.0
    for child in server.children(recursive=True):
        try:
            if process_kind(child) == "uno worker":
                times = child.cpu_times()
                workers += times.user + times.system
        except psutil.Error:
            continue
    times = server.cpu_times()
    return times.user + times.system, workers


@dataclass
class BigResult:
    size_mb: int
    floor_ms: list
    ours_ms: list
    client_ms: list
    rss_over_idle_mb: list
    server_cpu_ms: list
    worker_cpu_ms: list


def big_request_body(data, case):
    """The convertFile body as xmlrpc.client makes it; (body, ms spent)."""
    started = time.perf_counter()
    body = xmlrpc.client.dumps((b64(data), case.source, case.destination),
                               "convertFile", allow_none=True).encode(
                                   "utf-8", "xmlcharrefreplace")
    return body, (time.perf_counter() - started) * 1000.0


def post_big(server, body):
    """Send a ready body, read and decode the answer: (ms, output)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", server.port,
                                            timeout=CALL_TIMEOUT)
    try:
        connection.request("POST", "/RPC2", body,
                           {"Content-Type": "text/xml"})
        answer = connection.getresponse().read()
    finally:
        connection.close()
    (text,), _method = xmlrpc.client.loads(answer)
    output = unb64(text)
    return (time.perf_counter() - started) * 1000.0, output


def measure_big(server, floor, directory, rounds, sizes_mb=BIG_SIZES_MB):
    """ODT (text + 12 photos) -> PDF of each size: floor and ours
    alternated (``rounds`` for the first size, one for the others), with
    the server's RSS over idle and its and its worker's CPU per call.
    Ours is timed from a ready request body to the decoded output, as the
    floor from a file on disk; the client's marshalling (encodebytes and
    xmlrpc.client.dumps) is timed apart."""
    case = next(case for case in CASES if case.name == "odt->pdf")
    directory.mkdir(parents=True, exist_ok=True)
    results = []
    for index, size_mb in enumerate(sizes_mb):
        path = big_odt(directory / ("big-%d.odt" % size_mb),
                       size_mb * 1024 ** 2)
        data = path.read_bytes()
        result = BigResult(size_mb, [], [], [], [], [], [])
        runs = rounds if index == 0 else 1
        log("big documents: %d MB odt->pdf, %d round(s), plus warm-up",
            size_mb, runs)
        body, _ms = big_request_body(data, case)
        check_output(post_big(server, body)[1], "pdf",
                     "ours big %d MB" % size_mb)
        check_output(floor.convert(path, case)[1].read_bytes(), "pdf",
                     "floor big %d MB" % size_mb)
        for round_number in range(runs):
            sides = ["floor", "ours"]
            if round_number % 2:
                sides.reverse()
            for side in sides:
                if side == "floor":
                    result.floor_ms.extend(floor.convert(path, case)[0])
                    continue
                del body
                body, client_ms = big_request_body(data, case)
                result.client_ms.append(client_ms)
                idle = psutil.Process(server.pid).memory_info().rss
                cpu_before = tree_cpu_seconds(server.pid)
                with PeakRss(server.pid) as rss:
                    ms, _output = post_big(server, body)
                cpu_after = tree_cpu_seconds(server.pid)
                result.ours_ms.append(ms)
                result.rss_over_idle_mb.append((rss.peak - idle) / 1024 ** 2)
                result.server_cpu_ms.append(
                    1000 * (cpu_after[0] - cpu_before[0]))
                result.worker_cpu_ms.append(
                    1000 * (cpu_after[1] - cpu_before[1]))
        del data, body
        path.unlink()
        results.append(result)
    return results


def report_big(results):
    lines = ["", "Big documents: ODT of text + 12 photos -> PDF, pool of 1, "
             "floor and ours alternated (ms; ours: ready body -> decoded "
             "output; client: encodebytes + dumps of the request, apart; "
             "RSS: server peak over idle, sampled every %.0f ms; CPU per "
             "call)" % (1000 * BIG_RSS_SAMPLE_SECONDS)]
    header = "%-7s %5s %9s %9s %10s %8s %13s %10s %10s" % (
        "size", "calls", "floor med", "ours med", "ours/floor", "client",
        "RSS over idle", "server CPU", "worker CPU")
    lines += [header, "-" * len(header)]
    for result in results:
        lines.append("%-7s %5d %9.0f %9.0f %9.2fx %8.0f %10.1f MB %7.0f ms "
                     "%7.0f ms" % (
                         "%d MB" % result.size_mb, len(result.ours_ms),
                         median(result.floor_ms), median(result.ours_ms),
                         median(result.ours_ms) / median(result.floor_ms),
                         median(result.client_ms),
                         max(result.rss_over_idle_mb),
                         median(result.server_cpu_ms),
                         median(result.worker_cpu_ms)))
    first = results[0]
    ratio = median(first.ours_ms) / median(first.floor_ms)
    worst_rss = max(max(result.rss_over_idle_mb) for result in results)
    lines.append("  %d MB ours/floor <= %.1fx: %s (%.2fx); server RSS over "
                 "idle <= %d MB: %s (worst %.1f MB)" % (
                     first.size_mb, BIG_LATENCY_TARGET,
                     "PASS" if ratio <= BIG_LATENCY_TARGET else "MISS",
                     ratio, BIG_RSS_TARGET_MB,
                     "PASS" if worst_rss <= BIG_RSS_TARGET_MB else "MISS",
                     worst_rss))
    print("\n".join(lines), flush=True)


# -- the run ----------------------------------------------------------------

def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model,
            "memory_gib": memory_kb / 1024 ** 2,
            "load": os.getloadavg()}


def start_all(starters):
    """Run the start() callables in parallel; raise the first failure."""
    failures = []

    def run(start):
        try:
            start()
        except BaseException as error:  # reported in the main thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(start,), daemon=True)
               for start in starters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(START_TIMEOUT + 30)
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("start-up did not finish within %s s"
                           % (START_TIMEOUT + 30))
    if failures:
        raise failures[0]


def make_inputs(server, directory):
    """The generated inputs, made by the server from flat ODF."""
    proxy = proxy_for(server)
    directory.mkdir(parents=True)

    def convert(data, source, destination):
        return unb64(proxy.convertFile(b64(data), source, destination))

    odt = convert(documents.fodt(), "fodt", "odt")
    made = {"odt": odt,
            "docx": convert(odt, "odt", "docx"),
            "doc": convert(odt, "odt", "doc"),
            "ods": convert(documents.fods(), "fods", "ods"),
            "odp": convert(documents.fodp(), "fodp", "odp")}
    paths = {}
    for extension, data in made.items():
        paths[extension] = directory / ("generated." + extension)
        paths[extension].write_bytes(data)
    return paths


def build_rows(generated):
    rows = [Row(case, "generated", generated[case.source], [], [], [])
            for case in CASES]
    if CORPUS.is_dir():
        for case in CASES:
            path = CORPUS / ("test." + case.source)
            if path.exists():
                rows.append(Row(case, "corpus", path, [], [], []))
    rows.sort(key=lambda row: CASES.index(row.case))
    return rows


def measure_latency(rows, floor, proxy, oneshot, rounds, oneshot_runs):
    inputs = {row.label: row.path.read_bytes() for row in rows}
    log("warm-up: %d calls per row and side, one one-shot run",
        WARMUP_CALLS)
    for row in rows:
        for _ in range(WARMUP_CALLS):
            _ms, result = convert_ours(proxy, inputs[row.label], row.case)
            check_output(result, row.case.destination, "ours " + row.label)
        _ms, output = floor.convert(row.path, row.case, WARMUP_CALLS)
        check_output(output.read_bytes(), row.case.destination,
                     "floor " + row.label)
    oneshot.convert(rows[0].path, rows[0].case)  # creates the profile
    spacing = max(1, rounds // max(1, oneshot_runs))
    for round_number in range(rounds):
        log("latency round %d/%d", round_number + 1, rounds)
        for index, row in enumerate(rows):
            sides = ["floor", "ours"]
            if (round_number + index) % 2:
                sides.reverse()
            for side in sides:
                if side == "floor":
                    row.floor_ms.extend(floor.convert(row.path, row.case)[0])
                else:
                    row.ours_ms.append(convert_ours(
                        proxy, inputs[row.label], row.case)[0])
            if round_number % spacing == 0 and \
                    len(row.oneshot_ms) < oneshot_runs:
                row.oneshot_ms.append(oneshot.convert(row.path, row.case))


def throughput_run(server, jobs, threads, account=None, premarshalled=False):
    """Conversions per second of ``jobs`` [(data, case)] over ``threads``
    client threads, each with its own keep-alive connection; CPU time goes
    to ``account``.  ``premarshalled``: the jobs are [(request body,
    case)], sent by PremarshalledClient instead of xmlrpc.client."""
    work = queue.Queue()
    for job in jobs:
        work.put(job)
    failures = []

    def client():
        proxy = PremarshalledClient(server) if premarshalled \
            else proxy_for(server)
        while not failures:
            try:
                data, case = work.get_nowait()
            except queue.Empty:
                break
            try:
                if premarshalled:
                    proxy.convert(data, case)
                else:
                    _ms, result = convert_ours(proxy, data, case)
                    check_output(result, case.destination, "throughput")
            except Exception as error:  # reported in the main thread
                failures.append(error)
        if premarshalled:
            proxy.close()

    workers = [threading.Thread(target=client, name="client-%d" % number,
                                daemon=True) for number in range(threads)]
    before = CpuAccount.snapshot(server.pid)
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + CALL_TIMEOUT * len(jobs)
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - started
    if any(worker.is_alive() for worker in workers):
        raise RuntimeError("throughput run did not finish in time")
    if failures:
        raise failures[0]
    if account is not None:
        account.add(before, CpuAccount.snapshot(server.pid), elapsed,
                    len(jobs))
    return len(jobs) / elapsed


def bare_jobs(client, generated, cases):
    """uno_floor.py throughput jobs for ``cases``, in that order, on the
    client's own copies of the inputs (a load takes a lock file next to
    its input; two soffices must not share one) and outputs."""
    inputs = {}
    jobs = []
    for case in cases:
        if case.source not in inputs:
            inputs[case.source] = client.workdir / ("input." + case.source)
            shutil.copyfile(generated[case.source], inputs[case.source])
        jobs.append({"input": str(inputs[case.source]),
                     "output": str(client.workdir / (
                         "%s-%s.%s" % (case.source, case.destination,
                                       case.destination))),
                     "filter": case.filter, "filter_data": case.filter_data,
                     "magic": "%PDF-" if case.destination == "pdf"
                     else "PK\x03\x04"})
    return jobs


def bare_run(parts):
    """Conversions per second of bare clients working at once, each on its
    own list of jobs: [(FloorClient, jobs)], over the wall time from the
    first request sent to the last answer read."""
    started = time.perf_counter()
    for client, jobs in parts:
        client.send_jobs(jobs)
    # Answers are read in order; one that came first waits in its pipe,
    # and the clock stops after the last.  Any error ends the benchmark.
    counts = [client.jobs_done()[0] for client, _jobs in parts]
    elapsed = time.perf_counter() - started
    return sum(counts) / elapsed


def measure_throughput(servers, bares, generated, runs, jobs_per_run):
    """Rates of the four sides, run by run in rotating order: bare1 (one
    bare client, alternately a and b), pool1, bare2 (both bare clients,
    each half of the jobs), pool2."""
    by_name = {case.name: case for case in CASES}
    cases = [by_name[name] for name in THROUGHPUT_CASES]
    payloads = {case.name: generated[case.source].read_bytes()
                for case in cases}
    job_cases = [cases[i % len(cases)] for i in range(jobs_per_run)]
    jobs = [(payloads[case.name], case) for case in job_cases]
    bodies = {case.name: PremarshalledClient.body(payloads[case.name], case)
              for case in cases}
    premarshalled_jobs = [(bodies[case.name], case) for case in job_cases]
    half = len(job_cases) // 2
    bare_all = {name: bare_jobs(client, generated, job_cases)
                for name, client in bares.items()}
    pair = [(bares["a"], bare_all["a"][:half]),
            (bares["b"], bare_all["b"][half:])]
    warm = 4 * CLIENT_THREADS
    log("throughput warm-up")
    for server in servers.values():
        throughput_run(server, jobs[:warm], CLIENT_THREADS)
    bare_run([(client, bare_all[name][:warm])
              for name, client in bares.items()])
    rates = {name: [] for name in THROUGHPUT_SIDES}
    accounts = {name: CpuAccount() for name in THROUGHPUT_SIDES
                if name.startswith("pool")}
    scheduling = {name: SchedAccount() for name in THROUGHPUT_SIDES}
    office_pids = {name: server.office_pids()
                   for name, server in servers.items()}
    sides = THROUGHPUT_SIDES
    for run in range(runs):
        shift = run % len(sides)
        for name in sides[shift:] + sides[:shift]:
            log("throughput run %d/%d, %s", run + 1, runs, name)
            if name.startswith("bare"):
                single = "a" if run % 2 == 0 else "b"
                parts = pair if name == "bare2" else [
                    (bares[single], bare_all[single])]
                pids = [client.soffice_pid for client, _jobs in parts]
                run_side = functools.partial(bare_run, parts)
            elif name.endswith(XMLRPC_CLIENT_SUFFIX):
                pool = name[:-len(XMLRPC_CLIENT_SUFFIX)]
                pids = office_pids[pool]
                run_side = functools.partial(
                    throughput_run, servers[pool], jobs, CLIENT_THREADS,
                    accounts[name])
            else:
                pids = office_pids[name]
                run_side = functools.partial(
                    throughput_run, servers[name], premarshalled_jobs,
                    CLIENT_THREADS, accounts[name], premarshalled=True)
            before = soffice_schedstat(pids)
            rates[name].append(run_side())
            scheduling[name].add(before, soffice_schedstat(pids),
                                 jobs_per_run)
    return rates, accounts, scheduling


def measure_sandbox_cost(sandboxed, unsandboxed, generated, rounds):
    """Median ms per case on the two servers, calls alternated (which side
    goes first swaps round by round): {case name: (bwrap, none)}."""
    by_name = {case.name: case for case in CASES}
    cases = [by_name[name] for name in SANDBOX_CASES] + [SANDBOX_TOOL_CASE]
    payloads = {case.name: generated[case.source].read_bytes()
                if case.source in generated else documents.png(64, 64)
                for case in cases}
    proxies = {"bwrap": proxy_for(sandboxed),
               "none": proxy_for(unsandboxed)}
    timings = {case.name: {"bwrap": [], "none": []} for case in cases}
    log("sandbox cost: %d rounds of %s on both servers", rounds,
        ", ".join(case.name for case in cases))
    for round_number in range(WARMUP_CALLS + rounds):
        sides = ("bwrap", "none") if round_number % 2 == 0 \
            else ("none", "bwrap")
        for case in cases:
            for side in sides:
                ms, result = convert_ours(proxies[side],
                                          payloads[case.name], case)
                if case.destination == "jpg":
                    if not result.startswith(b"\xff\xd8"):
                        raise RuntimeError("sandbox cost: not a JPEG")
                else:
                    check_output(result, case.destination, "sandbox cost")
                if round_number >= WARMUP_CALLS:
                    timings[case.name][side].append(ms)
    return {name: (median(sides["bwrap"]), median(sides["none"]))
            for name, sides in timings.items()}


def report_sandbox_cost(costs, rounds):
    lines = ["Sandbox cost per conversion, ms (pool of 1, sandbox = bwrap "
             "against sandbox = none, %d calls each, alternated)" % rounds]
    header = "%-20s %9s %9s %9s" % ("case", "bwrap", "none", "ratio")
    lines += [header, "-" * len(header)]
    office_ratios = []
    for name, (sandboxed, unsandboxed) in costs.items():
        ratio = sandboxed / unsandboxed
        if name != SANDBOX_TOOL_CASE.name:
            office_ratios.append(ratio)
        lines.append("%-20s %9.1f %9.1f %8.2fx" % (name, sandboxed,
                                                    unsandboxed, ratio))
    worst = max(office_ratios)
    lines.append("  office conversions: sandbox cost <= %.2fx: %s (worst "
                 "%.2fx); %s runs three tools, each in a bubblewrap of "
                 "its own" % (SANDBOX_TARGET, "PASS" if worst <=
                              SANDBOX_TARGET else "MISS", worst,
                              SANDBOX_TOOL_CASE.name))
    print("\n".join(lines + [""]), flush=True)


# -- report -----------------------------------------------------------------

def report(info, rows, rates, accounts, scheduling, sampler, elapsed,
           corpus_note, jobs_per_run):
    lines = []
    add = lines.append
    add("")
    add("cloudooo benchmark")
    add("machine: %d CPUs (nproc), %s, %.1f GiB RAM, %s" % (
        info["nproc"], info["cpu"], info["memory_gib"], info["office"]))
    add("load average at start %.2f, at end %.2f; run took %.0f s" % (
        info["load"][0], os.getloadavg()[0], elapsed))
    add("inputs: generated from tests/documents.py flat ODF; %s"
        % corpus_note)
    add("")
    add("Latency, ms (%d rounds, floor and ours alternated; one-shot: %d "
        "runs per row)" % (len(rows[0].ours_ms), len(rows[0].oneshot_ms)))
    header = ("%-20s %9s %9s %9s %11s %10s %12s" % (
        "case", "floor med", "ours med", "ours p90", "ours/floor",
        "1shot med", "1shot/ours"))
    add(header)
    add("-" * len(header))
    worst = None
    for row in rows:
        floor_median, ours_median = median(row.floor_ms), median(row.ours_ms)
        ratio = ours_median / floor_median
        oneshot_median = median(row.oneshot_ms)
        if worst is None or ratio > worst[1]:
            worst = (row.label, ratio)
        add("%-20s %9.1f %9.1f %9.1f %10.2fx %10.0f %11.1fx" % (
            row.label, floor_median, ours_median, p90(row.ours_ms), ratio,
            oneshot_median, oneshot_median / ours_median))
    add("")
    pool1, pool2 = median(rates["pool1"]), median(rates["pool2"])
    bare1, bare2 = median(rates["bare1"]), median(rates["bare2"])
    scaling = pool2 / pool1
    bare_scaling = bare2 / bare1
    add("Throughput, conversions/s (%d x %s per run, median of %d runs per "
        "side, order rotated run by run)" % (
            jobs_per_run, "+".join(THROUGHPUT_CASES), len(rates["pool1"])))
    add("  ours: %d client threads over XML-RPC, each request body "
        "marshalled ONCE before the run and posted with http.client "
        "keep-alive, the answer checked by its magic and length (as the "
        "bare clients, which send a path, the clients then spend little "
        "CPU on the measured cores); 'xmlrpc': the same with xmlrpc.client "
        "marshalling every call, the previous figure" % CLIENT_THREADS)
    add("  bare: uno_floor.py, one sequential UNO client per soffice.bin")
    for name, label in (("bare1", "bare1 (1 client, 1 soffice)  "),
                        ("pool1", "pool1 (ours, 1 soffice)      "),
                        ("bare2", "bare2 (2 clients, 2 soffices)"),
                        ("pool2", "pool2 (ours, 2 soffices)     "),
                        ("pool1 xmlrpc", "pool1 xmlrpc (xmlrpc.client) "),
                        ("pool2 xmlrpc", "pool2 xmlrpc (xmlrpc.client) ")):
        add("  %s %6.2f   (runs: %s)" % (label, median(rates[name]), ", ".join(
            "%.2f" % rate for rate in rates[name])))
    add("  pool2/pool1 %.2fx   bare2/bare1 %.2fx" % (scaling, bare_scaling))
    add("  efficiency: pool1/bare1 %.2fx   pool2/bare2 %.2fx   (xmlrpc.client:"
        " pool1/bare1 %.2fx   pool2/bare2 %.2fx)" % (
            pool1 / bare1, pool2 / bare2,
            median(rates["pool1 xmlrpc"]) / bare1,
            median(rates["pool2 xmlrpc"]) / bare2))
    add("")
    add("CPU per conversion during the throughput runs, ms (client = this "
        "script, on the same cores)")
    header = "%-12s %7s %7s %11s %12s %7s %7s %14s" % (
        "", "client", "server", "uno worker", "soffice.bin", "ours",
        "other", "machine busy")
    add(header)
    add("-" * len(header))
    for name, account in accounts.items():
        add("%-12s %7.1f %7.1f %11.1f %12.1f %7.1f %7.1f %8.2f cores" % (
            name, account.per_job_ms("client"), account.per_job_ms("server"),
            account.per_job_ms("uno worker"),
            account.per_job_ms("soffice.bin"), account.ours_per_job_ms(),
            account.per_job_ms("other"),
            account.busy_seconds / max(account.wall_seconds, 1e-9)))
    add("")
    add("soffice.bin per conversion during the throughput runs, ms (all its "
        "threads, from /proc/PID/task/*/schedstat): on a CPU = LibreOffice's "
        "work; waiting = runnable while no CPU was free")
    header = "%-12s %9s %9s" % ("", "on a CPU", "waiting")
    add(header)
    add("-" * len(header))
    for name, account in scheduling.items():
        add("%-12s %9.1f %9.1f" % ((name,) + account.per_job_ms()))
    pool2_cpu = accounts["pool2"].ours_per_job_ms() + \
        accounts["pool2"].per_job_ms("other")
    add("  CPU-bound ceiling on %d cores: %d x 1000 / %.1f ms = %.1f "
        "conversions/s = %.2fx pool1" % (
            info["nproc"], info["nproc"], pool2_cpu,
            info["nproc"] * 1000.0 / pool2_cpu,
            info["nproc"] * 1000.0 / pool2_cpu / pool1))
    add("")
    add("Peak RSS, MB (sampled every %.1f s; 'throughput': during the "
        "throughput runs)" % sampler.interval)
    header = "%-7s %-12s %8s %12s %10s" % ("owner", "process", "pid",
                                            "throughput", "whole run")
    add(header)
    add("-" * len(header))
    for owner, kind, pid, during, overall in sampler.table():
        kind = {"root": "server" if owner.startswith("pool")
                else "uno_floor.py"}.get(kind, kind)
        add("%-7s %-12s %8d %12s %10.0f" % (
            owner, kind, pid,
            "%.0f" % (during / 1024 ** 2) if during else "-",
            overall / 1024 ** 2))
    add("")
    add("Targets")
    add("  ours/floor <= %.1fx on every row: %s (worst: %s %.2fx)" % (
        LATENCY_TARGET, "PASS" if worst[1] <= LATENCY_TARGET else "MISS",
        worst[0], worst[1]))
    add("  pool2/pool1 >= %.1fx: %s (%.2fx)" % (
        SCALING_TARGET, "PASS" if scaling >= SCALING_TARGET else "MISS",
        scaling))
    add("  pool2/bare2 >= %.1fx: %s (%.2fx)" % (
        EFFICIENCY_TARGET,
        "PASS" if pool2 / bare2 >= EFFICIENCY_TARGET else "MISS",
        pool2 / bare2))
    add("  LibreOffice's own scaling on this machine (bare2/bare1): %.2fx; "
        "ours pool2 reaches %.0f%% of bare2" % (bare_scaling,
                                               100.0 * pool2 / bare2))
    add("")
    add("Notes: ours = client wall time of convertFile incl. base64; floor "
        "= load+store+close in one warm UNO client, same filters and load "
        "options; one-shot = /usr/bin/soffice --convert-to EXT:FILTER[:JSON] "
        "with the same filter options, existing profile; bare1/bare2 = the "
        "throughput jobs in uno_floor.py clients of their own (bare2: two at "
        "once, half the jobs each, timed over the pair's wall time); "
        "servers run with %s." % ", ".join(
            "%s=%s" % item for item in SERVER_SETTINGS.items()))
    print("\n".join(lines), flush=True)


def parse_arguments():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="measured calls per row and side (%(default)s)")
    parser.add_argument("--oneshot-runs", type=int, default=ONESHOT_RUNS,
                        help="one-shot runs per row (%(default)s)")
    parser.add_argument("--throughput-runs", type=int,
                        default=THROUGHPUT_RUNS,
                        help="runs per side: bare1, pool1, bare2, pool2 "
                        "and pool1, pool2 with xmlrpc.client (%(default)s)")
    parser.add_argument("--throughput-jobs", type=int,
                        default=THROUGHPUT_JOBS,
                        help="conversions per throughput run (%(default)s)")
    parser.add_argument("--sandbox-rounds", type=int, default=SANDBOX_ROUNDS,
                        help="calls per case and side for the sandbox's "
                        "cost (%(default)s)")
    parser.add_argument("--big-rounds", type=int, default=BIG_ROUNDS,
                        help="measured calls per side for the %d MB "
                        "document (%%(default)s)" % BIG_SIZES_MB[0])
    parser.add_argument("--big-only", action="store_true",
                        help="only the big-document section: one server "
                        "(pool of 1) and the floor")
    arguments = parser.parse_args()
    for name in ("rounds", "oneshot_runs", "throughput_runs",
                 "throughput_jobs", "sandbox_rounds", "big_rounds"):
        if getattr(arguments, name) < 1:
            parser.error("--%s must be at least 1" % name.replace("_", "-"))
    return arguments


def terminate(signum, frame):
    raise SystemExit(128 + signum)


def main():
    arguments = parse_arguments()
    signal.signal(signal.SIGTERM, terminate)
    info = machine()
    root = Path(tempfile.mkdtemp(prefix="cloudooo-bench-"))
    servers = {}
    floor = FloorClient(root / "floor")
    bares = {name: FloorClient(root / ("bare-" + name), "bare client " + name)
             for name in ("a", "b")}
    sampler = RssSampler()
    survivors = {}
    # Only for the sandbox's cost: not one of the throughput sides.
    unsandboxed = ServerProcess(root / "nosandbox", office_pool_size=1,
                                sandbox="none", **SERVER_SETTINGS)
    try:
        servers["pool1"] = ServerProcess(root / "pool1", office_pool_size=1,
                                         **SERVER_SETTINGS)
        if arguments.big_only:
            log("starting one server and the UNO floor (temp dir %s)", root)
            start_all([servers["pool1"].start, floor.start])
            report_big(measure_big(servers["pool1"], floor, root / "big",
                                   arguments.big_rounds))
            return 0
        servers["pool2"] = ServerProcess(root / "pool2", office_pool_size=2,
                                         **SERVER_SETTINGS)
        log("starting three servers, the UNO floor and two bare UNO clients "
            "(temp dir %s)", root)
        start_all([servers["pool1"].start, servers["pool2"].start,
                   unsandboxed.start, floor.start]
                  + [bare.start for bare in bares.values()])
        info["office"] = floor.ready.get("version", "LibreOffice ?")
        for name, server in servers.items():
            sampler.roots[name] = server.pid
        sampler.roots["floor"] = floor.popen.pid
        for name, bare in bares.items():
            sampler.roots["bare-" + name] = bare.popen.pid
        sampler.start()

        generated = make_inputs(servers["pool1"], root / "inputs")
        rows = build_rows(generated)
        corpus_note = ("corpus %s" % CORPUS if CORPUS.is_dir() else
                       "corpus %s absent: skipped" % CORPUS)
        if not CORPUS.is_dir():
            log("note: %s", corpus_note)

        # Throughput first: every soffice it compares has then converted
        # only the generated inputs.  After the latency rows (corpus
        # documents among them) pool1's soffice spent ~10% more CPU per
        # conversion than the bare clients' fresh ones.
        sampler.phase = "throughput"
        rates, accounts, scheduling = measure_throughput(
            servers, bares, generated, arguments.throughput_runs,
            arguments.throughput_jobs)
        log("%d rows: %s", len(rows), ", ".join(row.label for row in rows))
        sampler.phase = "latency"
        measure_latency(rows, floor, proxy_for(servers["pool1"]),
                        OneShot(root / "oneshot"), arguments.rounds,
                        arguments.oneshot_runs)
        sampler.phase = "sandbox"
        costs = measure_sandbox_cost(servers["pool1"], unsandboxed,
                                     generated, arguments.sandbox_rounds)
        sampler.phase = "big documents"
        big = measure_big(servers["pool1"], floor, root / "big",
                          arguments.big_rounds)
        sampler.phase = "end"
        elapsed = time.monotonic() - STARTED
        report(info, rows, rates, accounts, scheduling, sampler, elapsed,
               corpus_note, arguments.throughput_jobs)
        report_sandbox_cost(costs, arguments.sandbox_rounds)
        report_big(big)
        log("html -> pdf through Chromium against one-shot chromium")
        print("\n".join(chromium_bench.report_lines(*chromium_bench.measure(
            servers["pool1"], root / "chromium"))), flush=True)
    finally:
        sampler.stop()
        try:
            survivors["nosandbox"] = unsandboxed.stop(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            unsandboxed.stop(signum=signal.SIGKILL, timeout=STOP_TIMEOUT)
        floor.stop()
        for bare in bares.values():
            bare.stop()
        for name, server in servers.items():
            try:
                survivors[name] = server.stop(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log("%s did not stop within %s s: killed", name,
                    STOP_TIMEOUT)
                server.stop(signum=signal.SIGKILL, timeout=STOP_TIMEOUT)
        if any(survivors.values()):
            print("WARNING: children outlived their server (killed): %s"
                  % survivors, flush=True)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped")
        sys.exit(130)
