"""Rewrite a PDF's document information with pypdf, as a child process.

Usage: ``python metadata_writer.py SOURCE DESTINATION < info.json`` where
info.json maps PDF info keys (``"/Title"``) to strings.

pypdf parses untrusted documents in pure Python; a crafted file can keep it
busy or make it allocate without end, and a thread in the server could not be
stopped.  As a child process it runs under ``run_command``'s timeout and is
killed like any other tool.  It imports nothing from cloudooo, so it runs by
path whatever the child's ``sys.path``.
"""

import json
import sys


def rewrite(source, destination, info):
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(source)
    if reader.is_encrypted:
        raise ValueError("the PDF is encrypted; its metadata cannot be "
                         "rewritten")
    writer = PdfWriter(clone_from=reader)
    writer.add_metadata(info)
    if len(writer.pages) != len(reader.pages):
        raise ValueError("pypdf kept %d of %d pages"
                         % (len(writer.pages), len(reader.pages)))
    with open(destination, "wb") as stream:
        writer.write(stream)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: metadata_writer.py SOURCE DESTINATION < info.json",
              file=sys.stderr)
        return 2
    try:
        info = json.load(sys.stdin)
        rewrite(argv[0], argv[1], info)
    except Exception as error:  # any failure is one line for the client
        print("cannot rewrite the PDF: %s: %s"
              % (type(error).__name__, error), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
