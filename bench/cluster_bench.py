"""What HAProxy costs: 2 servers of pool 1 behind it against 1 server of
pool 2, same machine, same jobs, same 4 client threads.

    .venv/bin/python bench/cluster_bench.py      (make bench runs it too)

Starts ``cloudooo cluster --servers 2`` (tests.cluster_process) and a
plain ``cloudooo serve`` with office_pool_size = 2 (tests.server), then
alternates throughput runs of odt->pdf and docx->pdf between them and
prints conversions/s and the ratio cluster / single (target >= 0.9).
"""

import argparse
import signal
import subprocess
import sys
import tempfile
import shutil
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

import bench  # noqa: E402  (bench/bench.py: inputs, throughput runs)
from tests.cluster_process import ClusterProcess  # noqa: E402
from tests.server import ServerProcess  # noqa: E402

RATIO_TARGET = 0.9
RUNS = 5
JOBS = 80


def measure(sides, generated, runs, jobs_per_run):
    by_name = {case.name: case for case in bench.CASES}
    cases = [by_name[name] for name in bench.THROUGHPUT_CASES]
    payloads = {case.name: generated[case.source].read_bytes()
                for case in cases}
    jobs = [(payloads[case.name], case) for case in
            (cases[i % len(cases)] for i in range(jobs_per_run))]
    for name, side in sides.items():
        bench.log("warm-up: %s", name)
        bench.throughput_run(side, jobs[:4 * bench.CLIENT_THREADS],
                             bench.CLIENT_THREADS)
    rates = {name: [] for name in sides}
    names = list(sides)
    for run in range(runs):
        order = names if run % 2 == 0 else names[::-1]
        for name in order:
            bench.log("run %d/%d: %s", run + 1, runs, name)
            rates[name].append(bench.throughput_run(
                sides[name], jobs, bench.CLIENT_THREADS))
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--jobs", type=int, default=JOBS)
    arguments = parser.parse_args()
    signal.signal(signal.SIGTERM, bench.terminate)
    root = Path(tempfile.mkdtemp(prefix="cloudooo-cluster-bench-"))
    cluster = ClusterProcess(root / "cluster", servers=2,
                             office_pool_size=1, **bench.SERVER_SETTINGS)
    single = ServerProcess(root / "single", office_pool_size=2,
                           **bench.SERVER_SETTINGS)
    started = time.monotonic()
    try:
        bench.log("starting HAProxy + 2 servers of pool 1, and 1 server of "
                  "pool 2 (temp dir %s)", root)
        bench.start_all([cluster.start, single.start])
        generated = bench.make_inputs(single, root / "inputs")
        rates = measure({"cluster": cluster, "single": single}, generated,
                        arguments.runs, arguments.jobs)
    finally:
        code, survivors = cluster.stop()
        try:
            single_survivors = single.stop(timeout=bench.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            single_survivors = single.stop(signum=signal.SIGKILL)
        if survivors or single_survivors:
            print("WARNING: children outlived their parent (killed): %s"
                  % (survivors + single_survivors), flush=True)
        shutil.rmtree(root, ignore_errors=True)
    cluster_rate = bench.median(rates["cluster"])
    single_rate = bench.median(rates["single"])
    ratio = cluster_rate / single_rate
    print("")
    print("Scaling out, conversions/s (%d x %s per run, %d client threads, "
          "median of %d runs per side, sides alternated; %.0f s)" % (
              arguments.jobs, "+".join(bench.THROUGHPUT_CASES),
              bench.CLIENT_THREADS, arguments.runs,
              time.monotonic() - started))
    for name, label in (("cluster", "HAProxy + 2 servers x pool 1"),
                        ("single", "1 server x pool 2            ")):
        print("  %s %6.2f   (runs: %s)" % (label, bench.median(rates[name]),
                                           ", ".join("%.2f" % rate for rate
                                                     in rates[name])))
    print("  cluster/single %.2fx (target >= %.1fx: %s)" % (
        ratio, RATIO_TARGET, "PASS" if ratio >= RATIO_TARGET else "MISS"),
        flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        bench.log("interrupted; everything started was stopped")
        sys.exit(130)
