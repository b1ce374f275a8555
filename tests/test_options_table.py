"""The export options table on its own: checks and mapping, no office."""

import pytest

from cloudooo.errors import InvalidRequest
from cloudooo.handler.ooo import options

WRITER_PDF = {"com.sun.star.text.TextDocument": {
    "filter": "writer_pdf_Export",
    "store_options": {"FilterData": {"SelectPdfVersion": 1}}}}
IMPRESS_PDF = {"com.sun.star.presentation.PresentationDocument": {
    "filter": "impress_pdf_Export",
    "store_options": {"FilterData": {"SelectPdfVersion": 1,
                                     "ExportNotesPages": True}}}}
CALC_CSV = {"com.sun.star.sheet.SpreadsheetDocument": {
    "filter": "Text - txt - csv (StarCalc)",
    "store_options": {"FilterOptions": "44,34,76,1,,0,false,true,true"}}}
WRITER_TXT = {"com.sun.star.text.TextDocument": {
    "filter": "Text (encoded)",
    "store_options": {"FilterOptions": "UTF8,LF"}}}


def targets_with(targets, conversion_kw):
    checked = options.check_options(
        conversion_kw, options.families_of(targets), "x")
    return next(iter(options.export_targets(targets, checked).values()))


@pytest.mark.parametrize("filter_name, family", [
    ("writer_pdf_Export", "pdf"), ("impress_pdf_Export", "pdf"),
    ("writer_png_Export", "image"), ("draw_jpg_Export", "image"),
    ("calc_webp_Export", "image"), ("impress_tif_Export", "image"),
    ("Text - txt - csv (StarCalc)", "csv"), ("Text (encoded)", "text"),
    ("Text (encoded) (StarWriter/Web)", "text"), ("writer8", None),
    ("MS Word 2007 XML", None)])
def test_filter_families(filter_name, family):
    assert options.filter_family(filter_name) == family


def test_pdf_options_become_filter_data_and_keep_the_defaults():
    target = targets_with(WRITER_PDF, {
        "page_range": "1 - 3, 5", "watermark": "DRAFT",
        "export_bookmarks": "yes", "image_quality": "80",
        "max_image_resolution": 150})
    assert target["store_options"]["FilterData"] == {
        "SelectPdfVersion": 1, "PageRange": "1-3,5", "Watermark": "DRAFT",
        "ExportBookmarks": True, "Quality": 80,
        "UseLosslessCompression": False, "MaxImageResolution": 150,
        "ReduceImageResolution": True}
    # The shared catalogue entry is not touched.
    assert WRITER_PDF["com.sun.star.text.TextDocument"]["store_options"] == {
        "FilterData": {"SelectPdfVersion": 1}}


def test_passwords_ask_for_pdf_1_7():
    data = targets_with(WRITER_PDF, {"user_password": "u",
                                     "owner_password": "o"})[
        "store_options"]["FilterData"]
    assert data["SelectPdfVersion"] == 17
    assert data["EncryptFile"] and data["DocumentOpenPassword"] == "u"
    assert data["RestrictPermissions"] and data["PermissionPassword"] == "o"


def test_notes_pages_only_for_presentations():
    assert "ExportNotesPages" not in targets_with(
        WRITER_PDF, {"export_notes": False})["store_options"]["FilterData"]
    data = targets_with(IMPRESS_PDF, {"export_notes": False})[
        "store_options"]["FilterData"]
    assert data["ExportNotes"] is False and data["ExportNotesPages"] is False


@pytest.mark.parametrize("conversion_kw, filter_options", [
    ({"delimiter": ";"}, "59,34,76,1,,0,false,true,true"),
    ({"delimiter": "\\t", "quote": "'"}, "9,39,76,1,,0,false,true,true"),
    ({"quote": "", "encoding": "ISO-8859-15"},
     "44,,22,1,,0,false,true,true"),
    ({"encoding": "utf_16"}, "44,34,65535,1,,0,false,true,true"),
])
def test_csv_options_become_tokens(conversion_kw, filter_options):
    assert targets_with(CALC_CSV, conversion_kw)["store_options"][
        "FilterOptions"] == filter_options


@pytest.mark.parametrize("encoding, token", [
    ("latin-1", "ISO_8859_1"), ("cp1252", "MS_1252"), ("UTF8", "UTF8"),
    ("us-ascii", "ASCII_US")])
def test_text_encoding_token(encoding, token):
    assert targets_with(WRITER_TXT, {"encoding": encoding})[
        "store_options"]["FilterOptions"] == token + ",LF"


def test_image_options_go_to_the_worker():
    png = {"com.sun.star.text.TextDocument": {"filter": "writer_png_Export",
                                              "store_options": {}}}
    target = targets_with(png, {"width": 200, "height": "100", "page": 2})
    assert target["image"] == {"width": 200, "height": 100, "page": 2}


def test_empty_and_nil_values_leave_a_key_unset():
    assert options.check_options(
        {"password": "", "script": "", "page_range": None}, ["pdf"], "x") \
        == {"password": None, "script": None}
    with pytest.raises(InvalidRequest, match="'nope' is not an option"):
        options.check_options({"nope": None}, ["pdf"], "x")


def test_script_and_password_leave_targets_alone():
    target = targets_with(WRITER_PDF, {"script": "pass", "password": "x"})
    assert target is WRITER_PDF["com.sun.star.text.TextDocument"]


@pytest.mark.parametrize("conversion_kw, message", [
    ({"nope": 1}, "'nope' is not an option of x output"),
    ({"width": 10}, "'width' is not an option of x output"),
    ({"page_range": "0-2"}, "'page_range' must be"),
    ({"page_range": "2-"}, None),
    ({"page_range": "a"}, "'page_range' must be"),
    ({"watermark": ""}, "'watermark' must be"),
    ({"export_notes": 2}, "'export_notes' must be a boolean"),
    ({"image_quality": True}, "'image_quality' must be an integer"),
    ({"pdf_version": "PDF/A-2b", "owner_password": "o"},
     "PDF/A forbids encryption"),
    ({"script": 3}, "'script' must be"),
])
def test_checks(conversion_kw, message):
    if message is None:
        options.check_options(conversion_kw, ["pdf"], "x")
        return
    with pytest.raises(InvalidRequest, match=message):
        options.check_options(conversion_kw, ["pdf"], "x")


def test_supported_keys_by_family():
    assert options.supported_keys([]) == ["password", "script"]
    assert options.supported_keys(["csv"]) == [
        "delimiter", "encoding", "password", "quote", "script"]
    assert "page" in options.supported_keys(["image"])
