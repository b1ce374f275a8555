"""Password-protected input: opened with the password, refused at once
without it or with a wrong one (Fault 10), the instance kept warm, the
password never logged.

The protected documents are made here: ODF and the binary Word/Excel 97
formats by LibreOffice itself (a conversion script on a fixture server of
its own stores a copy with the store ``Password`` property), OOXML by
msoffcrypto-tool (LibreOffice 7.4 does not encrypt OOXML it writes), PDF by
pypdf.  The server under test runs with debug logging, scripting off.
"""

import base64
import hashlib
import io
import os
import xmlrpc.client
import zipfile
import zlib

import msoffcrypto.format.ooxml
import pypdf
import pytest

from tests import documents
from tests.server import ServerProcess, b64, unb64
from tests.test_export_options import pages_document

# Word 97 takes at most 15 characters (LibreOffice 7.4 writes a longer one
# so that the document opens without any).
PASSWORD = "Sesame-4711 x"
WRONG = "not the password"
PASSWORD_FAULT = 10
# Run on the loaded document by the fixture server: a protected copy beside
# the output, in the request's own folder (the only place the sandbox lets
# LibreOffice write), so that the zipped output brings it back.
STORE_WITH_PASSWORD = """
from com.sun.star.beans import PropertyValue
folder = document.getURL().rsplit("/in/", 1)[0]
document.storeToURL(folder + "/out/protected.%s", (
    PropertyValue("FilterName", 0, %r, 0),
    PropertyValue("Password", 0, %r, 0)))
"""


@pytest.fixture(scope="module")
def protected(tmp_path_factory):
    """{format: password-protected document bytes}, each holding the text
    "Protected text"."""
    folder = tmp_path_factory.mktemp("protected")
    maker = ServerProcess(folder / "maker", office_pool_size=1,
                          ooo_enable_scripting="true").start()
    try:
        proxy = maker.proxy()
        text = documents.fodt("Protected text")
        sheet = documents.fods(rows=(("Protected text", "1"),))
        made = {}
        for extension, source, data, filter_name in (
                ("odt", "fodt", text, "writer8"),
                ("doc", "fodt", text, "MS Word 97"),
                ("ods", "fods", sheet, "calc8"),
                ("xls", "fods", sheet, "MS Excel 97")):
            output = unb64(proxy.convertFile(b64(data), source, "pdf", True,
                                             False, {
                "script": STORE_WITH_PASSWORD % (extension, filter_name,
                                                 PASSWORD)}))
            with zipfile.ZipFile(io.BytesIO(output)) as archive:
                made[extension] = archive.read("protected." + extension)
        for extension, source, data in (("docx", "fodt", text),
                                        ("xlsx", "fods", sheet)):
            plain = unb64(proxy.convertFile(b64(data), source, extension))
            encrypted = io.BytesIO()
            msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(plain)).encrypt(
                PASSWORD, encrypted)
            made[extension] = encrypted.getvalue()
        pdf = unb64(proxy.convertFile(b64(pages_document(2)), "fodt", "pdf",
                                      False, False,
                                      {"pdf_version": "PDF-1.7"}))
        writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
        writer.encrypt(PASSWORD, "owner " + PASSWORD, algorithm="AES-256")
        encrypted = io.BytesIO()
        writer.write(encrypted)
        made["pdf"] = encrypted.getvalue()
    finally:
        assert maker.stop() == []
    return made


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("password"),
                           office_pool_size=1, debug_mode="true").start()
    yield server
    assert server.stop() == []
    assert PASSWORD not in server.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def office_pids(office):
    """The soffice pids before any protected document: kept to the end."""
    return office.office_pids()


def password_fault(call):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call()
    assert caught.value.faultCode == PASSWORD_FAULT, caught.value
    return caught.value.faultString


def test_documents_are_really_protected(protected):
    assert set(protected) == {"odt", "doc", "ods", "xls", "docx", "xlsx",
                              "pdf"}
    for extension, data in protected.items():
        if extension == "xls":
            # BIFF8 encryption leaves some records in clear, and
            # LibreOffice's export leaves the cell text among them; that it
            # needs its password is what the tests below show.
            continue
        assert b"Protected text" not in data and b"Page 1 text" not in data, \
            extension


@pytest.mark.parametrize("extension, destination", [
    ("odt", "txt"), ("doc", "txt"), ("docx", "txt"), ("ods", "csv"),
    ("xls", "csv"), ("xlsx", "csv"), ("pdf", "odg")])
