"""Movements (Django rows) carried by the Rucio backend through ``transfers.services`` against the real local server.

Rules replicate through the conveyor daemons, which take seconds: the backend-level tests share one
module fixture that starts all their movements at once and waits for them together.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.factories import ButlerRepoFactory, CampaignFactory, DatasetTypeFactory, MovementFactory, SiteFactory
from transfers.backends.base import MovementRequest, TransferBackendError
from transfers.backends.rucio.backend import RucioTransferBackend
from transfers.choices import MovementStatus as M

from .conftest import counting_rucio_requests, rucio_configured

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

RAW = {"raw": ["instrument", "exposure", "detector"]}
DEFAULTS = {"bias": ["instrument", "detector"], "fgcm_lookup_table": ["instrument"]}
PLAN = {"instrument": "MockCam", "skymap": "mock_skymap"}


# ---------------------------------------------------------------------------------------- through services


@pytest.fixture
def rucio_campaign(sites, rucio_settings, settings, tmp_path):
    """Sites SLAC (hub, source) and IN2P3 with ButlerRepo rows on the session repos; a running campaign."""
    settings.MSPROC_TRANSFER_BACKEND = "rucio"
    settings.DATA_DIR = tmp_path  # movements' work dirs (they salt the Rucio dataset names)
    slac = SiteFactory(code="SLAC", is_hub=True, transfer_backend="rucio")
    in2p3 = SiteFactory(code="IN2P3", transfer_backend="rucio")
    for site in (slac, in2p3):
        ButlerRepoFactory(site=site, name=settings.MSPROC_REPO_NAME, root_uri=str(sites.roots[site.code]),
                          status="ready")
    return CampaignFactory(hub=slac, status="running", plan=PLAN)


def raw_movement(campaign, key: str, exposures: list[int], *, expected: int | None = None):
    from sites.models import Site

    movement = MovementFactory(campaign=campaign, key=key, kind="fan_out", destination=Site.objects.get(code="IN2P3"),
                               collections=["MockCam/raw/all"], data_ids={"exposure": exposures},
                               expected_count=expected, status=M.READY)
    movement.sources.add(campaign.hub)
    movement.dataset_types.add(DatasetTypeFactory(name="raw", dimensions=RAW["raw"]))
    return movement


def advance_until_settled(movement, timeout: float = 90.0) -> list[str]:
    """Call advance_movement until the movement leaves transferring (the rule takes seconds); return the statuses."""
    from transfers.services import advance_movement

    statuses = []
    deadline = time.monotonic() + timeout
    while True:
        statuses.append(advance_movement(movement.pk))
        if statuses[-1] != M.TRANSFERRING or time.monotonic() > deadline:
            movement.refresh_from_db()
            return statuses
        time.sleep(1)


def event_verbs(movement) -> list[str]:
    from django.contrib.contenttypes.models import ContentType

    from core.models import Event

    return list(Event.objects.filter(content_type=ContentType.objects.get_for_model(movement), object_id=movement.pk)
                .order_by("created", "id").values_list("verb", flat=True))


def test_advance_movement_carries_a_movement_through_rucio_to_done(rucio_server, sites, rucio_campaign):
    from lsst.daf.butler import Butler

    from transfers.services import advance_movement

    movement = raw_movement(rucio_campaign, "c1/stage1/SLAC->IN2P3 raws 5", [5], expected=1)

    statuses = advance_until_settled(movement)

    assert movement.status == M.DONE, (statuses, movement.last_error, rucio_server.log_tail("finisher"))
    assert statuses[0] == M.TRANSFERRING and statuses[-1] == M.DONE
    assert event_verbs(movement) == ["start_registering", "start_transferring", "start_ingesting", "finish"]
    ids = movement.external_ids
    rules = list(rucio_server.client().list_replication_rules(filters={"scope": "dp2", "name": ids["dataset"]}))
    assert [rule["id"] for rule in rules] == [ids["rule_id"]]
    assert rules[0]["state"] == "OK" and ids["rse"] == "IN2P3_BUTLER_DISK"
    assert movement.transferred_count == ids["files"] == 3  # the dimension file and one raw per detector
    assert movement.bytes == ids["bytes"] > 0
    assert movement.ingested_count == 1 and movement.attempts == 1 and movement.last_error == ""
    destination = Butler.from_config(str(sites.roots["IN2P3"]))
    assert len(destination.query_datasets("raw", collections="MockCam/raw/all",
                                          where="instrument = 'MockCam' AND exposure = 5")) == 2

    with counting_rucio_requests() as requests:
        assert advance_movement(movement.pk) == M.DONE  # done is final: nothing is asked of Rucio again

    assert requests.total() == 0
    assert len(event_verbs(movement)) == 4


def test_an_operator_retries_a_movement_whose_rule_is_stuck(rucio_server, sites, rucio_campaign, monkeypatch):
    from lsst.daf.butler import Butler

    from transfers.backends.rucio import backend as rucio_backend
    from transfers.services import retry_movement

    movement = raw_movement(rucio_campaign, "c1/stage1/SLAC->IN2P3 raws 6", [6], expected=1)
    source = Butler.from_config(str(sites.roots["SLAC"]))
    ref = source.query_datasets("raw", collections="MockCam/raw/all",
                                where="instrument = 'MockCam' AND exposure = 6 AND detector = 1")[0]
    path = Path(source.getURI(ref).ospath)
    hidden = path.with_suffix(".hidden")
    ensure_rule = rucio_backend.ensure_rule

    def hide_then_ensure_rule(*args, **kwargs):
        path.rename(hidden)  # registered (checksum read), then gone at the source before the conveyor copies it
        return ensure_rule(*args, **kwargs)

    monkeypatch.setattr(rucio_backend, "ensure_rule", hide_then_ensure_rule)
    try:
        advance_until_settled(movement)
    finally:
        monkeypatch.setattr(rucio_backend, "ensure_rule", ensure_rule)
        hidden.rename(path)  # the operator restores the file

    assert movement.status == M.STUCK, (movement.status, movement.last_error)
    assert f"Rucio rule {movement.external_ids['rule_id']} is STUCK" in movement.last_error
    assert path.name in movement.last_error  # the failing file is named

    retry_movement(movement, comment="source file restored")

    movement.refresh_from_db()
    assert movement.status == M.READY
    assert movement.external_ids["retry"]["rule_id"] == movement.external_ids["rule_id"]
    statuses = advance_until_settled(movement)
    assert movement.status == M.DONE, (statuses, movement.last_error, rucio_server.log_tail("repairer"))
    assert movement.ingested_count == 1 and movement.attempts == 2
    verbs = event_verbs(movement)
    assert verbs.count("mark_stuck") == 1 and verbs[-1] == "finish"
    assert verbs[verbs.index("retry") - 1] == "mark_stuck"


def test_retry_movement_refuses_a_movement_that_is_not_stuck_or_failed(rucio_server, sites, rucio_campaign):
    from core.lifecycle import IllegalTransition
    from transfers.services import retry_movement

    movement = raw_movement(rucio_campaign, "not stuck", [7])
    movement.external_ids = {"rule_id": "0" * 32}
    movement.save(update_fields=["external_ids"])

    with counting_rucio_requests() as requests, pytest.raises(IllegalTransition):
        retry_movement(movement)

    assert requests.total() == 0


# ---------------------------------------------------------------------------------------- backend, batched


def request_for(sites, work: Path, key: str, kind: str, types: dict[str, list[str]], collections: list[str],
                data_ids: dict[str, list[int]], expected: int | None = None) -> MovementRequest:
    return MovementRequest(
        key=key, kind=kind, sources={"SLAC": str(sites.roots["SLAC"])}, destination="IN2P3",
        destination_repo=str(sites.roots["IN2P3"]), dataset_types=list(types), dimensions=types,
        collections=collections, data_ids=data_ids, instrument="MockCam", skymap="mock_skymap",
        work_dir=str(work / key), expected_count=expected,
    )


@pytest.fixture(scope="module")
def started(rucio_server, sites, tmp_path_factory):
    """Four movements started together and waited for together: two of raws, the defaults chain, a return."""
    work = tmp_path_factory.mktemp("batched")
    requests = {
        "raws 8": request_for(sites, work, "batch raws 8", "fan_out", RAW, ["MockCam/raw/all"], {"exposure": [8]}, 1),
        "raws 9": request_for(sites, work, "batch raws 9", "fan_out", RAW, ["MockCam/raw/all"], {"exposure": [9]}, 1),
        "defaults": request_for(sites, work, "setup defaults", "setup", DEFAULTS, ["MockCam/defaults"], {}),
        "return": request_for(sites, work, "return raws 10", "return", RAW, ["MockCam/raw/all"],
                              {"exposure": [10]}, 1),
    }
    backend = RucioTransferBackend()
    with rucio_configured(rucio_server):
        ids = {name: backend.start(request) for name, request in requests.items()}
        pairs = [(requests[name], ids[name]) for name in requests]
        with counting_rucio_requests() as first_poll:
            progress = backend.poll(pairs)
        deadline = time.monotonic() + 90
        while {p.state for p in progress.values()} - {"arrived"} and time.monotonic() < deadline:
            time.sleep(1)
            progress = backend.poll(pairs)
        yield {"backend": backend, "requests": requests, "ids": ids, "first_poll": first_poll,
               "progress": progress, "server": rucio_server}


@pytest.fixture
def batch(started, rucio_settings):
    return started


def test_poll_asks_rucio_a_bounded_number_of_times_for_many_movements(batch):
    backend, requests, ids = batch["backend"], batch["requests"], batch["ids"]
    pairs = [(requests[name], ids[name]) for name in requests]

    with counting_rucio_requests() as arrived_poll:
        progress = backend.poll(pairs)

    assert {p.state for p in progress.values()} == {"arrived"}, progress
    assert all(progress[requests[name].key].bytes == ids[name]["bytes"] > 0 for name in requests)
    # One rule listing for the scope, whatever the number of movements (no per-movement look-ups).
    assert arrived_poll == {"GET /rules/": 1}, arrived_poll
    assert batch["first_poll"] == {"GET /rules/": 1}, batch["first_poll"]
    with counting_rucio_requests() as one:
        backend.poll(pairs[:1])
    assert one.total() == 1


def test_a_chained_source_collection_is_rebuilt_at_the_destination(batch, sites):
    from lsst.daf.butler import Butler, CollectionType

    backend, request = batch["backend"], batch["requests"]["defaults"]

    assert backend.ingest(request) == 2  # bias and fgcm_lookup_table: whole types, no data-ID restriction
    backend.ingest(request)  # a second ingest leaves the chain as it is

    destination = Butler.from_config(str(sites.roots["IN2P3"]))
    assert destination.registry.getCollectionType("MockCam/defaults") == CollectionType.CHAINED
    assert list(destination.registry.getCollectionChain("MockCam/defaults")) == ["MockCam/calib/run",
                                                                                "MockCam/fgcm/lut"]
    assert destination.query_datasets("bias", collections="MockCam/defaults")
    assert destination.query_datasets("fgcm_lookup_table", collections="MockCam/defaults")
    assert batch["ids"]["defaults"]["files"] >= 3


def test_a_return_movement_moves_zips_and_ingests_them(batch, sites):
    from lsst.daf.butler import Butler

    backend, request, ids = batch["backend"], batch["requests"]["return"], batch["ids"]["return"]
    client = batch["server"].client()
    files = list(client.list_files("dp2", ids["dataset"]))
    metas = client.get_metadata_bulk([{"scope": "dp2", "name": f["name"]} for f in files], plugin="JSON")

    assert sorted(m["rubin_butler"] for m in metas) == ["dim_file", "zip_file"]
    assert backend.ingest(request) == 1
    destination = Butler.from_config(str(sites.roots["IN2P3"]))
    refs = destination.query_datasets("raw", collections="MockCam/raw/all",
                                      where="instrument = 'MockCam' AND exposure = 10")
    assert len(refs) == 2 and all(destination.stored(ref) for ref in refs)
    assert destination.get(refs[0])["kind"] == "raw"


def test_the_other_raws_of_the_batch_ingest_too(batch):
    backend, requests = batch["backend"], batch["requests"]

    assert [backend.ingest(requests[name]) for name in ("raws 8", "raws 9")] == [1, 1]


# ---------------------------------------------------------------------------------------- archive to tape


@pytest.fixture(scope="module")
def tape(started, sites, tmp_path_factory) -> Path:
    """A TAPE RSE at IN2P3 (a local directory stands in for the tape), connected to the disk RSEs."""
    server = started["server"]
    prefix = tmp_path_factory.mktemp("tape")
    server.add_site_rse("IN2P3_TAPE", prefix, rse_type="TAPE")
    server.connect([sites.rse("SLAC"), sites.rse("IN2P3"), "IN2P3_TAPE"])
    return prefix


def archive_request(sites, work: Path, archived: list[dict]) -> MovementRequest:
    return MovementRequest(
        key="archive returns", kind="archive", sources={"IN2P3": str(sites.roots["IN2P3"])}, destination="IN2P3",
        destination_repo=str(sites.roots["IN2P3"]), dataset_types=[], dimensions={}, collections=[], data_ids={},
        instrument="MockCam", skymap="mock_skymap", work_dir=str(work / "archive"), archive_ids=archived,
    )


def test_an_archive_movement_puts_the_returned_zips_on_tape_and_verifies_them(batch, sites, tape, tmp_path):
    import json

    backend, returned = batch["backend"], batch["ids"]["return"]
    request = archive_request(sites, tmp_path, [{**returned, "key": "return raws 10"}])

    ids = backend.start(request)
    assert backend.start(request)["rule_id"] == ids["rule_id"]  # a repeated start reuses the rule
    assert ids["rse"] == "IN2P3_TAPE" and ids["files"] == returned["files"] == 2
    assert ids["archives"] == [returned["dataset"]]
    deadline = time.monotonic() + 90
    progress = backend.poll([(request, ids)])[request.key]
    while progress.state == "transferring" and time.monotonic() < deadline:
        time.sleep(1)
        progress = backend.poll([(request, ids)])[request.key]

    assert progress.state == "arrived", progress
    assert backend.ingest(request) == 2
    manifest = json.loads((Path(request.work_dir) / "ARCHIVE-MANIFEST.json").read_text())
    assert manifest["rse"] == "IN2P3_TAPE"
    assert {entry["name"].rsplit(".", 1)[-1] for entry in manifest["files"]} == {"zip", "yaml"}
    assert all(entry["checked"] and (tape / "dp2" / entry["name"]).is_file() for entry in manifest["files"])

    # A file that differs on tape is caught, named, and the movement is stuck (not done).
    on_tape = next(tape / "dp2" / entry["name"] for entry in manifest["files"] if entry["name"].endswith(".zip"))
    original = on_tape.read_bytes()
    on_tape.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    try:
        with pytest.raises(TransferBackendError) as caught:
            backend.ingest(request)
    finally:
        on_tape.write_bytes(original)
    assert caught.value.stuck and on_tape.name in str(caught.value) and "adler32" in str(caught.value)


def test_an_archive_of_movements_rucio_did_not_carry_is_refused(batch, sites, tmp_path):
    backend = batch["backend"]
    request = archive_request(sites, tmp_path, [{"key": "return tract 9813", "rule_id": None}])

    with counting_rucio_requests() as asked, pytest.raises(TransferBackendError) as caught:
        backend.start(request)

    assert caught.value.permanent and "return tract 9813" in str(caught.value)
    assert asked.total() == 0


def test_an_archive_of_a_dataset_rucio_does_not_know_is_refused(batch, sites, tmp_path):
    backend = batch["backend"]
    request = archive_request(sites, tmp_path, [{"key": "return gone", "scope": "dp2", "dataset": "msproc.gone"}])

    with pytest.raises(TransferBackendError) as caught:
        backend.start(request)

    assert caught.value.permanent and "msproc.gone" in str(caught.value) and "return gone" in str(caught.value)


def test_advance_movement_archives_the_returns_rucio_carried(batch, tape, rucio_campaign):
    from sites.models import Site

    returned = MovementFactory(campaign=rucio_campaign, key="return raws 10", kind="return", status=M.DONE,
                               destination=Site.objects.get(code="IN2P3"), external_ids=batch["ids"]["return"])
    archive = MovementFactory(campaign=rucio_campaign, key="archive", kind="archive", status=M.READY,
                              destination=Site.objects.get(code="IN2P3"))
    archive.sources.add(Site.objects.get(code="IN2P3"))
    archive.after_movements.add(returned)

    statuses = advance_until_settled(archive)

    assert archive.status == M.DONE, (statuses, archive.last_error)
    assert archive.external_ids["rse"] == "IN2P3_TAPE"
    assert archive.external_ids["archives"] == [batch["ids"]["return"]["dataset"]]
    assert archive.ingested_count == 2
