"""A Rucio transfer tool that copies files between local posix RSEs, standing in for FTS.

It runs inside the Rucio server's own virtual environment (the conveyor
daemons load it), so it imports nothing from msproc or Django. Launch a
conveyor daemon with it registered::

    RUCIO_CONFIG=rucio.cfg var/rucio-venv/bin/python tests/rucio/localcopy.py \
        rucio-conveyor-submitter --sleep-time 1

and set ``[conveyor] transfertool = localcopy`` in ``rucio.cfg``. Each
transfer is its own job; ``submit`` copies the file at once and records the
outcome under ``[conveyor] localcopy_state_dir`` so that the poller (another
process) reports DONE or FAILED with the copy error, and the finisher then
marks the replica available or retries the request, and finally makes the
rule STUCK, exactly as with FTS.
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rucio.common.config import config_get
from rucio.db.sqla.constants import RequestState
from rucio.transfertool.mock import MockTransfertool
from rucio.transfertool.transfertool import TransferStatusReport

NAME = "localcopy"


def _state_dir() -> Path:
    path = Path(config_get("conveyor", "localcopy_state_dir", False, os.path.join(tempfile.gettempdir(),
                                                                                   "rucio-localcopy")))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _local_path(url: str) -> str:
    """Return the file system path of a ``file://`` PFN (or of a plain path)."""
    return urlparse(url).path if "://" in url else url


class LocalCopyStatusReport(TransferStatusReport):
    supported_db_fields = ["state", "external_id", "err_msg"]

    def __init__(self, request_id: str, external_id: str, state: RequestState, err_msg: str | None) -> None:
        super().__init__(request_id)
        self.state = state
        self.external_id = external_id
        self.err_msg = err_msg

    def initialize(self, session: Any, logger: Any = logging.log) -> None:
        pass

    def get_monitor_msg_fields(self, session: Any, logger: Any = logging.log) -> dict[str, Any]:
        return {"reason": self.err_msg or ""}


class LocalCopyTransfertool(MockTransfertool):
    """Copies ``file://`` source replicas to their destination with ``shutil.copyfile``."""

    external_name = NAME
    supported_schemes = {"file"}

    @classmethod
    def submission_builder_for_path(cls, transfer_path, logger=logging.log):
        from rucio.transfertool.transfertool import TransferToolBuilder

        return transfer_path, TransferToolBuilder(cls, external_host="localcopy")

    def group_into_submit_jobs(self, transfers):
        # One job per path: the job id carries one transfer's outcome.
        return [{"transfers": list(path), "job_params": {}} for path in transfers]

    def submit(self, transfers, job_params, timeout=None) -> str:
        external_id = f"{NAME}-{uuid.uuid4()}"
        errors = []
        for transfer in transfers:
            target = _local_path(transfer.dest_url)
            reasons = []
            for source in transfer.sources:
                origin = _local_path(transfer.source_url(source))
                try:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copyfile(origin, target + ".part")
                    os.replace(target + ".part", target)
                    break
                except OSError as exc:
                    reasons.append(f"copy {origin} -> {target} failed: {exc.strerror or exc}")
            else:
                errors.append("; ".join(reasons) or f"no source for {target}")
        outcome = {"state": "FAILED" if errors else "DONE", "reason": " | ".join(errors)}
        (_state_dir() / f"{external_id}.json").write_text(json.dumps(outcome))
        return external_id

    def bulk_query(self, requests_by_eid, timeout=None):
        response: dict[str, dict[str, LocalCopyStatusReport]] = {}
        for external_id, requests in requests_by_eid.items():
            path = _state_dir() / f"{external_id}.json"
            outcome = json.loads(path.read_text()) if path.exists() else {"state": "FAILED",
                                                                          "reason": "lost job outcome"}
            state = RequestState.DONE if outcome["state"] == "DONE" else RequestState.FAILED
            for request_id in requests:
                response.setdefault(external_id, {})[request_id] = LocalCopyStatusReport(
                    request_id, external_id, state, outcome["reason"] or None)
        return response


def register() -> None:
    """Make the conveyor daemons of this process know the ``localcopy`` transfer tool."""
    from rucio.core import transfer

    transfer.TRANSFERTOOL_CLASSES_BY_NAME[NAME] = LocalCopyTransfertool


def main(argv: list[str]) -> None:
    """Run the Rucio daemon script ``argv[0]`` (from this venv's bin) with the tool registered."""
    # Keep this directory's modules (server.py...) from shadowing the daemons' imports.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [entry for entry in sys.path if entry and str(Path(entry).resolve()) != here]
    register()
    script = Path(sys.executable).parent / argv[0]
    sys.argv = [str(script), *argv[1:]]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
