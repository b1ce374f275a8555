"""A soak: many mixed requests against a small pool that recycles often.

    .venv/bin/python bench/soak.py          (or: make soak)
    SOAK_REQUESTS=500 make soak             (a short run)

Starts one server (``cloudooo serve``, pool of 2, ``limit_number_request``
low so that every instance recycles many times) and sends SOAK_REQUESTS
(10,000) requests from 8 client threads: office conversions of generated
documents and of ../shared/corpus/ when present, a document big enough to
be streamed, metadata, granulation, images, media, and a share of bad
inputs whose Fault code is known.  Stops by itself after SOAK_SECONDS
(1,200) whatever is left.  Prints:

- errors other than the expected Faults (must be 0), with the first ones;
- p50 / p99 latency per kind, per quarter of the run (drift shows there);
- server RSS and total soffice.bin RSS sampled every 10 s, and the last
  quarter's median against the second's (flat: at most 1.1x), the medians
  taken over samples read every second;
- instance recycles seen in the log; leaked request files and processes
  after the server stopped (0).

Exit status 0 when every check passes, 1 otherwise.
"""

import base64
import collections
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import xmlrpc.client
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import psutil  # noqa: E402

from tests import documents, media_fixtures, odt_fixtures  # noqa: E402
from tests.big_documents import big_odt  # noqa: E402
from tests.server import ServerProcess, b64  # noqa: E402

CORPUS = PROJECT.parent / "shared" / "corpus"
REQUESTS = int(os.environ.get("SOAK_REQUESTS", 10000))
MAX_SECONDS = float(os.environ.get("SOAK_SECONDS", 1200))
CLIENT_THREADS = 8
POOL_SIZE = 2
LIMIT_NUMBER_REQUEST = 25   # each instance recycles every 25 requests
SAMPLE_SECONDS = 10.0
# RSS is also read every second for the flatness verdict: soffice.bin's RSS
# is a sawtooth (each instance restarts every LIMIT_NUMBER_REQUEST requests),
# and a quarter's median over a handful of 10 s samples depends on where they
# fall on the teeth; over ten times as many it measures the level.
JUDGE_SAMPLE_SECONDS = 1.0
CALL_TIMEOUT = 300
RSS_FLAT_RATIO = 1.1
# Fewer samples than this and the warm-up fills the quarters: the RSS
# figures are printed, not judged (a short SOAK_REQUESTS run).
RSS_JUDGED_SAMPLES = 16
BIG_DOCUMENT_SIZE = 3 * 1024 * 1024   # over stream_threshold_size
SERVER_SETTINGS = {"office_pool_size": POOL_SIZE,
                   "limit_number_request": LIMIT_NUMBER_REQUEST,
                   "timeout_response": 120, "queue_timeout": 300,
                   "monitor_interval": 2}


def log(message, *args):
    print("soak [%5.0f s]: %s" % (time.monotonic() - STARTED,
                                  message % args if args else message),
          file=sys.stderr, flush=True)


STARTED = time.monotonic()


class TimeoutTransport(xmlrpc.client.Transport):
    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = CALL_TIMEOUT
        return connection


def is_pdf(text):
    return base64.b64decode(text).startswith(b"%PDF")


def is_zip(text):
    return base64.b64decode(text).startswith(b"PK")


def workload(work_dir):
    """[(kind, weight, call(proxy) -> None raising on a wrong answer,
    expected Fault code or None)]."""
    odt = odt_fixtures.sample_odt()
    fodt = documents.fodt(title="Soak")
    big = big_odt(work_dir / "big.odt", BIG_DOCUMENT_SIZE).read_bytes()
    png = media_fixtures.magick_image("rose:", "png")
    ogg = media_fixtures.ogg_audio()
    corpus = {}
    if CORPUS.is_dir():
        for name in ("test.odt", "test.docx", "test.doc", "test.ods",
                     "test.odp", "test.pptx"):
            if (CORPUS / name).is_file():
                corpus[name] = (CORPUS / name).read_bytes()

    def expect(condition, what):
        if not condition:
            raise AssertionError(what)

    def convert(data, source, destination, check):
        text = b64(data)
        return lambda proxy: expect(check(proxy.convertFile(
            text, source, destination)), "%s -> %s output" % (
                source, destination))

    kinds = [
        ("odt->pdf", 10, convert(odt, "odt", "pdf", is_pdf), None),
        ("fodt->docx", 6, convert(fodt, "fodt", "docx", is_zip), None),
        ("big odt->odt", 1, convert(big, "odt", "odt", is_zip), None),
        ("metadata", 6, lambda proxy: expect(
            proxy.getFileMetadataItemList(b64(fodt), "fodt")["Title"]
            == "Soak", "metadata title"), None),
        ("update metadata", 3, convert_metadata(odt), None),
        ("granulation", 5, lambda proxy: expect(
            len(proxy.getTableItemList(b64(odt), "odt")) > 0,
            "tables found"), None),
        ("png->jpg", 5, convert(png, "png", "jpg", lambda text: base64.
                                b64decode(text).startswith(b"\xff\xd8")),
         None),
        ("ogg->mp3", 3, convert(ogg, "ogg", "mp3", lambda text: len(
            base64.b64decode(text)) > 100), None),
        ("bad base64", 2, lambda proxy: proxy.convertFile(
            "not*base64", "odt", "pdf"), 2),
        ("garbage doc", 2, lambda proxy: proxy.convertFile(
            b64(b"not an office file at all"), "doc", "pdf"), 4),
        ("unknown format", 1, lambda proxy: proxy.convertFile(
            b64(odt), "odt", "nosuchformat"), 3),
        ("unsafe link", 1, lambda proxy: proxy.convertFile(
            b64(documents.docx_with_external_image(
                "http://127.0.0.1:9/x.png")), "docx", "pdf"), 5),
    ]
    for name, data in sorted(corpus.items()):
        extension = name.rsplit(".", 1)[1]
        destination = "pdf" if extension != "doc" else "odt"
        check = is_pdf if destination == "pdf" else is_zip
        kinds.append(("corpus %s->%s" % (extension, destination), 2,
                      convert(data, extension, destination, check), None))
    return kinds


