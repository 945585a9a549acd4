"""The DID records and metadata msproc registers are lsst-rucio-register's (no Rucio server needed)."""

from __future__ import annotations

import json
import zlib

import pytest
from lsst.rucio.register.data_type import DataType
from lsst.rucio.register.rubin_meta import RubinMeta
from lsst.rucio.register.rucio_did import RucioDID

from transfers.backends.rucio.registration import parse_meta, register_files, rubin_file


def test_a_file_under_the_butler_root_becomes_a_rucio_did_named_by_its_relative_path(tmp_path):
    root = tmp_path / "dp2"
    path = root / "run" / "raw" / "file.fits"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"rubin" * 1000)
    ref_json = json.dumps({"datasetType": {"name": "raw"}})

    did = rubin_file(root, path, DataType.RAW_FILE, ref_json, scope="dp2")

    assert isinstance(did, RucioDID)
    assert (did.scope, did.name, did.bytes) == ("dp2", "run/raw/file.fits", 5000)
    assert did.adler32 == f"{zlib.adler32(b'rubin' * 1000) & 0xFFFFFFFF:08x}"
    assert did.pfn == path.resolve().as_uri()
    assert did.meta == RubinMeta(rubin_butler="raw_file", rubin_sidecar=ref_json)


def test_a_file_outside_the_butler_root_is_refused_with_both_paths_named(tmp_path):
    (tmp_path / "elsewhere.yaml").write_text("x")
    (tmp_path / "dp2").mkdir()

    with pytest.raises(ValueError, match="outside the Butler root"):
        rubin_file(tmp_path / "dp2", tmp_path / "elsewhere.yaml", DataType.DIM_FILE, scope="dp2")


def test_files_of_another_scope_are_refused_before_rucio_is_called(tmp_path):
    (tmp_path / "a.yaml").write_text("x")
    did = rubin_file(tmp_path, tmp_path / "a.yaml", DataType.DIM_FILE, scope="other")

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"Rucio was called: {name}")

    with pytest.raises(ValueError, match="not in scope 'dp2'.*a.yaml"):
        register_files(Untouchable(), "dp2", "SLAC_BUTLER_DISK", [did])


@pytest.mark.parametrize(("meta", "expected"), [
    ({"rubin_butler": "dim_file", "rubin_sidecar": ""}, ("dim_file", None)),
    ({"rubin_butler": "zip_file"}, ("zip_file", None)),
    ({"rubin_butler": "raw_file", "rubin_sidecar": '{"id": "x"}', "scope": "dp2"}, ("raw_file", {"id": "x"})),
    ({"rubin_butler": "data_product", "rubin_sidecar": {"id": "y"}}, ("data_product", {"id": "y"})),
    ({"name": "a file someone else registered"}, ("", None)),
])
def test_did_metadata_reads_back_as_kind_and_sidecar(meta, expected):
    assert parse_meta(meta) == expected


def test_a_sidecar_that_is_not_json_is_an_error_not_an_empty_ref():
    with pytest.raises(json.JSONDecodeError):
        parse_meta({"rubin_butler": "raw_file", "rubin_sidecar": "{not json"})
