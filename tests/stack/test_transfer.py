from __future__ import annotations

from urllib.parse import urlparse

import pytest

from stack.defaults import RAW_RUN
from stack.repo import create_repo, record_counts, repo_contents
from stack.transfer import (
    TransferError,
    archive,
    transfer_datasets,
    verify_archive,
    zip_and_ingest,
    zip_at,
    zipped_datasets,
)

pytestmark = pytest.mark.slow


def test_transfer_carries_datasets_records_and_collections(hub_root, step1_visit1, tmp_path):
    assert step1_visit1.ok
    site = create_repo(tmp_path / "site")
    result = transfer_datasets(
        hub_root,
        site,
        ["single_visit_star", "pvi", "raw"],
        ["msproc/step1/visit1", RAW_RUN],
        where="instrument = 'MockCam' AND visit = 1",
        chain="msproc/step1/visit1",
    )
    assert (result.expected, result.transferred, result.ingested) == (6, 6, 6)
    assert result.per_dataset_type == {"single_visit_star": 2, "pvi": 2, "raw": 2}
    assert repo_contents(site, "msproc/step1/visit1") == {"pvi": 2, "raw": 2, "single_visit_star": 2}
    counts = record_counts(site)
    assert counts["visit"] == 1 and counts["exposure"] == 1 and counts["visit_detector_region"] == 2
    assert (counts["tract"], counts["patch"]) == (8, 32)
    # a second movement of the same data is a no-op, still verified
    again = transfer_datasets(hub_root, site, ["pvi"], "msproc/step1/visit1", "instrument = 'MockCam' AND visit = 1")
    assert (again.expected, again.transferred, again.ingested) == (2, 0, 2)


def test_moving_raws_carries_their_visit_definitions(hub_root, tmp_path):
    site = create_repo(tmp_path / "site")
    result = transfer_datasets(hub_root, site, ["raw"], RAW_RUN, "instrument = 'MockCam' AND exposure IN (3, 17)")
    assert result.ingested == 4
    counts = record_counts(site, ["exposure", "visit", "visit_definition", "visit_detector_region"])
    assert counts == {"exposure": 2, "visit": 2, "visit_definition": 2, "visit_detector_region": 4}


def test_zip_ingest_and_archive(hub_root, step1_visit1, tmp_path):
    site = create_repo(tmp_path / "site")
    result = zip_and_ingest(
        hub_root,
        site,
        ["pvi", "single_visit_star"],
        "msproc/step1/visit1",
        where="instrument = 'MockCam' AND visit = 1",
        zip_dir=tmp_path / "zips",
    )
    assert (result.expected, result.ingested) == (4, 4)
    assert len(result.zip_paths) == 1 and result.zip_bytes > 0
    assert repo_contents(site) == {"pvi": 2, "single_visit_star": 2}

    archived = archive(result.zip_paths, tmp_path / "tape")
    assert [e.name for e in archived.entries] == [p.name for p in result.zip_paths]
    assert verify_archive(tmp_path / "tape") == []
    (tmp_path / "tape" / archived.entries[0].name).write_bytes(b"corrupt")
    assert verify_archive(tmp_path / "tape") == [archived.entries[0].name]


def test_zip_at_zips_what_a_repository_holds_except_what_is_zipped_already(hub_root, step1_visit1, tmp_path):
    """The archive's part at the hub: datasets no return zipped (here, none at first; then all are skipped)."""
    zips = zip_at(hub_root, ["pvi", "single_visit_star"], ["msproc/step1/visit1", "no/such/collection"],
                  tmp_path / "zips")
    assert len(zips) == 1
    zipped = zipped_datasets(zips)
    assert sorted(dataset_type for dataset_type, _ in zipped.values()) == ["pvi"] * 2 + ["single_visit_star"] * 2
    assert {data_id["visit"] for _, data_id in zipped.values()} == {1}
    assert zip_at(hub_root, ["pvi", "single_visit_star"], ["msproc/step1/visit1"], tmp_path / "again",
                  skip=zipped) == []


def test_zip_of_nothing_is_a_permanent_error(hub_root, tmp_path):
    site = create_repo(tmp_path / "site")
    with pytest.raises(TransferError) as error:
        zip_and_ingest(hub_root, site, ["pvi"], "msproc/step1/visit1", "instrument = 'MockCam' AND visit = 5", tmp_path)
    assert error.value.permanent


def test_it_measures_the_bytes_a_transfer_stored_at_the_destination(hub_root, tmp_path):
    from stack.transfer import dataset_bytes, find_refs

    site = create_repo(tmp_path / "site")
    result = transfer_datasets(hub_root, site, ["raw"], RAW_RUN, "instrument = 'MockCam' AND exposure IN (3, 17)")
    on_disk = sum(path.stat().st_size for path in (tmp_path / "site").rglob("*") if path.is_file()
                  and "raw" in path.parts and path.suffix != ".sqlite3")
    assert result.bytes > 0 and result.bytes == on_disk
    refs = [ref for refs in find_refs(site, ["raw"], RAW_RUN, "").values() for ref in refs]
    assert dataset_bytes(site, refs) == result.bytes
    assert dataset_bytes(site, []) == 0


def test_the_rucio_archive_zips_at_the_hub_only_the_runs_no_return_carried(hub_root, step1_visit1, tmp_path):
    """The hub's share of a Rucio archive: its own RUNs of the archived types, zipped; none once returned."""
    from transfers.backends.base import MovementRequest
    from transfers.backends.rucio.backend import RucioTransferBackend

    request = MovementRequest(
        key="archive:SLAC:after-step1", kind="archive", sources={"SLAC": str(hub_root)}, destination="SLAC",
        destination_repo=str(hub_root), dataset_types=["pvi"], dimensions={"pvi": ["instrument", "visit", "detector"]},
        collections=["msproc/step1/visit1", "no/such/collection"], data_ids={}, instrument="MockCam",
        skymap="mock_skymap", work_dir=str(tmp_path / "archive"))
    backend = RucioTransferBackend()
    files = backend._hub_files(request, "msproc.archive-hub-share", set(), "dp2")
    zips = [f for f in files if f.name.endswith(".zip")]
    assert len(zips) == 1 and zips[0].bytes > 0 and zips[0].scope == "dp2"
    assert zips[0].meta.rubin_butler == "zip_file"
    assert {data_id["visit"] for _, data_id in zipped_datasets([urlparse(zips[0].pfn).path]).values()} == {1}
    assert backend._hub_files(request, "msproc.archive-hub-share", {"msproc/step1/visit1/job1"}, "dp2") == []