def convert_metadata(odt):
    text = b64(odt)

    def call(proxy):
        result = proxy.updateFileMetadata(text, "odt", {"Title": "Soaked"})
        if not is_zip(result):
            raise AssertionError("updated document")
    return call


class Record:
    __slots__ = ("kind", "started", "seconds", "outcome")

    def __init__(self, kind, started, seconds, outcome):
        self.kind, self.started = kind, started
        self.seconds, self.outcome = seconds, outcome


class Soak:
    def __init__(self, server, kinds, requests, max_seconds):
        self.server = server
        self.kinds = kinds
        self.schedule = random.Random(13).choices(
            kinds, weights=[kind[1] for kind in kinds], k=requests)
        self.deadline = time.monotonic() + max_seconds
        self.lock = threading.Lock()
        self.next_index = 0
        self.records = []
        self.errors = []
        self.samples = []          # (seconds, server RSS, soffice RSS)
        self.dense_samples = []    # the same, every JUDGE_SAMPLE_SECONDS
        self.stop_sampling = threading.Event()

    def take(self):
        with self.lock:
            if self.next_index >= len(self.schedule) or \
                    time.monotonic() > self.deadline:
                return None
            self.next_index += 1
            return self.schedule[self.next_index - 1]

    def client(self):
        proxy = xmlrpc.client.ServerProxy(self.server.url, allow_none=True,
                                          transport=TimeoutTransport())
        while True:
            item = self.take()
            if item is None:
                return
            kind, _weight, call, expected_code = item
            started = time.monotonic()
            try:
                call(proxy)
                outcome = "ok" if expected_code is None else \
                    "error: no Fault, expected %d" % expected_code
            except xmlrpc.client.Fault as fault:
                outcome = "expected fault" if fault.faultCode == \
                    expected_code else "error: Fault %d %s" % (
                        fault.faultCode, fault.faultString[:200])
            except Exception as error:  # noqa: BLE001 - all are findings
                outcome = "error: %s: %s" % (type(error).__name__,
                                             str(error)[:200])
                proxy = xmlrpc.client.ServerProxy(
                    self.server.url, allow_none=True,
                    transport=TimeoutTransport())
            record = Record(kind, started - STARTED,
                            time.monotonic() - started, outcome)
            with self.lock:
                self.records.append(record)
                if outcome.startswith("error"):
                    self.errors.append(record)
                done = len(self.records)
            if done % 500 == 0:
                log("%d requests done, %d unexpected errors", done,
                    len(self.errors))

    def sample(self):
        every = round(SAMPLE_SECONDS / JUDGE_SAMPLE_SECONDS)
        for count in itertools.count():
            sample = (time.monotonic() - STARTED,) + rss_of(self.server.pid)
            self.dense_samples.append(sample)
            if count % every == 0:
                self.samples.append(sample)
            if self.stop_sampling.wait(JUDGE_SAMPLE_SECONDS):
                return

    def run(self):
        sampler = threading.Thread(target=self.sample, daemon=True)
        sampler.start()
        clients = [threading.Thread(target=self.client,
                                    name="client-%d" % index)
                   for index in range(CLIENT_THREADS)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        self.stop_sampling.set()
        sampler.join()
        last = (time.monotonic() - STARTED,) + rss_of(self.server.pid)
        self.samples.append(last)
        self.dense_samples.append(last)


def rss_of(server_pid):
    """(server RSS, total soffice.bin RSS) in bytes."""
    try:
        server = psutil.Process(server_pid)
        server_rss = server.memory_info().rss
        children = server.children(recursive=True)
    except psutil.Error:
        return 0, 0
    office = 0
    for child in children:
        try:
            if child.name() == "soffice.bin":
                office += child.memory_info().rss
        except psutil.Error:
            continue
    return server_rss, office


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def quarters(items, key):
    if not items:
        return [[], [], [], []]
    start, end = min(map(key, items)), max(map(key, items))
    width = max((end - start) / 4.0, 1e-9)
    parts = [[], [], [], []]
    for item in items:
        parts[min(3, int((key(item) - start) / width))].append(item)
    return parts


def report(soak, recycles, leaked_files, leaked_processes, elapsed):
    lines = ["", "cloudooo soak: %d requests in %.0f s from %d client "
             "threads, pool of %d, limit_number_request = %d" % (
                 len(soak.records), elapsed, CLIENT_THREADS, POOL_SIZE,
                 LIMIT_NUMBER_REQUEST)]
    outcomes = collections.Counter(
        "error" if record.outcome.startswith("error") else record.outcome
        for record in soak.records)
    lines.append("outcomes: %s" % ", ".join(
        "%s %d" % item for item in sorted(outcomes.items())))
    lines.append("errors other than the expected Faults: %d"
                 % len(soak.errors))
    for record in soak.errors[:10]:
        lines.append("  at %.0f s, %s: %s" % (record.started, record.kind,
                                              record.outcome))
    lines.append("")
    lines.append("latency per kind, ms: p50 / p99 in each quarter of the "
                 "run")
    header = "%-22s %6s  %15s %15s %15s %15s" % (
        "kind", "calls", "Q1", "Q2", "Q3", "Q4")
    lines += [header, "-" * len(header)]
    by_kind = collections.defaultdict(list)
    for record in soak.records:
        by_kind[record.kind].append(record)
    for kind, records in sorted(by_kind.items()):
        cells = []
        for part in quarters(records, key=lambda record: record.started):
            values = [1000 * record.seconds for record in part]
            cells.append("%6.0f / %6.0f" % (percentile(values, 0.5),
                                             percentile(values, 0.99))
                         if values else "%15s" % "-")
        lines.append("%-22s %6d  %s" % (kind, len(records), " ".join(cells)))
    lines.append("")
    lines.append("RSS every %.0f s, MB (server / all soffice.bin): %s" % (
        SAMPLE_SECONDS, ", ".join("%.0f/%.0f" % (
            server / 2 ** 20, office / 2 ** 20)
            for _t, server, office in soak.samples)))
    flat = True
    judged = len(soak.samples) >= RSS_JUDGED_SAMPLES
    if not judged:
        lines.append("  (%d samples: too short a run to judge flatness, "
                     "figures only)" % len(soak.samples))
    lines.append("  medians of the samples taken every %.0f s (%d):" % (
        JUDGE_SAMPLE_SECONDS, len(soak.dense_samples)))
    parts = quarters(soak.dense_samples, key=lambda sample: sample[0])
    for index, what in ((1, "server"), (2, "soffice.bin total")):
        second = [sample[index] for sample in parts[1]]
        last = [sample[index] for sample in parts[3]]
        if second and last:
            ratio = statistics.median(last) / max(1, statistics.median(
                second))
            flat = flat and (ratio <= RSS_FLAT_RATIO or not judged)
            lines.append("  %s: median %.0f MB in the second quarter, %.0f "
                         "MB in the last: %.2fx (flat if <= %.1fx)" % (
                             what, statistics.median(second) / 2 ** 20,
                             statistics.median(last) / 2 ** 20, ratio,
                             RSS_FLAT_RATIO))
        else:
            lines.append("  %s: too few samples for quarters (run longer)"
                         % what)
    lines.append("instance recycles seen in the log: %d" % recycles)
    lines.append("leaked request files: %d %s" % (len(leaked_files),
                                                  leaked_files[:5]))
    lines.append("leaked processes after stop: %d %s" % (
        len(leaked_processes), leaked_processes[:5]))
    passed = not soak.errors and not leaked_files and \
        not leaked_processes and flat
    lines.append("soak: %s" % ("PASS" if passed else "FAIL"))
    print("\n".join(lines), flush=True)
    return passed


def processes_under(path):
    """Processes whose command line names ``path`` (our profiles)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(str(path) in part for part in
                   process.info["cmdline"] or ()):
                found.append(process.info["pid"])
        except psutil.Error:
            continue
    return found


def main():
    root = Path(tempfile.mkdtemp(prefix="cloudooo-soak-"))
    server = ServerProcess(root / "server", **SERVER_SETTINGS)
    passed = False
    try:
        log("starting a server, pool of %d (temp dir %s)", POOL_SIZE, root)
        server.start()
        kinds = workload(root)
        log("%d requests of %d kinds from %d threads, at most %.0f s",
            REQUESTS, len(kinds), CLIENT_THREADS, MAX_SECONDS)
        soak = Soak(server, kinds, REQUESTS, MAX_SECONDS)
        soak.run()
        elapsed = time.monotonic() - STARTED
        leaked_files = sorted(os.listdir(server.tmp_path))
        log_text = server.log_path.read_text(errors="replace")
        recycles = log_text.count("recycling soffice")
        survivors = server.stop()
        leaked = sorted(set(survivors) | set(processes_under(
            server.settings["working_path"])))
        passed = report(soak, recycles, leaked_files, leaked, elapsed)
    finally:
        if server.pid is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
