"""Password-protected office documents, decrypted in the server for the
link check.

The link check (``linkcheck.py``) reads a document's parts before
LibreOffice sees it; the parts of a protected ODF or OOXML document are
encrypted, and without this module a password would let links through
unread.  With the client's password, ``decrypted_copy`` writes a clear copy
of such a document for the link check alone: LibreOffice still opens the
original with the password (it stays the judge of the format).

* ODF (ODF 1.2 encryption, what LibreOffice writes): per-member AES-256-CBC
  under a PBKDF2-HMAC-SHA1 key from the SHA-256 (or SHA-1) of the password,
  the plain text then deflated.  Blowfish (OpenOffice.org 2-3) is refused.
* OOXML: an OLE2 file holding the encrypted zip, decrypted with
  msoffcrypto-tool.
* Word, Excel and PowerPoint 97 and PDF are not link-checked in any case.

A missing or wrong password is PasswordRequired (Fault 10) here already.
"""

import base64
import hashlib
import io
import os
import zipfile
import zlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from lxml import etree

from cloudooo.errors import ConversionError, PasswordRequired
from cloudooo.handler.ooo import sniff
from cloudooo.handler.ooo.boundedzip import ZIP_ERRORS, BoundedZip

MANIFEST = "META-INF/manifest.xml"
MANIFEST_NS = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
SHA256_NAMES = ("http://www.w3.org/2000/09/xmldsig#sha256",
                "http://www.w3.org/2001/04/xmlenc#sha256", "SHA256")
# PBKDF2 rounds one document may cost, all members together (LibreOffice
# asks 100000 per member, about 30 ms): a manifest asking more is damaged
# or a denial of service.
MAX_ITERATIONS = 5000000
# An encrypted OOXML file is an OLE2 file with this stream (its name as the
# directory stores it): other OLE2 files need no closer look.
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
CHUNK_SIZE = 64 * 1024
REQUIRED = "password required: the document is password-protected"
WRONG = "wrong password: the password given does not open the document"
MANIFEST_PARSER = etree.XMLParser(resolve_entities=False, no_network=True,
                                  load_dtd=False)


def decrypted_copy(path, password, budget, directory):
    """The path of a clear copy of the protected ODF or OOXML document at
    ``path``, written in ``directory``; None when the document is not one
    of those or not protected.  Raises PasswordRequired without a password
    or with a wrong one."""
    kind = sniff.sniff_file(path)
    if kind == sniff.ODF:
        members = odf_decrypted_members(path, password, budget)
    elif kind == sniff.OLE2:
        members = ooxml_decrypted(path, password)
    else:
        return None
    if members is None:
        return None
    copy = os.path.join(directory, "decrypted-for-check" +
                        os.path.splitext(path)[1])
    if isinstance(members, bytes):
        with open(copy, "wb") as stream:
            stream.write(members)
        return copy
    with zipfile.ZipFile(copy, "w", zipfile.ZIP_STORED) as package:
        for name, data in members:
            package.writestr(name, data)
    return copy


# -- ODF ---------------------------------------------------------------------

def odf_decrypted_members(path, password, budget):
    """[(name, clear bytes)] of an ODF package with encrypted members, or
    None when none is encrypted."""
    try:
        with BoundedZip(path, budget) as package:
            if MANIFEST not in package.namelist():
                return None
            manifest = etree.fromstring(package.read(MANIFEST),
                                        MANIFEST_PARSER)
            encryption = encryption_by_member(manifest)
            if not encryption:
                return None
            if not password:
                raise PasswordRequired(REQUIRED)
            keys = {}
            members = []
            checked_password = False
            for info in package.infolist():
                data = package.read(info)
                entry = encryption.get(info.filename)
                if entry is not None:
                    data, proven = decrypt_member(data, entry, password,
                                                  keys, budget)
                    checked_password = checked_password or proven
                    if not proven and info.filename == "content.xml":
                        raise PasswordRequired(WRONG)
                members.append((info.filename, data))
    except ZIP_ERRORS + (etree.LxmlError,):
        return None  # damaged: the link check and LibreOffice say so
    if not checked_password:
        raise PasswordRequired(WRONG)
    return members


def encryption_by_member(manifest):
    """{member name: its manifest:encryption-data element}."""
    result = {}
    for entry in manifest.iter("{%s}file-entry" % MANIFEST_NS):
        data = entry.find("{%s}encryption-data" % MANIFEST_NS)
        if data is not None:
            result[entry.get("{%s}full-path" % MANIFEST_NS)] = data
    return result


def _attribute(element, child, name):
    node = element if child is None else \
        element.find("{%s}%s" % (MANIFEST_NS, child))
    return None if node is None else node.get("{%s}%s" % (MANIFEST_NS, name))


