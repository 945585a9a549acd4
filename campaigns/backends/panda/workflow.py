"""Preparing a BPS workflow on the submit host, apart from talking to PanDA.

What :class:`~.backend.PandaExecutionBackend` does before and around ``PanDAService.submit``: a minimal submit
YAML when a job has none, the environment BPS expects, removing what a failed submit staged, the cache of
prepared workflows (docs/panda.md, "Submission" step 3) and the check of the site's Butler before submitting.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from campaigns.backends.base import BackendError, Submission

__all__ = ["PREPARED_FILE", "check_repository", "clear_distribution", "load_prepared", "minimal_yaml",
           "save_prepared", "stack_environment"]

log = logging.getLogger(__name__)

#: The attempt's prepared workflow (pickled with a digest of its BPS config), reused by a retry.
PREPARED_FILE = "panda-prepared.pickle"


def minimal_yaml(submission: Submission) -> str:
    import yaml

    pipeline = submission.pipeline if "#" in submission.pipeline else f"{submission.pipeline}#{submission.step}"
    return yaml.safe_dump({
        "pipelineYaml": pipeline,
        "project": "msproc",
        "campaign": submission.workflow_name,
        "requestMemory": submission.memory_mb,
        "payload": {"payloadName": submission.workflow_name, "butlerConfig": submission.repo,
                    "inCollection": ",".join(submission.inputs), "dataQuery": submission.data_query,
                    "output": submission.output},
    })


def stack_environment() -> None:
    """Let BPS find ``pipetask``/``butler`` of this environment when no LSST setup did (``${CTRL_MPEXEC_DIR}``)."""
    prefix = str(Path(sys.executable).parent.parent)
    os.environ.setdefault("CTRL_MPEXEC_DIR", prefix)
    os.environ.setdefault("DAF_BUTLER_DIR", prefix)


def clear_distribution(wms_config: Any, workflow: Any) -> None:
    """Remove the copies an earlier, failed submit of this workflow staged at ``fileDistributionEndPoint``.

    The plugin's ``copy_files_for_distribution`` copies without overwriting, so
    a submit that failed after the copy (PanDA unreachable at the ``submit``
    call) would fail on every retry with FileExistsError. Targets are computed
    as the plugin computes them. Only called when iDDS has no request of this
    name (so nothing at PanDA uses these files) and under the attempt's claim.
    """
    import re

    from lsst.resources import ResourcePath

    uri = wms_config["fileDistributionEndPoint"]
    if "LSST_RUN_TEMP_SPACE" in uri and "LSST_RUN_TEMP_SPACE" not in os.environ:
        uri = wms_config["fileDistributionEndPointDefault"]
    if not re.match(r"^[a-zA-Z][a-zA-Z\d+\-.]*://", uri):
        uri = "file://" + uri
    root = ResourcePath(uri, forceDirectory=True)
    for local in (getattr(workflow, "files_to_pre_stage", None) or {}).values():
        name = os.path.basename(os.path.normpath(local))
        if os.path.isdir(local):
            folder = root.join(name, forceDirectory=True)
            targets = [folder.join(file.basename(), forceDirectory=False)
                       for file in ResourcePath.findFileResources([local])]
        else:
            targets = [root.join(name, forceDirectory=False)]
        for target in targets:
            if target.exists():
                target.remove()


def load_prepared(cache: Path, digest: str) -> tuple[Any, Any] | None:
    """Return ``(wms_config, workflow)`` prepared earlier for the same BPS config, None if there is none."""
    try:
        with cache.open("rb") as stream:
            saved = pickle.load(stream)  # written by save_prepared into the attempt's own directory
    except FileNotFoundError:
        return None
    except Exception as exc:  # a partial write, another stack version: prepare again
        log.warning("cannot reuse the prepared workflow %s (%s): preparing again", cache, exc)
        return None
    if not isinstance(saved, dict) or saved.get("digest") != digest:
        log.info("the BPS config changed since %s was prepared: preparing again", cache)
        return None
    return saved["wms_config"], saved["workflow"]


def save_prepared(cache: Path, digest: str, wms_config: Any, workflow: Any) -> None:
    """Keep the prepared workflow next to the submit files, for a retry after PanDA did not take it."""
    partial = cache.with_suffix(".partial")
    try:
        with partial.open("wb") as stream:
            pickle.dump({"digest": digest, "wms_config": wms_config, "workflow": workflow}, stream,
                        protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(cache)
    except Exception as exc:  # not fatal: a retry just prepares again
        partial.unlink(missing_ok=True)
        log.warning("cannot keep the prepared workflow in %s: %s", cache, exc)


def check_repository(repo: str, output_run: str, inputs: Sequence[str] = (), site: str = "") -> None:
    """Check the site's Butler before a submission; raise BackendError when it would fail there.

    The output RUN collection must not exist yet (permanent: a new attempt
    needs a new run). Every input collection must exist (transient: a
    movement may still be bringing it; the job stays prepared and is
    retried). Skipped (with a log line) when the repository cannot be opened
    from here, e.g. a site's Butler reachable only inside the data facility.
    """
    if not repo or not (output_run or inputs):
        return
    try:
        from lsst.daf.butler import Butler, MissingCollectionError

        butler = Butler.from_config(repo, writeable=False)
    except Exception as exc:
        log.info("cannot open the Butler %s from here (%s): pre-submit checks skipped", repo, type(exc).__name__)
        return
    try:
        if output_run and _has_collection(butler, output_run, MissingCollectionError) is True:
            raise BackendError(f"output run collection {output_run} already exists in {repo}; "
                               "a new attempt needs a new run", permanent=True)
        for name in inputs:
            if _has_collection(butler, name, MissingCollectionError) is False:
                raise BackendError(f"input collection {name} missing at {site or repo}")
    finally:
        butler.close()


def _has_collection(butler: Any, name: str, missing: type[Exception]) -> bool | None:
    """Whether ``name`` exists in ``butler``; None when the check itself failed (then it is skipped)."""
    try:
        butler.collections.get_info(name)
    except missing:
        return False
    except Exception as exc:
        log.info("collection check of %s failed (%s): skipped", name, exc)
        return None
    return True
