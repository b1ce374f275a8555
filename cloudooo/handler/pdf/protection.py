"""Password-protected PDF input, for the pdf and the office handlers.

poppler's tools would take the password on their command line and
LibreOffice's PDF import does not take it at all in 7.4, so a protected PDF
is decrypted first, by pypdf in a child process (``decrypter.py``), and the
tools read the decrypted copy in the request's own directory.
"""

import os
import sys

from cloudooo.errors import ConversionError, PasswordRequired
from cloudooo.util import child_environment

DECRYPTER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "decrypter.py")
# Every encrypted PDF names its encryption dictionary in its trailer (or
# its cross-reference stream's dictionary, never compressed): without these
# bytes there is nothing to decrypt and no child to start.
ENCRYPT_KEY = b"/Encrypt"
FAILURES = {"required": "password required: the PDF is password-protected",
            "wrong": "wrong password: the password given does not open the "
                     "PDF"}


def readable_pdf(path, password, handler):
    """The path of a copy of the PDF at ``path`` that opens without a
    password: ``path`` itself when it needs none.  Raises PasswordRequired
    when the PDF needs a password and ``password`` is missing or wrong.
    pypdf runs as ``handler``'s tools do (in its sandbox), writing only in
    the PDF's folder."""
    with open(path, "rb") as stream:
        if ENCRYPT_KEY not in stream.read():
            return path
    directory = os.path.dirname(path)
    destination = os.path.join(directory, "decrypted.pdf")
    settings = handler.settings
    # The helper runs on the server's virtualenv, which the sandbox shows
    # read-only.
    result = handler.run_tool(
        [sys.executable, DECRYPTER, path, destination], settings.tool_timeout,
        child_environment(settings.env), directory,
        input_bytes=(password or "").encode("utf-8"), tool="pypdf",
        read_only=[sys.prefix, DECRYPTER])
    status = result.stdout.decode("ascii", "replace").strip()
    if status == "clear":
        return path
    if status == "decrypted" and os.path.exists(destination):
        return destination
    if status in FAILURES:
        raise PasswordRequired(FAILURES[status])
    raise ConversionError("pypdf could not decrypt the PDF")
