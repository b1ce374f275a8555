"""Zip members read under a cap: declared sizes, real bytes, ratios."""

import io
import zipfile

import pytest

from cloudooo.errors import ConfigurationError, InvalidRequest
from cloudooo.handler.ooo.boundedzip import (BoundedMember, BoundedZip,
                                             UnpackBudget)
from cloudooo.handler.ooo.granulator import OdtGranulator
from cloudooo.settings import Settings
from tests import documents, odt_fixtures

MEGABYTE = 1024 * 1024


def zipped(files, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return io.BytesIO(buffer.getvalue())


def test_within_budget_members_read_whole_and_by_head():
    budget = UnpackBudget(10 * MEGABYTE, 200)
    with BoundedZip(zipped({"a.xml": b"<a/>" * 1000, "b": b"b"}),
                    budget) as package:
        assert package.read("a.xml") == b"<a/>" * 1000
        assert package.read("a.xml", 4) == b"<a/>"
        assert package.namelist() == ["a.xml", "b"]
    assert budget.unpacked == 4004


def test_declared_sizes_over_the_budget_refuse_before_inflating():
    budget = UnpackBudget(1000, 200)
    with pytest.raises(InvalidRequest, match="^document expands beyond 1000 "
                                             "bytes when unpacked"):
        BoundedZip(zipped({"a": b"x" * 600, "b": b"y" * 600}), budget)
    assert budget.unpacked == 0


def test_every_read_is_charged_to_one_budget():
    budget = UnpackBudget(1000, 200)
    for _request_part in range(2):
        with BoundedZip(zipped({"a": b"x" * 400}), budget) as package:
            package.read("a")
    with BoundedZip(zipped({"a": b"x" * 400}), budget) as package:
        with pytest.raises(InvalidRequest, match="max_unpacked_size"):
            package.read("a")


def test_ratio_over_the_limit_is_refused_for_big_members_only():
    # 2 MB of one byte deflates about 1000 times.
    budget = UnpackBudget(100 * MEGABYTE, 200)
    with pytest.raises(InvalidRequest, match="^document expands beyond 200 "
                                             "times its compressed size "
                                             r"\(big"):
        BoundedZip(zipped({"big": b"\x00" * (2 * MEGABYTE)}), budget)
    # Small members may compress as well as they like.
    with BoundedZip(zipped({"small": b"\x00" * 100000}), budget) as package:
        assert len(package.read("small")) == 100000
    # Stored members have ratio 1.
    with BoundedZip(zipped({"big": b"\x00" * (2 * MEGABYTE)},
                           zipfile.ZIP_STORED), budget) as package:
        assert len(package.read("big")) == 2 * MEGABYTE


def test_streams_are_counted_as_they_yield():
    """What inflates from a stream inside a member (svgz) is counted too."""
    budget = UnpackBudget(100, 1000)
    member = BoundedMember(io.BytesIO(b"x" * 150), "inner", 150, budget)
    assert member.read(100) == b"x" * 100
    with pytest.raises(InvalidRequest, match="max_unpacked_size"):
        member.read(10)


def test_too_many_members_refused(monkeypatch):
    monkeypatch.setattr("cloudooo.handler.ooo.boundedzip.MAX_MEMBERS", 3)
    data = zipped({"f%d" % index: b"" for index in range(4)})
    with pytest.raises(InvalidRequest, match="more than 3 files"):
        BoundedZip(data, UnpackBudget(MEGABYTE, 200))


def test_not_a_zip():
    with pytest.raises(zipfile.BadZipFile):
        BoundedZip(io.BytesIO(b"not a zip"), UnpackBudget(MEGABYTE, 200))


def test_extract_streams_to_a_file(tmp_path):
    data = documents.zip_of({"page.html": "<p>x</p>"})
    with BoundedZip(io.BytesIO(data), UnpackBudget(MEGABYTE, 200)) as package:
        package.extract(package.getinfo("page.html"), tmp_path / "out.html")
    assert (tmp_path / "out.html").read_bytes() == b"<p>x</p>"


def test_budget_from_the_configuration(tmp_path):
    settings = Settings(working_path=str(tmp_path), max_unpacked_size="1000",
                        max_compression_ratio="50")
    budget = UnpackBudget.from_settings(settings)
    assert (budget.max_unpacked_size, budget.max_compression_ratio) == (
        1000, 50)
    defaults = Settings(working_path=str(tmp_path))
    assert defaults.max_unpacked_size == 256 * MEGABYTE
    for key in ("max_unpacked_size", "max_compression_ratio"):
        with pytest.raises(ConfigurationError, match=key):
            Settings(working_path=str(tmp_path), **{key: "0"})


def test_granulation_reads_under_the_budget():
    document = odt_fixtures.build_odt("<text:p>%s</text:p>" % ("x" * 5000))
    assert OdtGranulator(document).paragraph_items()
    with pytest.raises(InvalidRequest, match="^document expands beyond 1000"):
        OdtGranulator(document, max_unpacked_size=1000)
