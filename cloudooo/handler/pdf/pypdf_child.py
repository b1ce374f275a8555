"""pypdf on an untrusted PDF, as a child process.

Usage::

    python pypdf_child.py decrypt SOURCE DESTINATION < password
    python pypdf_child.py rewrite SOURCE DESTINATION < info.json

pypdf parses untrusted documents in pure Python; a crafted file can keep it
busy or make it allocate without end, and a thread in the server could not
be stopped.  As a child process it runs in the handler's sandbox under
``run_command``'s timeout and is killed like any other tool.  It imports
nothing from cloudooo, so it runs by path whatever the child's
``sys.path``.

``decrypt`` reads the password as UTF-8 on standard input, never on the
command line, which ``ps`` and the logs would show, and prints one word:

``clear``      the PDF opens without a password (not encrypted, or only an
               owner password): DESTINATION is not written, use SOURCE;
``decrypted``  DESTINATION holds the PDF decrypted with the password;
``required``   the PDF needs a password and none was given;
``wrong``      the password given does not open it.

``rewrite`` reads a JSON object mapping PDF information keys (``"/Title"``)
to strings and writes the PDF with that information, every page kept.
"""

import json
import sys


def decrypt(source, destination, stdin):
    from pypdf import PdfReader, PdfWriter

    password = stdin.read().decode("utf-8")
    reader = PdfReader(source)
    if not reader.is_encrypted or reader.decrypt(""):
        return "clear"
    if not password:
        return "required"
    reader = PdfReader(source)
    if not reader.decrypt(password):
        return "wrong"
    writer = PdfWriter(clone_from=reader)
    with open(destination, "wb") as stream:
        writer.write(stream)
    return "decrypted"


def rewrite(source, destination, stdin):
    from pypdf import PdfReader, PdfWriter

    info = json.load(stdin)
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
    return None


def decrypt_failure(error):
    # Only the error's class: its text could quote the document.
    return "cannot read the PDF: %s" % type(error).__name__


def rewrite_failure(error):
    return "cannot rewrite the PDF: %s: %s" % (type(error).__name__, error)


COMMANDS = {"decrypt": (decrypt, decrypt_failure),
            "rewrite": (rewrite, rewrite_failure)}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] not in COMMANDS:
        print("usage: pypdf_child.py decrypt|rewrite SOURCE DESTINATION",
              file=sys.stderr)
        return 2
    command, failure = COMMANDS[argv[0]]
    try:
        answer = command(argv[1], argv[2], sys.stdin.buffer)
    except Exception as error:  # any failure is one line for the client
        print(failure(error), file=sys.stderr)
        return 1
    if answer:
        print(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
