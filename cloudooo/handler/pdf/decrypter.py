"""Decrypt a password-protected PDF with pypdf, as a child process.

Usage: ``python decrypter.py SOURCE DESTINATION < password`` (the password
as UTF-8 on standard input, never on the command line, which ``ps`` and the
logs would show).  Prints one word on standard output:

``clear``      the PDF opens without a password (not encrypted, or only an
               owner password): DESTINATION is not written, use SOURCE;
``decrypted``  DESTINATION holds the PDF decrypted with the password;
``required``   the PDF needs a password and none was given;
``wrong``      the password given does not open it.

A child process for the reasons ``metadata_writer.py`` gives: pypdf runs on
untrusted bytes in the handler's sandbox, under its tool timeout.  Imports
nothing from cloudooo.
"""

import sys


def decrypt(source, destination, password):
    from pypdf import PdfReader, PdfWriter

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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: decrypter.py SOURCE DESTINATION < password",
              file=sys.stderr)
        return 2
    try:
        password = sys.stdin.buffer.read().decode("utf-8")
        print(decrypt(argv[0], argv[1], password))
    except Exception as error:  # any failure is one line for the client
        print("cannot read the PDF: %s" % type(error).__name__,
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
