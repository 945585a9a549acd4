"""Rucio transfers: register a movement's files with Butler metadata, one rule to the destination, ingest.

``start`` registers the source datasets' files at each source site's RSE
(as lsst-rucio-register does), attaches them to one Rucio dataset named
after the movement and creates ONE replication rule to the destination
site's RSE; everything is looked up first, so a repeated ``start`` reuses
what exists. ``poll`` maps rule states (OK -> arrived, REPLICATING ->
transferring, STUCK/SUSPENDED -> stuck with the reason and failing files).
``ingest`` imports what arrived into the destination Butler as ctrl_ingestd
does and verifies the count. Only rucio-clients is used.

Configuration (settings, else environment): ``MSPROC_RUCIO_HOST``,
``MSPROC_RUCIO_AUTH_HOST``, ``MSPROC_RUCIO_ACCOUNT``, ``MSPROC_RUCIO_AUTH_TYPE``
(userpass, x509, x509_proxy), ``MSPROC_RUCIO_USERNAME``, the password from the
file ``MSPROC_RUCIO_PASSWORD_FILE`` or the environment variable named by
``MSPROC_RUCIO_PASSWORD_ENV``, ``MSPROC_RUCIO_CLIENT_CERT``/``_KEY``,
``MSPROC_RUCIO_CA_CERT``, ``MSPROC_RUCIO_SCOPE`` (default: the Butler repo
name), ``MSPROC_RUCIO_RSE`` (template, default ``{site}_BUTLER_DISK``),
``MSPROC_RUCIO_ACTIVITY``, ``MSPROC_RUCIO_INGEST_TRANSFER`` (default ``direct``),
``MSPROC_RUCIO_TAPE_RSE`` (template, default ``{site}_TAPE``).

Archive movements (the returned zips, to tape at the hub) attach the files of
the return movements' Rucio datasets, and zips made at the hub of the archived
datasets in RUNs no return carried (made at the hub, or brought there for one of
its steps; registered at the hub's disk RSE), to one archive dataset and make one rule
to the destination site's tape RSE; "ingest" is then the verification that
every file has a replica on tape (sizes and Adler-32 checked where the tape
is readable from here), recorded in a manifest.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transfers.backends.base import MovementRequest, TransferBackend, TransferBackendError, TransferProgress
from transfers.backends.rucio.ingest import ArrivedFile, collect_source_files, ingest_arrived
from transfers.backends.rucio.registration import (
    adler32,
    attach_files,
    dataset_name,
    ensure_dataset,
    ensure_rule,
    get_chains,
    parse_meta,
    register_files,
    set_chains,
)

log = logging.getLogger(__name__)

STUCK_STATES = {"STUCK", "SUSPENDED"}
WAITING_STATES = {"REPLICATING", "INJECT", "WAITING_APPROVAL"}
MAX_FAILING_FILES = 5
ARCHIVE_MANIFEST = "ARCHIVE-MANIFEST.json"
REPAIR_GRACE_SECONDS = 3600  # a retried STUCK rule shows as transferring this long while the repairer has not acted


def _setting(name: str, default: str = "") -> str:
    from django.conf import settings

    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name, default)
    return str(value) if value is not None else default


@dataclass(frozen=True)
class RucioSettings:
    """Where and as whom to talk to Rucio. The password is read when a client is made, never stored."""

    host: str
    auth_host: str
    account: str
    auth_type: str
    username: str
    scope: str
    rse_template: str
    activity: str
    ingest_transfer: str
    tape_rse_template: str = "{site}_TAPE"

    @classmethod
    def load(cls) -> RucioSettings:
        from django.conf import settings

        host = _setting("MSPROC_RUCIO_HOST")
        if not host:
            raise TransferBackendError("MSPROC_RUCIO_HOST is not set", permanent=True)
        return cls(
            host=host, auth_host=_setting("MSPROC_RUCIO_AUTH_HOST", host),
            account=_setting("MSPROC_RUCIO_ACCOUNT", "root"), auth_type=_setting("MSPROC_RUCIO_AUTH_TYPE", "userpass"),
            username=_setting("MSPROC_RUCIO_USERNAME"),
            scope=_setting("MSPROC_RUCIO_SCOPE", getattr(settings, "MSPROC_REPO_NAME", "dp2")),
            rse_template=_setting("MSPROC_RUCIO_RSE", "{site}_BUTLER_DISK"),
            activity=_setting("MSPROC_RUCIO_ACTIVITY"),
            ingest_transfer=_setting("MSPROC_RUCIO_INGEST_TRANSFER", "direct"),
            tape_rse_template=_setting("MSPROC_RUCIO_TAPE_RSE", "{site}_TAPE"),
        )

    def rse(self, site: str) -> str:
        return self.rse_template.format(site=site)

    def tape_rse(self, site: str) -> str:
        return self.tape_rse_template.format(site=site)

    def creds(self) -> dict[str, str]:
        """Return the credentials for rucio-clients. Raises TransferBackendError (permanent) when missing."""
        if self.auth_type == "userpass":
            password_file = _setting("MSPROC_RUCIO_PASSWORD_FILE")
            password_env = _setting("MSPROC_RUCIO_PASSWORD_ENV", "MSPROC_RUCIO_PASSWORD")
            if password_file:
                password = Path(password_file).read_text().strip()
            else:
                password = os.environ.get(password_env, "")
            if not (self.username and password):
                raise TransferBackendError("Rucio userpass needs MSPROC_RUCIO_USERNAME and a password file or "
                                           "environment variable", permanent=True)
            return {"username": self.username, "password": password}
        if self.auth_type == "x509":
            return {"client_cert": _setting("MSPROC_RUCIO_CLIENT_CERT"),
                    "client_key": _setting("MSPROC_RUCIO_CLIENT_KEY")}
        if self.auth_type == "x509_proxy":
            return {"client_proxy": _setting("MSPROC_RUCIO_CLIENT_CERT")}
        return {}


def _client(config: RucioSettings):
    """Return a logged-in rucio `Client`. Raises TransferBackendError (transient) if Rucio cannot be reached."""
    from rucio.client import Client
    from rucio.common.exception import CannotAuthenticate, RucioException

    try:
        return Client(rucio_host=config.host, auth_host=config.auth_host, account=config.account,
                      auth_type=config.auth_type, creds=config.creds(),
                      ca_cert=_setting("MSPROC_RUCIO_CA_CERT") or None, timeout=60)
    except CannotAuthenticate as exc:
        raise TransferBackendError(f"Rucio refused the credentials of account {config.account}: "
                                   f"{type(exc).__name__}", permanent=True) from None
    except (RucioException, OSError) as exc:
        raise TransferBackendError(f"Rucio at {config.host} is unreachable: {type(exc).__name__}") from exc


def _rucio_error(exc: Exception) -> TransferBackendError:
    """Translate a rucio-clients error: access/validation errors are permanent, the rest transient."""
    from rucio.common import exception as rucio_exc

    permanent = isinstance(exc, (rucio_exc.AccessDenied, rucio_exc.InvalidObject, rucio_exc.InvalidRSEExpression,
                                 rucio_exc.RSENotFound, rucio_exc.ScopeNotFound, rucio_exc.InsufficientAccountLimit,
                                 rucio_exc.UnsupportedOperation))
    return TransferBackendError(f"Rucio: {type(exc).__name__}: {exc}", permanent=permanent)


def _rule_state(rule: dict[str, Any]) -> str:
    return str(rule["state"]).split(".")[-1].upper()


def _repair_pending(rule: dict[str, Any], ids: dict[str, Any]) -> bool:
    """True while an operator's retry of this STUCK rule awaits the judge repairer (within the grace period)."""
    retry = ids.get("retry") or {}
    if retry.get("rule_id") != rule["id"] or retry.get("updated_at") != str(rule.get("updated_at")):
        return False  # the repairer (or the conveyor) has touched the rule since the retry
    try:
        requested = datetime.fromisoformat(retry["requested"])
    except (KeyError, TypeError, ValueError):
        return False
    return (datetime.now(UTC) - requested).total_seconds() < REPAIR_GRACE_SECONDS


