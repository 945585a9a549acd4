"""The BPS submit configuration of one group attempt on PanDA.

The group's rendered submit YAML (``planning.bps``) carries the
pipeline, payload, ``computeSite``/``computeCloud`` and the queue of the
group's memory tier. On top of it go the PanDA plugin's defaults (what
``bps_panda.yaml`` of lsst-ctrl-bps-panda sets), an optional site file
(``MSPROC_PANDA_BPS_CONFIG``: container, LSST setup, file distribution
end point), and what identifies the attempt: ``uniqProcName`` is the
workflow name (so the iDDS request is named after the attempt), the output
RUN is the attempt's run collection, and the submit directory is the
attempt's own.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["PANDA_DEFAULTS", "build_submit_config", "write_submit_config"]

#: What lsst-ctrl-bps-panda's ``bps_panda.yaml`` and a site file set (the wheel ships neither).
PANDA_DEFAULTS: dict[str, Any] = {
    "wmsServiceClass": "lsst.ctrl.bps.panda.PanDAService",
    "placeholderParams": ["qgraphNodeId", "qgraphId"],
    "maxJobsPerTask": 10000,
    "prodSourceLabel": "managed",
    "priority": 500,
    "operator": "msproc",
    "jobInitDir": "`pwd`",
    "jobLogDir": "{jobInitDir}",
    "jobCleanup": "rm -fr EXEC_REPO-*;",
    "custom_lsst_setup": "",
    "setupLSSTEnv": "setup lsst_distrib; {custom_lsst_setup}",
    "jobContainer": '/bin/bash -c "{payloadCommand}" >&2;',
    "payloadCommand": (
        "cd {jobInitDir}; {setupLSSTEnv} "
        "python3 -m lsst.ctrl.bps.panda.edgenode.cmd_line_decoder _cmd_line_; ret=\\$?; {jobCleanup} exit \\$ret;"
    ),
    "runnerCommand": "logDir={jobLogDir}; mkdir -p ${logDir}; {jobContainer} retStat=$?; exit $retStat",
}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def build_submit_config(
    bps_yaml: str,
    *,
    workflow_name: str,
    output_run: str,
    submit_dir: str | Path,
    compute_site: str = "",
    compute_cloud: str = "",
    queue: str = "",
    butler_config: str = "",
    site_overrides: Mapping[str, Any] | None = None,
    data_id_table: str | Path | None = None,
    dataset_query_constraint: str = "",
) -> dict[str, Any]:
    """Return the BPS config (a dict) for one attempt.

    Precedence, lowest first: plugin defaults, the group's submit YAML, the
    site file, then the attempt's identity (name, run, submit path) and the
    site/queue given here when set. ``data_id_table`` (a regional group's quanta, an ECSV file on the submit
    host, where BPS builds the quantum graph) is added to ``extraQgraphOptions`` as ``--data-id-table``, and
    ``dataset_query_constraint`` (the step's; "" = the default) as ``--dataset-query-constraint``.

    Raises ValueError: the YAML is not a mapping, or no ``computeSite`` is known.
    """
    document = yaml.safe_load(bps_yaml or "") or {}
    if not isinstance(document, dict):
        raise ValueError("the BPS submit YAML is not a mapping")
    config = _merge(copy.deepcopy(PANDA_DEFAULTS), document)
    _merge(config, site_overrides or {})
    submit_dir = Path(submit_dir)
    if compute_site:
        config["computeSite"] = compute_site
    if compute_cloud:
        config["computeCloud"] = compute_cloud
    if queue:
        config["queue"] = queue
    payload = config.setdefault("payload", {})
    if butler_config and not payload.get("butlerConfig"):
        payload["butlerConfig"] = butler_config
    payload["outputRun"] = output_run
    extra = [config.get("extraQgraphOptions", "")]
    if data_id_table:
        extra.append(f"--data-id-table {data_id_table}")
    if dataset_query_constraint:
        extra.append(f"--dataset-query-constraint {dataset_query_constraint}")
    if any(extra[1:]):
        config["extraQgraphOptions"] = " ".join(option for option in extra if option)
    config["uniqProcName"] = workflow_name
    config["submitPath"] = str(submit_dir / "bps")
    config.setdefault("fileDistributionEndPoint", f"file://{submit_dir / 'distribution'}/{{uniqProcName}}/")
    config.setdefault("fileDistributionEndPointDefault", config["fileDistributionEndPoint"])
    if not config.get("computeSite"):
        raise ValueError("no computeSite for the PanDA submission")
    return config


def write_submit_config(config: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``config`` as YAML to ``path`` (creating its directory) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path
