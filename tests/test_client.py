"""``cloudooo convert|formats|metadata`` against a real server, run as a
subprocess as a user would."""

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests import documents
from tests.server import free_port

CLOUDOOO = str(Path(sys.executable).with_name("cloudooo"))
TIMEOUT = 300


def cloudooo(*argv):
    return subprocess.run([CLOUDOOO] + list(argv), capture_output=True,
                          text=True, timeout=TIMEOUT)


def make_folder(folder, count=3):
    folder.mkdir()
    for index in range(count):
        (folder / ("letter%d.fodt" % index)).write_bytes(
            documents.fodt(text="Letter %d" % index))
    # Not a Word file at all: the server answers Fault 4.
    (folder / "broken.docx").write_bytes(b"\x00 this is no document")
    return folder


def test_convert_a_folder_in_parallel_with_one_broken_file(server, tmp_path):
    folder = make_folder(tmp_path / "in")
    out = tmp_path / "out"
    result = cloudooo("convert", str(folder), "--to", "pdf", "-j", "2",
                      "--out", str(out), "--server", server.url)
    assert result.returncode == 1
    for index in range(3):
        pdf = (out / ("letter%d.pdf" % index)).read_bytes()
        assert pdf.startswith(b"%PDF-")
        assert "ok %s -> %s" % (folder / ("letter%d.fodt" % index),
                                out / ("letter%d.pdf" % index)) \
            in result.stdout
    assert not (out / "broken.pdf").exists()
    assert "3 converted, 1 failed" in result.stderr
    summary = result.stderr.split("3 converted, 1 failed", 1)[1]
    assert "%s: Fault 4:" % (folder / "broken.docx") in summary


def test_convert_one_file_beside_it(server, tmp_path):
    source = tmp_path / "note.fodt"
    source.write_bytes(documents.fodt())
    result = cloudooo("convert", str(source), "--to", "odt", "--server",
                      server.url)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "note.odt").read_bytes().startswith(b"PK")
    assert "1 converted, 0 failed" in result.stdout


def test_progress_bar_on_a_terminal(server, tmp_path):
    folder = make_folder(tmp_path / "in", count=2)
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [CLOUDOOO, "convert", str(folder), "--to", "pdf", "-j", "2",
         "--out", str(tmp_path / "out"), "--server", server.url],
        stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary)
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(primary)
    assert process.wait(timeout=TIMEOUT) == 1
    text = output.decode("utf-8", "replace")
    assert "3/3" in text and "100%" in text  # tqdm's bar, completed
    assert "FAILED %s" % (folder / "broken.docx") in text
    assert "ok %s" % (folder / "letter0.fodt") not in text  # bar, not lines


def test_formats_lists_what_a_file_can_become(server, tmp_path):
    source = tmp_path / "note.fodt"
    source.write_bytes(documents.fodt())
    result = cloudooo("formats", str(source), "--server", server.url)
    assert result.returncode == 0, result.stderr
    targets = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert "pdf" in targets and "docx" in targets


def test_metadata_shows_and_sets(server, tmp_path):
    source = tmp_path / "note.fodt"
    source.write_bytes(documents.fodt(title="Old title"))
    shown = cloudooo("metadata", str(source), "--server", server.url)
    assert shown.returncode == 0, shown.stderr
    assert "Title: Old title" in shown.stdout.splitlines()
    out = tmp_path / "out"
    written = cloudooo("metadata", str(source), "--set", "Title=New title",
                       "--set", "Subject=Reports", "--out", str(out),
                       "--server", server.url)
    assert written.returncode == 0, written.stderr
    assert source.read_bytes() == documents.fodt(title="Old title")
    again = cloudooo("metadata", str(out / "note.fodt"), "--server",
                     server.url)
    lines = again.stdout.splitlines()
    assert "Title: New title" in lines and "Subject: Reports" in lines


def test_unreachable_server_fails_every_file_clearly(tmp_path):
    source = tmp_path / "note.fodt"
    source.write_bytes(documents.fodt())
    result = cloudooo("convert", str(source), "--to", "pdf", "--server",
                      "http://127.0.0.1:%d" % free_port())
    assert result.returncode == 1
    assert "ConnectionRefusedError" in result.stderr
    assert "0 converted, 1 failed" in result.stderr
