"""Register Butler datasets in Rucio with lsst-rucio-register's vocabulary, and manage a movement's rule.

Each file is a DID ``scope:name`` whose name is the file's path relative to
the Butler root (every site names its repository the same, and the RSEs use
the ``identity`` lfn2pfn algorithm, so a file keeps its relative path at
every site). The file record is lsst-rucio-register's `RucioDID` and its
metadata the package's `RubinMeta`: ``rubin_butler`` is the kind
(`DataType`: ``data_product``, ``raw_file``, ``zip_file``, ``dim_file``) and
``rubin_sidecar`` the serialized `DatasetRef` (JSON) of a data product or raw
(empty for zips and dimension files). Dimension records go in a YAML export
(a ``dim_file``) so that the destination can import them before the datasets.

What the package lacks and msproc keeps here (docs/rucio.md): a client passed
in rather than built from the process-wide ``rucio.cfg``, names relative to
the Butler root, scopes, datasets with the ``rubin_chains`` metadata, rules
(find, create, reuse), and the Adler-32 of a local file without a Butler.

Everything here is idempotent: existing replicas, metadata, attachments and
rules are found and reused.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lsst.rucio.register.data_type import DataType
from lsst.rucio.register.rubin_meta import RubinMeta
from lsst.rucio.register.rucio_did import RucioDID

__all__ = [
    "DataType",
    "RubinMeta",
    "RucioDID",
    "adler32",
    "attach_files",
    "dataset_name",
    "ensure_dataset",
    "ensure_rule",
    "ensure_scope",
    "find_rule",
    "get_chains",
    "parse_meta",
    "register_files",
    "rubin_file",
    "set_chains",
    "sidecar",
]

RULE_COMMENT = "msproc movement"
CHAINS_KEY = "rubin_chains"  # dataset metadata: {CHAINED collection at the source: [its runs that move]}



def adler32(path: str | Path) -> str:
    """Return the Adler-32 checksum of a file as Rucio writes it (8 lower-case hex digits)."""
    value = 1
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            value = zlib.adler32(chunk, value)
    return f"{value & 0xFFFFFFFF:08x}"


def rubin_file(root: str | Path, path: str | Path, kind: str, sidecar: str = "", *, scope: str) -> RucioDID:
    """Return the `RucioDID` of ``path`` in ``scope``, named by its path relative to the Butler ``root``.

    ``kind`` is a `DataType` value and ``sidecar`` the ``rubin_sidecar`` text (a `DatasetRef` as JSON,
    empty for zips and dimension files); ``pfn`` is the file's ``file://`` URL at the source.
    Raises `ValueError` if the file is not under ``root`` (identity paths need it there).
    """
    root_path, file_path = Path(root).resolve(), Path(path).resolve()
    try:
        name = file_path.relative_to(root_path).as_posix()
    except ValueError:
        raise ValueError(f"{file_path} is outside the Butler root {root_path}") from None
    return RucioDID(pfn=file_path.as_uri(), bytes=file_path.stat().st_size, adler32=adler32(file_path), name=name,
                    scope=scope, meta=RubinMeta(rubin_butler=kind, rubin_sidecar=sidecar))


def dataset_name(key: str, salt: str = "") -> str:
    """Return the Rucio dataset name of a movement: the sanitized key, plus a short digest of ``salt``.

    ``salt`` (e.g. the movement's work directory) keeps equal keys of different campaigns apart.
    """
    clean = re.sub(r"[^A-Za-z0-9_.\-]+", "_", key).strip("_.-") or "movement"
    suffix = f".{hashlib.sha1(salt.encode()).hexdigest()[:8]}" if salt else ""
    return f"msproc.{clean[:180]}{suffix}"


def ensure_scope(client: Any, scope: str, account: str) -> None:
    """Create ``scope`` for ``account`` unless it exists."""
    from rucio.common.exception import Duplicate

    if scope in set(client.list_scopes()):
        return
    try:
        client.add_scope(account, scope)
    except Duplicate:
        pass


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def register_files(client: Any, scope: str, rse: str, files: Sequence[RucioDID], *, chunk: int = 500) -> int:
    """Register ``files`` as replicas at ``rse`` (new DIDs) and set their `RubinMeta` metadata.

    Replicas already known at ``rse`` are left alone. Returns how many replicas were added.
    Raises `ValueError` if a file's scope is not ``scope``.
    """
    strangers = sorted(f.name for f in files if f.scope != scope)
    if strangers:
        raise ValueError(f"files not in scope {scope!r}: {strangers[:5]}")
    if not files:
        return 0
    known: set[str] = set()
    for part in _chunks(list(files), chunk):
        dids = [{"scope": scope, "name": f.name} for f in part]
        for replica in client.list_replicas(dids, rse_expression=rse, all_states=True, resolve_archives=False):
            if rse in replica.get("rses", {}) or rse in replica.get("states", {}):
                known.add(replica["name"])
    new = [f for f in files if f.name not in known]
    for part in _chunks(new, chunk):
        client.add_replicas(rse, [{"scope": scope, "name": f.name, "bytes": f.bytes, "adler32": f.adler32}
                                  for f in part])
    for part in _chunks(list(files), chunk):
        client.set_dids_metadata_bulk([{"scope": scope, "name": f.name, "meta": f.meta.model_dump()} for f in part])
    return len(new)


def ensure_dataset(client: Any, scope: str, name: str, meta: dict[str, str] | None = None) -> bool:
    """Create the Rucio dataset ``scope:name`` unless it exists; return True if it was created."""
    from rucio.common.exception import DataIdentifierAlreadyExists

    try:
        client.add_dataset(scope, name, meta=meta or {})
    except DataIdentifierAlreadyExists:
        return False
    return True


def attach_files(client: Any, scope: str, dataset: str, names: Iterable[str], *, chunk: int = 500) -> int:
    """Attach the files ``names`` to the dataset, skipping those already attached; return how many were attached."""
    attached = {content["name"] for content in client.list_content(scope, dataset)}
    missing = sorted(set(names) - attached)
    for part in _chunks(missing, chunk):
        client.attach_dids(scope, dataset, [{"scope": scope, "name": name} for name in part])
    return len(missing)


def set_chains(client: Any, scope: str, dataset: str, chains: dict[str, Iterable[str]]) -> None:
    """Record on the Rucio dataset which CHAINED source collections its files came through (and their runs)."""
    if chains:
        value = json.dumps({chain: sorted(runs) for chain, runs in sorted(chains.items())})
        client.set_dids_metadata_bulk([{"scope": scope, "name": dataset, "meta": {CHAINS_KEY: value}}])


def get_chains(client: Any, scope: str, dataset: str) -> dict[str, list[str]]:
    """Return the chains `set_chains` recorded on the dataset ({} if none)."""
    raw = client.get_metadata(scope, dataset, plugin="JSON").get(CHAINS_KEY)
    if isinstance(raw, str) and raw:
        raw = json.loads(raw)
    return {str(chain): [str(run) for run in runs] for chain, runs in (raw or {}).items()}


def find_rule(client: Any, scope: str, dataset: str, rse: str, account: str | None = None) -> dict | None:
    """Return the live replication rule of the dataset to ``rse`` (created by msproc), or None."""
    filters = {"scope": scope, "name": dataset, "rse_expression": rse}
    if account:
        filters["account"] = account
    for rule in client.list_replication_rules(filters=filters):
        return rule
    return None


def ensure_rule(client: Any, scope: str, dataset: str, rse: str, *, account: str | None = None,
                activity: str | None = None) -> tuple[str, bool]:
    """Return (rule id, created) of the one rule replicating the dataset to ``rse``; create it if missing.

    A rule of the same DID and RSE expression made by the same account is reused, never duplicated.
    """
    from rucio.common.exception import DuplicateRule

    existing = find_rule(client, scope, dataset, rse, account)
    if existing:
        return existing["id"], False
    try:
        ids = client.add_replication_rule([{"scope": scope, "name": dataset}], 1, rse, grouping="DATASET",
                                          activity=activity, comment=RULE_COMMENT)
    except DuplicateRule:
        # Another worker won the race: take its rule.
        existing = find_rule(client, scope, dataset, rse, account)
        if existing is None:
            raise
        return existing["id"], False
    return ids[0], True


def sidecar(ref: Any) -> str:
    """Return the ``rubin_sidecar`` metadata of a `DatasetRef`: its JSON serialization."""
    return ref.to_json()


def parse_meta(meta: dict[str, Any]) -> tuple[str, dict | None]:
    """Return (kind, sidecar dict or None) from a DID's metadata (a `RubinMeta` among other keys).

    A DID without ``rubin_butler`` (not registered by msproc or lsst-rucio-register) gives ``("", None)``.
    Raises `json.JSONDecodeError` for a sidecar that is not JSON.
    """
    if not meta.get("rubin_butler"):
        return "", None
    raw = meta.get("rubin_sidecar")
    if isinstance(raw, dict):  # a JSON metadata plugin may hand the sidecar back already parsed
        return str(meta["rubin_butler"]), raw
    rubin = RubinMeta.model_validate({"rubin_butler": str(meta["rubin_butler"]), "rubin_sidecar": raw or ""})
    return rubin.rubin_butler, (json.loads(rubin.rubin_sidecar) if rubin.rubin_sidecar else None)