class RucioTransferBackend(TransferBackend):
    name = "rucio"

    def settings(self) -> RucioSettings:
        return RucioSettings.load()

    def dataset(self, request: MovementRequest) -> str:
        return dataset_name(request.key, salt=request.work_dir)

    # -- start -------------------------------------------------------------------------------------------------
    def start(self, request: MovementRequest) -> dict[str, Any]:
        """Register the files, attach them to the movement's dataset, ensure one rule; return the ids.

        Returns ``{"scope", "dataset", "rse", "rule_id", "files", "bytes"}``. Raises TransferBackendError.
        """
        from rucio.common.exception import RucioException

        if request.kind == "archive":
            return self._start_archive(request)
        config = self.settings()
        dataset = self.dataset(request)
        destination_rse = config.rse(request.destination)
        try:
            per_site, chains = self._collect(request, dataset, config.scope)
        except ValueError as exc:
            raise TransferBackendError(str(exc), permanent=True) from exc
        except Exception as exc:  # the Butler raises many kinds; all mean this attempt failed
            raise TransferBackendError(f"{type(exc).__name__}: {exc}") from exc
        if not any(per_site.values()):
            raise TransferBackendError(f"nothing matches movement {request.key} at {sorted(request.sources)}",
                                       permanent=True)
        client = _client(config)
        try:
            return self._register_and_rule(client, config, dataset, destination_rse, per_site, chains)
        except RucioException as exc:
            raise _rucio_error(exc) from exc

    def _collect(self, request: MovementRequest, dataset: str,
                 scope: str) -> tuple[dict[str, list], dict[str, set[str]]]:
        import lsst.pipe.base.tests.mocks  # noqa: F401  (mock storage classes must be known to read refs)
        from lsst.daf.butler import Butler


        where_for = {dataset_type: request.where_for(dataset_type) for dataset_type in request.dataset_types}
        per_site: dict[str, list] = {}
        chains: dict[str, set[str]] = {}
        for site, root in sorted(request.sources.items()):
            if site == request.destination:
                continue
            source = Butler.from_config(root)
            per_site[site] = collect_source_files(source, root, request.dataset_types, request.collections,
                                                  where_for, stage_name=f"{dataset}/{site}", scope=scope,
                                                  zip_runs=request.kind == "return", chains=chains)
        return per_site, chains

    def _register_and_rule(self, client: Any, config: RucioSettings, dataset: str, destination_rse: str,
                           per_site: dict[str, list], chains: dict[str, set[str]]) -> dict[str, Any]:

        names: dict[str, int] = {}
        for site, files in per_site.items():
            added = register_files(client, config.scope, config.rse(site), files)
            log.info("rucio %s: %d of %d files newly registered at %s", dataset, added, len(files), config.rse(site))
            names.update((f.name, f.bytes) for f in files)
        return self._dataset_rule(client, config, dataset, destination_rse, names, chains)

    def _dataset_rule(self, client: Any, config: RucioSettings, dataset: str, rse: str, names: dict[str, int],
                      chains: dict[str, set[str]] | None = None) -> dict[str, Any]:
        """Ensure the movement's dataset holds ``names`` (file name -> bytes) and has ONE rule to ``rse``.

        Returns the external ids ``{"scope", "dataset", "rse", "rule_id", "files", "bytes"}``.
        """
        ensure_dataset(client, config.scope, dataset)
        set_chains(client, config.scope, dataset, chains or {})  # before the rule: ingest may start once it is OK
        attach_files(client, config.scope, dataset, names)
        rule_id, created = ensure_rule(client, config.scope, dataset, rse, account=config.account,
                                       activity=config.activity or None)
        log.info("rucio %s: rule %s to %s (%s) for %d files", dataset, rule_id, rse, "new" if created else "existing",
                 len(names))
        return {"scope": config.scope, "dataset": dataset, "rse": rse, "rule_id": rule_id,
                "files": len(names), "bytes": sum(names.values())}

    def _start_archive(self, request: MovementRequest) -> dict[str, Any]:
        """Attach the files of the archived movements' datasets to the archive dataset; one rule to tape.

        Returns ``{"scope", "dataset", "rse" (the tape RSE), "rule_id", "files", "bytes", "archives"}``.
        Raises TransferBackendError: permanent when an archived movement has no Rucio dataset (it was not
        carried by Rucio), Rucio does not know the dataset, or the datasets hold no file.
        """
        from rucio.common.exception import DataIdentifierNotFound, RucioException


        config = self.settings()
        # The returns' zips are archived as Rucio holds them; what reached the hub otherwise (made there, or
        # brought for one of its steps) is zipped at the hub below.
        returns = [ids for ids in request.archive_ids if ids.get("kind", "return") == "return"]
        not_rucio = [str(ids.get("key", "?")) for ids in returns if not ids.get("dataset")]
        if not_rucio or not (returns or request.dataset_types):
            raise TransferBackendError(
                f"archive {request.key}: nothing Rucio holds to archive (movements without a Rucio dataset: "
                f"{', '.join(not_rucio) or 'none given'})", permanent=True)
        dataset, tape_rse = self.dataset(request), config.tape_rse(request.destination)
        client = _client(config)
        names: dict[str, int] = {}
        returned_runs: set[str] = set()
        try:
            for ids in returns:
                scope = ids.get("scope", config.scope)
                try:
                    names.update((f["name"], int(f.get("bytes") or 0)) for f in client.list_files(scope,
                                                                                                 ids["dataset"]))
                    returned_runs.update(run for runs in get_chains(client, scope, ids["dataset"]).values()
                                         for run in runs)
                except DataIdentifierNotFound:
                    raise TransferBackendError(f"archive {request.key}: Rucio has no dataset {scope}:"
                                               f"{ids['dataset']} (movement {ids.get('key')})",
                                               permanent=True) from None
            hub_files = self._hub_files(request, dataset, returned_runs, config.scope)
            if hub_files:
                register_files(client, config.scope, config.rse(request.destination), hub_files)
                names.update((f.name, f.bytes) for f in hub_files)
            if not names:
                raise TransferBackendError(f"archive {request.key}: the archived datasets hold no file",
                                           permanent=True)
            ids = self._dataset_rule(client, config, dataset, tape_rse, names)
        except RucioException as exc:
            raise _rucio_error(exc) from exc
        return {**ids, "archives": sorted(str(archived["dataset"]) for archived in returns)}

    def _hub_files(self, request: MovementRequest, dataset: str, returned_runs: set[str], scope: str) -> list:
        """Return the files (zipped per RUN) of the archived datasets at the hub that no return carried.

        They are the datasets of the archive's collections (chains of RUNs at the hub) in RUNs no return
        recorded on its Rucio dataset: made at the hub, or brought there for one of its steps.
        """
        if not request.dataset_types or not request.destination_repo:
            return []
        import lsst.pipe.base.tests.mocks  # noqa: F401  (mock storage classes must be known to read refs)
        from lsst.daf.butler import Butler, CollectionType, MissingCollectionError


        hub = Butler.from_config(request.destination_repo)
        runs: list[str] = []
        for collection in request.collections:
            try:
                kind = hub.registry.getCollectionType(collection)
            except MissingCollectionError:
                continue
            members = hub.registry.getCollectionChain(collection) if kind == CollectionType.CHAINED else [collection]
            runs += [run for run in members if run not in returned_runs and run not in runs]
        if not runs:
            return []
        try:
            return collect_source_files(hub, request.destination_repo, request.dataset_types, runs, {},
                                        stage_name=f"{dataset}/{request.destination}", scope=scope, zip_runs=True)
        except ValueError as exc:
            raise TransferBackendError(str(exc), permanent=True) from exc

    # -- poll --------------------------------------------------------------------------------------------------
    def poll(self, requests: Sequence[tuple[MovementRequest, dict[str, Any]]]) -> dict[str, TransferProgress]:
        """Return the progress of many movements, with one rule listing per scope when there are several.

        Requests to Rucio: one rule listing per scope (one rule look-up for a single movement), plus one
        lock listing per STUCK/SUSPENDED rule; bytes come from the ids ``start`` returned.
        """
        from rucio.common.exception import RucioException, RuleNotFound

        config = self.settings()
        client = _client(config)
        progress: dict[str, TransferProgress] = {}
        try:
            rules = self._rules(client, config, [ids for _request, ids in requests])
            for request, ids in requests:
                rule = rules.get(ids.get("rule_id", ""))
                if rule is None:
                    try:
                        rule = client.get_replication_rule(ids["rule_id"]) if ids.get("rule_id") else None
                    except RuleNotFound:
                        rule = None
                progress[request.key] = self._progress(client, rule, ids)
        except RucioException as exc:
            raise _rucio_error(exc) from exc
        return progress

    def _rules(self, client: Any, config: RucioSettings, ids_list: Sequence[dict[str, Any]]) -> dict[str, dict]:
        wanted = {ids.get("rule_id") for ids in ids_list if ids.get("rule_id")}
        if len(wanted) < 2:
            return {}
        rules: dict[str, dict] = {}
        for scope in sorted({ids.get("scope", config.scope) for ids in ids_list}):
            for rule in client.list_replication_rules(filters={"scope": scope, "account": config.account}):
                if rule["id"] in wanted:
                    rules[rule["id"]] = rule
        return rules

    def _progress(self, client: Any, rule: dict | None, ids: dict[str, Any]) -> TransferProgress:
        if rule is None:
            return TransferProgress(state="failed", reason=f"Rucio rule {ids.get('rule_id')} no longer exists")
        state = _rule_state(rule)
        ok = int(rule.get("locks_ok_cnt") or 0)
        if state == "OK":
            moved = ids.get("bytes")
            if moved is None:  # ids of a movement started before "bytes" was recorded
                moved = sum(int(f.get("bytes") or 0) for f in client.list_files(rule["scope"], rule["name"]))
            return TransferProgress(state="arrived", transferred=ok, bytes=int(moved))
        if state in STUCK_STATES and _repair_pending(rule, ids):
            return TransferProgress(state="transferring", transferred=ok,
                                    reason=f"Rucio rule {rule['id']}: retry requested, waiting for the judge repairer")
        if state in STUCK_STATES:
            failing = [lock["name"] for lock in client.list_replica_locks(rule["id"])
                       if str(lock.get("state", "")).split(".")[-1].upper() == "STUCK"]
            reason = f"Rucio rule {rule['id']} is {state}"
            if rule.get("error"):
                reason += f": {rule['error']}"
            if failing:
                more = f" (+{len(failing) - MAX_FAILING_FILES} more)" if len(failing) > MAX_FAILING_FILES else ""
                reason += f"; failing files: {', '.join(failing[:MAX_FAILING_FILES])}{more}"
            return TransferProgress(state="stuck", transferred=ok, reason=reason)
        return TransferProgress(state="transferring", transferred=ok)

    # -- ingest ------------------------------------------------------------------------------------------------
    def ingest(self, request: MovementRequest) -> int:
        """Ingest the movement's dataset from the destination RSE into the destination Butler; verify the count.

        CHAINED source collections are rebuilt at the destination with the runs that arrived.
        """
        from rucio.common.exception import RucioException


        config = self.settings()
        client = _client(config)
        dataset = self.dataset(request)
        if request.kind == "archive":
            return self.verify_archive(request, client, config)
        rse = config.rse(request.destination)
        try:
            arrived = self._arrived(client, config.scope, dataset, rse)
            chains = get_chains(client, config.scope, dataset)
        except RucioException as exc:
            raise _rucio_error(exc) from exc
        try:
            self._ingest(request, arrived, config.ingest_transfer, chains)
        except Exception as exc:  # the Butler raises many kinds; all mean this attempt failed
            raise TransferBackendError(f"ingest into {request.destination}: {type(exc).__name__}: {exc}") from exc
        return self.verify(request)

    def _arrived(self, client: Any, scope: str, dataset: str, rse: str) -> list:
        uris: dict[str, str] = {}
        for replica in client.list_replicas([{"scope": scope, "name": dataset}], rse_expression=rse,
                                            schemes=["file", "davs", "https", "root", "s3"]):
            pfns = replica.get("rses", {}).get(rse) or []
            if pfns:
                uris[replica["name"]] = pfns[0]
        names = [content["name"] for content in client.list_files(scope, dataset)]
        missing = [name for name in names if name not in uris]
        if missing:
            raise TransferBackendError(f"{len(missing)} files of {dataset} have no replica at {rse}: "
                                       f"{', '.join(missing[:MAX_FAILING_FILES])}", stuck=True)
        metas = {}
        for start in range(0, len(names), 500):
            chunk = [{"scope": scope, "name": name} for name in names[start:start + 500]]
            for meta in client.get_metadata_bulk(chunk, inherit=False, plugin="JSON"):
                metas[meta["name"]] = meta
        files = []
        for name in names:
            kind, sidecar = parse_meta(metas.get(name, {}))
            files.append(ArrivedFile(name=name, uri=uris[name], kind=kind, sidecar=sidecar))
        return files

    def _ingest(self, request: MovementRequest, files: list, transfer: str, chains: dict[str, list[str]]) -> None:
        import lsst.pipe.base.tests.mocks  # noqa: F401  (mock storage classes must be known to ingest)
        from lsst.daf.butler import Butler


        destination = Butler.from_config(request.destination_repo, writeable=True)
        result = ingest_arrived(destination, request.destination_repo, files, transfer=transfer, chains=chains)
        log.info("rucio %s: imported %d dimension files, %d zips, %d datasets into %s (chains %s)", request.key,
                 result.dimension_files, result.zips, result.datasets, request.destination,
                 sorted(result.chains) or "none")

    def verify(self, request: MovementRequest) -> int:
        """Count the (dataset type, data-ID value) pairs queryable at the destination against the plan.

        Returns the count. Raises TransferBackendError (stuck) when fewer than expected are there.
        """
        from lsst.daf.butler import Butler

        from stack.transfer import count_expected_pairs

        butler = Butler.from_config(request.destination_repo)
        where_for = {dataset_type: request.where_for(dataset_type) for dataset_type in request.dataset_types}
        pairs, whole = count_expected_pairs(butler, request.dataset_types, request.dimensions, request.data_ids,
                                            where_for)
        if request.expected_count is not None and pairs < request.expected_count:
            raise TransferBackendError(
                f"only {pairs} of {request.expected_count} expected (dataset type, data ID) pairs are queryable "
                f"at {request.destination}", stuck=True)
        return pairs + whole

    def verify_archive(self, request: MovementRequest, client: Any = None, config: RucioSettings | None = None) -> int:
        """Check that every file of the archive dataset has a replica on the tape RSE; return the file count.

        Where the replica is a ``file://`` path readable from here, its size and Adler-32 are compared with
        what Rucio recorded at registration. Writes ``ARCHIVE-MANIFEST.json`` (name, bytes, adler32, pfn,
        checked) into the movement's work directory. Raises TransferBackendError (stuck) when a file is
        missing on tape or differs.
        """
        from rucio.common.exception import RucioException


        config = config or self.settings()
        client = client or _client(config)
        dataset, rse = self.dataset(request), config.tape_rse(request.destination)
        try:
            files = {f["name"]: f for f in client.list_files(config.scope, dataset)}
            pfns: dict[str, str] = {}
            for replica in client.list_replicas([{"scope": config.scope, "name": dataset}], rse_expression=rse,
                                                schemes=["file", "davs", "https", "root", "s3"]):
                found = replica.get("rses", {}).get(rse) or []
                if found:
                    pfns[replica["name"]] = found[0]
        except RucioException as exc:
            raise _rucio_error(exc) from exc
        problems = [f"{name}: no replica on {rse}" for name in sorted(files) if name not in pfns]
        entries = []
        for name in sorted(files):
            record, pfn = files[name], pfns.get(name, "")
            checked = False
            if pfn.startswith("file://") and os.path.exists(pfn[len("file://"):]):
                path = pfn[len("file://"):]
                size, checksum = os.path.getsize(path), adler32(path)
                if size != int(record.get("bytes") or 0) or checksum != record.get("adler32"):
                    problems.append(f"{name}: on tape {size} bytes adler32 {checksum}, Rucio has "
                                    f"{record.get('bytes')} bytes adler32 {record.get('adler32')}")
                checked = True
            entries.append({"name": name, "bytes": int(record.get("bytes") or 0), "adler32": record.get("adler32"),
                            "pfn": pfn, "checked": checked})
        if problems:
            more = f" (+{len(problems) - MAX_FAILING_FILES} more)" if len(problems) > MAX_FAILING_FILES else ""
            raise TransferBackendError(f"archive {request.key} on {rse}: {'; '.join(problems[:MAX_FAILING_FILES])}"
                                       f"{more}", stuck=True)
        work_dir = Path(request.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        (work_dir / ARCHIVE_MANIFEST).write_text(json.dumps({"rse": rse, "dataset": f"{config.scope}:{dataset}",
                                                            "files": entries}, indent=1))
        log.info("rucio %s: %d files verified on %s", dataset, len(entries), rse)
        return len(entries)

    # -- operator actions --------------------------------------------------------------------------------------
    def retry(self, ids: dict[str, Any]) -> dict[str, Any]:
        """Ask Rucio to retry the movement's stuck rule now (the judge repairer re-queues its stuck locks);
        return the new ids.

        A SUSPENDED rule is put back to STUCK first. The returned ids carry a ``retry`` marker (the rule's
        ``updated_at`` after the boost): until the repairer touches the rule, `poll` shows it as
        transferring, not stuck, for up to ``REPAIR_GRACE_SECONDS``. A rule that no longer exists is
        left to ``start`` to re-create, and a movement without a rule has nothing to retry (ids returned
        unchanged). Raises TransferBackendError.
        """
        from rucio.common.exception import RucioException, RuleNotFound

        rule_id = ids.get("rule_id")
        if not rule_id:
            return dict(ids)
        client = _client(self.settings())
        try:
            if _rule_state(client.get_replication_rule(rule_id)) == "SUSPENDED":
                client.update_replication_rule(rule_id, {"state": "STUCK"})
            client.update_replication_rule(rule_id, {"boost_rule": True})
            boosted = client.get_replication_rule(rule_id)
        except RuleNotFound:
            return dict(ids)
        except RucioException as exc:
            raise _rucio_error(exc) from exc
        log.info("rucio rule %s: retry requested", rule_id)
        return {**ids, "retry": {"rule_id": rule_id, "updated_at": str(boosted.get("updated_at")),
                                 "requested": datetime.now(UTC).isoformat(timespec="seconds")}}

    def cancel(self, ids: dict[str, Any]) -> None:
        """Delete the movement's rule if it has one (files already copied stay until Rucio cleans them).
        Idempotent. Raises TransferBackendError."""
        from rucio.common.exception import RucioException, RuleNotFound

        if not ids.get("rule_id"):
            return
        client = _client(self.settings())
        try:
            client.delete_replication_rule(ids["rule_id"], purge_replicas=False)
        except RuleNotFound:
            pass
        except RucioException as exc:
            raise _rucio_error(exc) from exc