def decrypt_member(data, encryption, password, keys, budget):
    """(clear bytes, whether they prove the password right) of one
    encrypted member: decrypted, unpadded, inflated when deflated."""
    algorithm = _attribute(encryption, "algorithm", "algorithm-name")
    if algorithm != AES256_CBC:
        raise ConversionError("this document is protected with an encryption "
                              "the server does not read (%s)"
                              % (algorithm or "unknown")[:80])
    try:
        iv = base64.b64decode(_attribute(encryption, "algorithm",
                                         "initialisation-vector"))
        salt = base64.b64decode(_attribute(encryption, "key-derivation",
                                           "salt"))
        iterations = int(_attribute(encryption, "key-derivation",
                                    "iteration-count"))
        key_size = int(_attribute(encryption, "key-derivation", "key-size")
                       or 32)
    except (TypeError, ValueError):
        raise ConversionError("the document's encryption data is damaged")
    if iterations < 1 or key_size != 32:
        raise ConversionError("the document's encryption data is damaged")
    start_name = _attribute(encryption, "start-key-generation",
                            "start-key-generation-name")
    start_key = (hashlib.sha256 if start_name in SHA256_NAMES
                 else hashlib.sha1)(password.encode("utf-8")).digest()
    # Every member has its own salt; one derivation per distinct salt.
    cache_key = (start_key, salt, iterations)
    if cache_key not in keys:
        keys["iterations"] = keys.get("iterations", 0) + iterations
        if keys["iterations"] > MAX_ITERATIONS:
            raise ConversionError("the document's encryption asks for more "
                                  "than %d key derivation rounds"
                                  % MAX_ITERATIONS)
        keys[cache_key] = hashlib.pbkdf2_hmac("sha1", start_key, salt,
                                              iterations, key_size)
    if len(data) % 16 or len(iv) != 16:
        return data, False
    decryptor = Cipher(algorithms.AES(keys[cache_key]), modes.CBC(iv)) \
        .decryptor()
    clear = decryptor.update(data) + decryptor.finalize()
    padding = clear[-1] if clear else 0
    if 1 <= padding <= 16:
        clear = clear[:-padding]
    inflated = inflate(clear, budget)
    if inflated is None:
        return clear, False
    return inflated, True


def inflate(data, budget):
    """Raw-deflated ``data`` inflated under ``budget``; None when it is not
    deflate data (a stored picture, or a wrong key's garbage)."""
    inflater = zlib.decompressobj(-15)
    output = io.BytesIO()
    try:
        chunk = inflater.decompress(data, CHUNK_SIZE)
        while chunk:
            budget.charge(len(chunk))
            output.write(chunk)
            chunk = inflater.decompress(inflater.unconsumed_tail, CHUNK_SIZE)
    except zlib.error:
        return None
    if not inflater.eof:
        return None
    return output.getvalue()


# -- OOXML -------------------------------------------------------------------

def ooxml_decrypted(path, password):
    """The clear zip of an encrypted OOXML file (an OLE2 container), or
    None for any other OLE2 file (Word 97 and friends: LibreOffice alone
    reads them)."""
    # Imported here: only protected OOXML needs it.
    import msoffcrypto
    from msoffcrypto.exceptions import (DecryptionError, FileFormatError,
                                        InvalidKeyError, ParseError)
    with open(path, "rb") as stream:
        if ENCRYPTED_PACKAGE not in stream.read():
            return None
        stream.seek(0)
        try:
            office_file = msoffcrypto.OfficeFile(stream)
            if getattr(office_file, "format", None) != "ooxml" or \
                    not office_file.is_encrypted():
                return None
        except (FileFormatError, ParseError, ValueError, OSError):
            return None
        if not password:
            raise PasswordRequired(REQUIRED)
        # Agile encryption hashes the password spinValue times, in Python:
        # Office asks 100000; a file asking billions would hold this thread.
        spins = (office_file.info or {}).get("spinValue", 0) \
            if getattr(office_file, "type", "") == "agile" else 0
        if not isinstance(spins, int) or spins > MAX_ITERATIONS:
            raise ConversionError("the document's encryption asks for more "
                                  "than %d key derivation rounds"
                                  % MAX_ITERATIONS)
        clear = io.BytesIO()
        try:
            office_file.load_key(password=password)
            office_file.decrypt(clear)
        except InvalidKeyError:
            raise PasswordRequired(WRONG)
        except (DecryptionError, FileFormatError, ParseError, ValueError):
            raise ConversionError("the protected document is damaged")
    return clear.getvalue()
