"""CPU per request of this checkout against another, side by side.

    git archive REV | tar -x -C /tmp/base
    .venv/bin/python bench/cpu_ab.py --base /tmp/base

Starts one server from each checkout (the other one's code is put first on
PYTHONPATH; both use this checkout's virtualenv and LibreOffice), then
alternates, run by run, so that the machine's load hits both alike:

1. small documents: 4 client threads converting the generated odt and
   docx to pdf; CPU (user + system) of the server process and of its UNO
   workers per conversion, from psutil, around each run;
2. big documents (``--big-rounds``): the 20 MB ODT of the big-document
   benchmark -> PDF, one call at a time; the server's CPU per call.

CPU time rather than wall time: on a shared machine it is what a change
moves, whatever the others run.  Everything started is stopped, and its
temporary directory removed, on the way out.
"""

import argparse
import os
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
sys.path.insert(0, str(PROJECT / "bench"))

from bench import (CASES, big_request_body, post_big,  # noqa: E402
                   tree_cpu_seconds)
from tests import documents  # noqa: E402
from tests.big_documents import big_odt  # noqa: E402
from tests.server import ServerProcess, b64, unb64  # noqa: E402

SERVER_SETTINGS = {"limit_number_request": 0, "timeout_response": 120,
                   "queue_timeout": 120}
CLIENT_THREADS = 4
CALL_TIMEOUT = 300  # one small conversion
BIG_SIZE = 20 * 1024 ** 2


def small_run(server, jobs, conversions):
    """(server ms, worker ms) of CPU per conversion over one run."""
    per_thread = conversions // CLIENT_THREADS
    failures = []

    def client(number):
        proxy = xmlrpc.client.ServerProxy(server.url, allow_none=True)
        try:
            for index in range(per_thread):
                text, source = jobs[(number + index) % len(jobs)]
                output = unb64(proxy.convertFile(text, source, "pdf"))
                if not output.startswith(b"%PDF"):
                    raise RuntimeError("not a PDF")
        except Exception as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=client, args=(number,), daemon=True)
               for number in range(CLIENT_THREADS)]
    before = tree_cpu_seconds(server.pid)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CALL_TIMEOUT * per_thread)
    if failures or any(thread.is_alive() for thread in threads):
        raise RuntimeError("small run failed: %s" % (failures or "timeout"))
    after = tree_cpu_seconds(server.pid)
    done = per_thread * CLIENT_THREADS
    return tuple(1000 * (a - b) / done for a, b in zip(after, before))


def big_call(server, body):
    """The server's CPU ms for one big call."""
    before = tree_cpu_seconds(server.pid)[0]
    post_big(server, body)
    return 1000 * (tree_cpu_seconds(server.pid)[0] - before)


def alternated(runs):
    for run in range(runs):
        yield ("base", "ours") if run % 2 == 0 else ("ours", "base")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True,
                        help="the other checkout (its cloudooo/ is used)")
    parser.add_argument("--pool", type=int, default=2)
    parser.add_argument("--small-runs", type=int, default=6,
                        help="runs per side (%(default)s)")
    parser.add_argument("--small-jobs", type=int, default=80,
                        help="conversions per run (%(default)s)")
    parser.add_argument("--big-rounds", type=int, default=6,
                        help="20 MB calls per side, 0 for none "
                        "(%(default)s)")
    arguments = parser.parse_args()
    base = Path(arguments.base).resolve()
    if not (base / "cloudooo" / "app.py").exists():
        parser.error("%s holds no cloudooo checkout" % base)

    root = Path(tempfile.mkdtemp(prefix="cloudooo-cpu-ab-"))
    servers = {}
    environment = dict(os.environ)
    try:
        for name, python_path in (("base", str(base)), ("ours", None)):
            os.environ.clear()
            os.environ.update(environment)
            if python_path:
                os.environ["PYTHONPATH"] = python_path
            servers[name] = ServerProcess(
                root / name, office_pool_size=arguments.pool,
                **SERVER_SETTINGS).start()
        os.environ.clear()
        os.environ.update(environment)
        print("load average at start: %.1f %.1f %.1f" % os.getloadavg(),
              flush=True)

        proxy = servers["ours"].proxy()
        odt = unb64(proxy.convertFile(b64(documents.fodt()), "fodt", "odt"))
        docx = unb64(proxy.convertFile(b64(odt), "odt", "docx"))
        jobs = [(b64(odt), "odt"), (b64(docx), "docx")]
        for server in servers.values():
            small_run(server, jobs, 2 * CLIENT_THREADS)  # warm-up
        small = {name: [] for name in servers}
        for order in alternated(arguments.small_runs):
            for name in order:
                small[name].append(small_run(servers[name], jobs,
                                             arguments.small_jobs))
        print("Small documents (odt, docx -> pdf, %d client threads, pool "
              "of %d), CPU ms per conversion, median of %d runs:"
              % (CLIENT_THREADS, arguments.pool, arguments.small_runs))
        medians = {}
        for name, runs in small.items():
            medians[name] = [statistics.median(run[index] for run in runs)
                             for index in (0, 1)]
            print("  %-5s server %6.2f   worker %5.2f" % (
                name, *medians[name]))
        print("  ours/base: server %.2fx, worker %.2fx" % tuple(
            ours / max(base_value, 1e-9) for ours, base_value in zip(
                medians["ours"], medians["base"])), flush=True)

        if arguments.big_rounds:
            path = big_odt(root / "big.odt", BIG_SIZE)
            body, _ms = big_request_body(path.read_bytes(), next(
                case for case in CASES if case.name == "odt->pdf"))
            for server in servers.values():
                big_call(server, body)  # warm-up
            big = {name: [] for name in servers}
            for order in alternated(arguments.big_rounds):
                for name in order:
                    big[name].append(big_call(servers[name], body))
            print("20 MB odt -> pdf, server CPU ms per call, median of %d:"
                  % arguments.big_rounds)
            for name, calls in big.items():
                print("  %-5s %6.0f   (calls: %s)" % (
                    name, statistics.median(calls),
                    ", ".join("%.0f" % value for value in calls)))
            print("  ours/base: %.2fx" % (statistics.median(big["ours"]) /
                                          statistics.median(big["base"])))
        print("load average at end: %.1f %.1f %.1f" % os.getloadavg())
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