def test_opened_with_the_password_refused_without(
        office, office_pids, protected, extension, destination):
    proxy = office.proxy()
    data = b64(protected[extension])
    message = password_fault(lambda: proxy.convertFile(
        data, extension, destination))
    assert message.startswith("password required")
    message = password_fault(lambda: proxy.convertFile(
        data, extension, destination, False, False, {"password": WRONG}))
    assert message.startswith("wrong password")
    assert PASSWORD not in message and WRONG not in message
    output = unb64(proxy.convertFile(data, extension, destination, False,
                                     False, {"password": PASSWORD}))
    if destination == "odg":
        # Draw's PDF import: one text frame per line of the page.
        with zipfile.ZipFile(io.BytesIO(output)) as package:
            assert b"Page 1 text" in package.read("content.xml")
    else:
        assert b"Protected text" in output
    # Refusals are the document's fault: no restart, the instance is warm.
    assert office.office_pids() == office_pids


def test_protected_pdf_through_libreoffice_keeps_its_text(office, protected):
    proxy = office.proxy()
    pdf = unb64(proxy.convertFile(b64(protected["pdf"]), "pdf", "pdf", False,
                                  False, {"password": PASSWORD,
                                          "pdf_version": "PDF-1.7"}))
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert not reader.is_encrypted
    assert "Page 2 text" in reader.pages[1].extract_text()


def test_pdf_handler_text_and_metadata(office, office_pids, protected):
    proxy = office.proxy()
    data = b64(protected["pdf"])
    text = unb64(proxy.convertFile(data, "pdf", "txt", False, False,
                                   {"password": PASSWORD}))
    assert b"Page 1 text" in text and b"Page 2 text" in text
    assert password_fault(lambda: proxy.convertFile(
        data, "pdf", "txt")).startswith("password required")
    assert password_fault(lambda: proxy.convertFile(
        data, "pdf", "txt", False, False, {"password": WRONG})).startswith(
        "wrong password")
    metadata = proxy.getFileMetadataItemList(data, "pdf", False, PASSWORD)
    assert metadata["pages"] == "2"
    assert password_fault(lambda: proxy.getFileMetadataItemList(
        data, "pdf")).startswith("password required")
    assert office.office_pids() == office_pids


def test_protected_pdf_to_an_image(office, protected):
    proxy = office.proxy()
    data = b64(protected["pdf"])
    png = unb64(proxy.convertFile(data, "pdf", "png", False, False,
                                  {"password": PASSWORD}))
    assert png.startswith(b"\x89PNG")
    assert password_fault(lambda: proxy.convertFile(
        data, "pdf", "png")).startswith("password required")


def test_metadata_of_a_protected_office_document(office, protected):
    proxy = office.proxy()
    data = b64(protected["odt"])
    metadata = proxy.getFileMetadataItemList(data, "odt", True, PASSWORD)
    assert metadata["MIMEType"] == documents.ODT_MIMETYPE
    # The base document comes back readable, without the password.
    base = unb64(metadata["Data"])
    assert b"Protected text" in unb64(proxy.convertFile(
        b64(base), "odt", "txt"))
    assert password_fault(lambda: proxy.getFileMetadataItemList(
        data, "odt")).startswith("password required")
    assert password_fault(lambda: proxy.getFileMetadataItemList(
        data, "odt", False, WRONG)).startswith("wrong password")


def test_granulation_of_a_protected_document(office, protected):
    proxy = office.proxy()
    for extension in ("odt", "docx"):
        data = b64(protected[extension])
        paragraphs = proxy.getParagraphItemList(data, extension, PASSWORD)
        texts = [proxy.getParagraph(data, index, extension, PASSWORD)[0]
                 for index, _style in paragraphs]
        assert "Protected text" in texts
        assert password_fault(lambda: proxy.getParagraphItemList(
            data, extension)).startswith("password required")


def test_password_for_media_is_refused(office):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        office.proxy().getFileMetadataItemList(
            b64(documents.png()), "png", False, PASSWORD)
    assert caught.value.faultCode == 2
    assert PASSWORD not in caught.value.faultString


def test_the_password_is_never_logged(office, protected):
    # Every path above ran with debug logging: nothing wrote the password
    # (the server's own lines and its workers' standard error share the log).
    office.proxy().convertFile(b64(protected["doc"]), "doc", "txt", False,
                               False, {"password": PASSWORD})
    log = office.log_path.read_text(errors="replace")
    assert "password" in log.lower()  # the refusals above were logged
    assert PASSWORD not in log and WRONG not in log


# -- the link check reads protected documents too ---------------------------

MANIFEST_NS = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"


