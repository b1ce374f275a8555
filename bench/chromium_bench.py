"""html -> pdf through our chromium handler against one-shot Chromium.

    .venv/bin/python bench/chromium_bench.py [--rounds N] [--oneshot-runs N]

Also run by bench/bench.py (make bench) on its pool-1 server.  Side by side
in one run, on the same page (tests/chromium_fixtures.py's layout page with
an ``@page`` rule, so both sides lay it out alike: A4, 20 mm margins):

- ours: convertFile(html, pdf, conversion_kw A4 + 20 mm margins) through
  xmlrpc.client, warm browser, client wall time with base64 both ways;
- one-shot: ``chromium --headless --print-to-pdf`` with the handler's own
  flags and a private profile made once beforehand (as the soffice
  one-shot is measured), one browser started per conversion.

The two sides alternate, so machine noise hits both alike; read the ratio.
"""

import argparse
import statistics
import sys
import tempfile
import shutil
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from cloudooo.handler.chromium.browser import chromium_argv  # noqa: E402
from cloudooo.util import run_command  # noqa: E402
from tests import chromium_fixtures  # noqa: E402
from tests.server import ServerProcess, b64, unb64  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ROUNDS = 20
ONESHOT_RUNS = 5
WARMUP_CALLS = 2
ONESHOT_TIMEOUT = 120
PAGE_RULE = b"<style>@page { size: A4; margin: 20mm; }</style>"
CONVERSION_KW = {"page_size": "A4", "margin_top": "20mm",
                 "margin_bottom": "20mm", "margin_left": "20mm",
                 "margin_right": "20mm"}


def bench_page():
    return chromium_fixtures.layout_page().replace(b"</head>",
                                                   PAGE_RULE + b"</head>")


def convert_ours(proxy, page):
    started = time.perf_counter()
    pdf = unb64(proxy.convertFile(b64(page), "html", "pdf", False, False,
                                  CONVERSION_KW))
    elapsed = (time.perf_counter() - started) * 1000
    assert pdf.startswith(b"%PDF-"), "ours returned no PDF"
    return elapsed


def convert_oneshot(directory, page_path, profile):
    output = directory / "oneshot.pdf"
    if output.exists():
        output.unlink()
    argv = chromium_argv(CHROMIUM, str(profile), [
        "--no-pdf-header-footer", "--print-to-pdf=%s" % output,
        page_path.as_uri()])
    started = time.perf_counter()
    run_command(argv, ONESHOT_TIMEOUT, tool="chromium")
    elapsed = (time.perf_counter() - started) * 1000
    assert output.read_bytes().startswith(b"%PDF-"), "one-shot wrote no PDF"
    return elapsed


def measure(server, directory, rounds=ROUNDS, oneshot_runs=ONESHOT_RUNS):
    """(ours ms list, one-shot ms list), alternated on the same page."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    page = bench_page()
    page_path = directory / "page.html"
    page_path.write_bytes(page)
    profile = directory / "oneshot-profile"
    profile.mkdir(exist_ok=True)
    proxy = server.proxy()
    for _ in range(WARMUP_CALLS):
        convert_ours(proxy, page)
    convert_oneshot(directory, page_path, profile)  # creates the profile
    ours, oneshot = [], []
    every = max(1, rounds // max(1, oneshot_runs))
    for index in range(rounds):
        ours.append(convert_ours(proxy, page))
        if index % every == 0 and len(oneshot) < oneshot_runs:
            oneshot.append(convert_oneshot(directory, page_path, profile))
    while len(oneshot) < oneshot_runs:
        oneshot.append(convert_oneshot(directory, page_path, profile))
    return ours, oneshot


def report_lines(ours, oneshot):
    ours_median = statistics.median(ours)
    oneshot_median = statistics.median(oneshot)
    p90 = sorted(ours)[max(0, int(round(0.9 * len(ours))) - 1)]
    header = "%-20s %9s %9s %10s %12s" % ("case", "ours med", "ours p90",
                                         "1shot med", "1shot/ours")
    return [
        "",
        "HTML -> PDF through Chromium, ms (%d calls ours, %d one-shot runs, "
        "alternated)" % (len(ours), len(oneshot)),
        header, "-" * len(header),
        "%-20s %9.1f %9.1f %10.0f %11.1fx" % (
            "html->pdf (layout)", ours_median, p90, oneshot_median,
            oneshot_median / ours_median),
        "  ours: convertFile with page_size/margins through the chromium "
        "handler, warm browser; one-shot: chromium --headless "
        "--print-to-pdf, same flags, existing profile",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--oneshot-runs", type=int, default=ONESHOT_RUNS)
    arguments = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cloudooo-chromium-bench-"))
    server = ServerProcess(root / "server", office_pool_size=1)
    try:
        server.start()
        ours, oneshot = measure(server, root / "work", arguments.rounds,
                                arguments.oneshot_runs)
        print("\n".join(report_lines(ours, oneshot)), flush=True)
    finally:
        survivors = server.stop()
        if survivors:
            print("WARNING: children outlived the server (killed): %s"
                  % survivors, flush=True)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
