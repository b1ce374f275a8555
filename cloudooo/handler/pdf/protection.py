"""Password-protected PDF input, for the pdf and the office handlers.

poppler's tools would take the password on their command line and
LibreOffice's PDF import does not take it at all in 7.4, so a protected PDF
is decrypted first, by pypdf in a child process (``pypdf_child.py
decrypt``), and the tools read the decrypted copy in the request's own
directory.
"""

import os
import sys

from cloudooo.errors import ConversionError, PasswordRequired

PYPDF_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "pypdf_child.py")
# The pypdf child runs on the server's virtualenv, which the sandbox then
# shows read-only.
PYPDF_CHILD_READ_ONLY = (sys.prefix, PYPDF_CHILD)
# Every encrypted PDF names its encryption dictionary in its trailer (or
# its cross-reference stream's dictionary, never compressed): without these
# bytes there is nothing to decrypt and no child to start.
ENCRYPT_KEY = b"/Encrypt"
SCAN_CHUNK_SIZE = 1 << 20
FAILURES = {"required": "password required: the PDF is password-protected",
            "wrong": "wrong password: the password given does not open the "
                     "PDF"}


def pypdf_argv(command, source, destination):
    return [sys.executable, PYPDF_CHILD, command, source, destination]


def holds_bytes(path, needle):
    """Whether the file at ``path`` contains ``needle``, read by chunks (a
    big PDF stays off the heap)."""
    overlap = len(needle) - 1
    tail = b""
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(SCAN_CHUNK_SIZE), b""):
            if needle in tail + chunk[:overlap] or needle in chunk:
                return True
            tail = chunk[-overlap:]
    return False


def readable_pdf(path, password, handler):
    """The path of a copy of the PDF at ``path`` that opens without a
    password: ``path`` itself when it needs none.  Raises PasswordRequired
    when the PDF needs a password and ``password`` is missing or wrong.
    pypdf runs as ``handler``'s tools do (in its sandbox), writing only in
    the PDF's folder."""
    if not holds_bytes(path, ENCRYPT_KEY):
        return path
    directory = os.path.dirname(path)
    destination = os.path.join(directory, "decrypted.pdf")
    result = handler.run_tool(
        pypdf_argv("decrypt", path, destination),
        handler.settings.tool_timeout, handler.tool_environment(directory),
        directory, input_bytes=(password or "").encode("utf-8"),
        tool="pypdf", read_only=PYPDF_CHILD_READ_ONLY)
    status = result.stdout.decode("ascii", "replace").strip()
    if status == "clear":
        return path
    if status == "decrypted" and os.path.exists(destination):
        return destination
    if status in FAILURES:
        raise PasswordRequired(FAILURES[status])
    raise ConversionError("pypdf could not decrypt the PDF")