def encrypt_odf(package, password):
    """``package`` (a clear ODF zip) protected as LibreOffice protects
    ODF: each member deflated, then AES-256-CBC under a PBKDF2 key of the
    SHA-256 of the password, described in the manifest."""
    from cryptography.hazmat.primitives.ciphers import (Cipher, algorithms,
                                                        modes)
    start_key = hashlib.sha256(password.encode("utf-8")).digest()
    members, entries = [], []
    with zipfile.ZipFile(io.BytesIO(package)) as clear:
        for name in clear.namelist():
            if name in ("mimetype", "META-INF/manifest.xml"):
                continue
            data = clear.read(name)
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            deflated = compressor.compress(data) + compressor.flush()
            salt, iv = os.urandom(16), os.urandom(16)
            key = hashlib.pbkdf2_hmac("sha1", start_key, salt, 100000, 32)
            padding = 16 - len(deflated) % 16
            encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            encrypted = encryptor.update(
                deflated + bytes([padding]) * padding) + encryptor.finalize()
            members.append((name, encrypted))
            entries.append(
                '<manifest:file-entry manifest:full-path="%s" '
                'manifest:media-type="" manifest:size="%d">'
                '<manifest:encryption-data manifest:checksum-type="%s#sha256-'
                '1k" manifest:checksum="%s"><manifest:algorithm '
                'manifest:algorithm-name="http://www.w3.org/2001/04/xmlenc#'
                'aes256-cbc" manifest:initialisation-vector="%s"/>'
                '<manifest:start-key-generation manifest:start-key-generation'
                '-name="http://www.w3.org/2000/09/xmldsig#sha256" '
                'manifest:key-size="32"/><manifest:key-derivation '
                'manifest:key-derivation-name="PBKDF2" manifest:key-size="32" '
                'manifest:iteration-count="100000" manifest:salt="%s"/>'
                '</manifest:encryption-data></manifest:file-entry>' % (
                    name, len(data), MANIFEST_NS,
                    base64.b64encode(hashlib.sha256(
                        deflated[:1024]).digest()).decode(),
                    base64.b64encode(iv).decode(),
                    base64.b64encode(salt).decode()))
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest '
        'xmlns:manifest="%s" manifest:version="1.3"><manifest:file-entry '
        'manifest:full-path="/" manifest:media-type="%s"/>%s'
        '</manifest:manifest>' % (MANIFEST_NS, documents.ODT_MIMETYPE,
                                  "".join(entries)))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("mimetype", documents.ODT_MIMETYPE,
                         compress_type=zipfile.ZIP_STORED)
        for name, data in members:
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest,
                         compress_type=zipfile.ZIP_DEFLATED)
    return output.getvalue()


def test_odf_encrypted_here_opens_in_libreoffice(office):
    # The fixture below is only worth something if LibreOffice reads it.
    document = encrypt_odf(documents.odt_package(
        "<text:p>Encrypted by the test</text:p>"), PASSWORD)
    text = unb64(office.proxy().convertFile(
        b64(document), "odt", "txt", False, False, {"password": PASSWORD}))
    assert b"Encrypted by the test" in text


@pytest.mark.parametrize("kind", ["odt", "docx"])
def test_links_inside_a_protected_document_are_refused(
        office, spy_http_server, kind):
    url, hits = spy_http_server
    if kind == "odt":
        document = encrypt_odf(documents.odt_package(
            "<text:p>linked</text:p>" + documents.image_frame(url)),
            PASSWORD)
    else:
        # msoffcrypto-tool cannot read back packages under 4 KB (OLE2
        # keeps them in its mini stream): an unused part makes it bigger.
        package = io.BytesIO(documents.docx_with_external_image(url))
        with zipfile.ZipFile(package, "a") as archive:
            archive.writestr("customXml/padding.bin", os.urandom(8192))
        encrypted = io.BytesIO()
        msoffcrypto.format.ooxml.OOXMLFile(package).encrypt(PASSWORD,
                                                            encrypted)
        document = encrypted.getvalue()
    with pytest.raises(xmlrpc.client.Fault) as caught:
        office.proxy().convertFile(b64(document), kind, "pdf", False, False,
                                   {"password": PASSWORD})
    assert caught.value.faultCode == 5
    assert "unsafe links" in caught.value.faultString
    assert hits == []


def test_key_derivation_rounds_are_bounded(tmp_path):
    # A manifest asking for 10**9 PBKDF2 rounds would hold a server thread
    # for minutes: refused before any derivation.
    from cloudooo.errors import ConversionError
    from cloudooo.handler.ooo import protected
    from cloudooo.handler.ooo.boundedzip import UnpackBudget
    document = encrypt_odf(documents.odt_package("<text:p>x</text:p>"),
                           PASSWORD)
    source = zipfile.ZipFile(io.BytesIO(document))
    path = tmp_path / "greedy.odt"
    with zipfile.ZipFile(path, "w") as greedy:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "META-INF/manifest.xml":
                data = data.replace(b'iteration-count="100000"',
                                    b'iteration-count="1000000000"')
            greedy.writestr(info, data)
    with pytest.raises(ConversionError, match="key derivation rounds"):
        protected.decrypted_copy(str(path), PASSWORD,
                                 UnpackBudget(10 ** 8, 200), str(tmp_path))
