"""The Rucio transfer backend against a real local Rucio server whose conveyor copies the bytes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lsst.rucio.register.rubin_meta import RubinMeta

from transfers.backends.base import MovementRequest, TransferBackendError
from transfers.backends.rucio.backend import RucioTransferBackend

pytestmark = pytest.mark.slow

RAW = {"raw": ["instrument", "exposure", "detector"]}


def raw_request(sites, tmp_path: Path, key: str, exposures: list[int], expected: int | None = None):
    return MovementRequest(
        key=key, kind="input", sources={"SLAC": str(sites.roots["SLAC"])}, destination="IN2P3",
        destination_repo=str(sites.roots["IN2P3"]), dataset_types=["raw"], dimensions=RAW,
        collections=["MockCam/raw/all"], data_ids={"exposure": exposures}, instrument="MockCam",
        skymap="mock_skymap", work_dir=str(tmp_path / key), expected_count=expected,
    )


def wait_for(backend, request, ids, states, timeout=90.0):
    deadline = time.monotonic() + timeout
    while True:
        progress = backend.poll([(request, ids)])[request.key]
        if progress.state in states or time.monotonic() > deadline:
            return progress
        time.sleep(1)


def test_it_registers_once_and_makes_one_rule_to_the_destination_rse(rucio_server, sites, rucio_settings, tmp_path):
    backend = RucioTransferBackend()
    request = raw_request(sites, tmp_path, "c1/stage1/SLAC->IN2P3 raws", [1])

    first = backend.start(request)
    second = backend.start(request)

    assert first == second
    assert first["rse"] == "IN2P3_BUTLER_DISK"
    client = rucio_server.client()
    rules = list(client.list_replication_rules(filters={"scope": "dp2", "name": first["dataset"]}))
    assert [rule["id"] for rule in rules] == [first["rule_id"]]
    assert rules[0]["rse_expression"] == "IN2P3_BUTLER_DISK"
    files = list(client.list_files("dp2", first["dataset"]))
    assert len(files) == first["files"] == 1 + 2  # the dimension file and one raw per detector
    metas = {m["name"]: m for m in client.get_metadata_bulk([{"scope": "dp2", "name": f["name"]} for f in files],
                                                            plugin="JSON")}
    kinds = sorted(m["rubin_butler"] for m in metas.values())
    assert kinds == ["dim_file", "raw_file", "raw_file"]
    assert all('"datasetType"' in m["rubin_sidecar"] for m in metas.values() if m["rubin_butler"] == "raw_file")
    # what lsst-rucio-register writes: a RubinMeta on every file, an empty sidecar on the dimension file
    dim_files = [RubinMeta.model_validate(m) for m in metas.values() if m["rubin_butler"] == "dim_file"]
    assert [meta.rubin_sidecar for meta in dim_files] == [""]
    backend.cancel(first)


def test_it_moves_bytes_with_the_conveyor_and_ingests_into_the_destination_butler(rucio_server, sites,
                                                                                   rucio_settings, tmp_path):
    from lsst.daf.butler import Butler

    backend = RucioTransferBackend()
    request = raw_request(sites, tmp_path, "c1/stage1/SLAC->IN2P3 raws 2-3", [2, 3], expected=2)
    ids = backend.start(request)

    progress = wait_for(backend, request, ids, {"arrived", "stuck", "failed"})

    assert progress.state == "arrived", rucio_server.log_tail("submitter") + rucio_server.log_tail("finisher")
    assert progress.transferred == 5 and progress.bytes > 0
    assert backend.ingest(request) == 2
    assert backend.ingest(request) == 2  # a repeated ingest is harmless
    destination = Butler.from_config(str(sites.roots["IN2P3"]))
    refs = destination.query_datasets("raw", collections="MockCam/raw/all",
                                      where="instrument = 'MockCam' AND exposure IN (2, 3)")
    assert len(refs) == 4
    assert all(destination.stored(ref) for ref in refs)
    assert destination.get(refs[0])["kind"] == "raw"


def test_it_refuses_to_finish_when_fewer_pairs_arrived_than_planned(rucio_server, sites, rucio_settings, tmp_path):
    backend = RucioTransferBackend()
    request = raw_request(sites, tmp_path, "verify-only", [2, 3], expected=3)

    with pytest.raises(TransferBackendError) as caught:
        backend.verify(request)

    assert caught.value.stuck


@pytest.mark.live_rucio
def test_it_reaches_the_configured_live_rucio(settings, monkeypatch):
    import os

    host = os.environ.get("MSPROC_LIVE_RUCIO_HOST")
    if not host:
        pytest.skip("MSPROC_LIVE_RUCIO_HOST is not set")
    from transfers.backends.rucio.backend import RucioSettings, _client

    settings.MSPROC_RUCIO_HOST = host
    config = RucioSettings.load()
    assert _client(config).whoami()["account"] == config.account
