"""Run one group attempt as a detached process: ``python -m stack.runner JOB_DIR``.

The local execution backend writes ``JOB_DIR/job.json`` and starts this
module in its own session, so the run outlives the Celery worker that
started it (a restarted worker finds it by its directory, never starts it
twice). The outcome is written atomically to ``JOB_DIR/result.json``; until
then ``JOB_DIR/pid`` names the running process.

job.json keys: repo, step, pipeline, inputs, output, output_run, data_query,
step_chain and output_chain (CHAINED collections the run is added to: the step's and the campaign's
``{out}/output`` at the site), rescue, timeout,
failures ([{task_label, where, exception}]).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

JOB_FILE = "job.json"
RESULT_FILE = "result.json"
PID_FILE = "pid"


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` so readers see either nothing or the whole file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str))
    os.replace(tmp, path)


def _existing(repo: str, collections: list[str]) -> list[str]:
    from lsst.daf.butler import Butler, MissingCollectionError

    butler = Butler.from_config(repo)
    found = []
    for name in collections:
        try:
            butler.registry.getCollectionType(name)
        except MissingCollectionError:
            continue
        found.append(name)
    return found


def _add_to_chain(repo: str, chain: str, run: str) -> None:
    from lsst.daf.butler import Butler, CollectionType, MissingCollectionError

    butler = Butler.from_config(repo, writeable=True)
    try:
        butler.registry.getCollectionType(run)
    except MissingCollectionError:
        return  # nothing was written (e.g. an empty graph)
    butler.registry.registerCollection(chain, CollectionType.CHAINED)
    if run not in butler.registry.getCollectionChain(chain):
        butler.collections.prepend_chain(chain, [run])  # locks the chain: concurrent runs never lose each other


def run(job_dir: Path) -> dict[str, Any]:
    """Run the job described in ``job_dir/job.json`` and return (and write) its result."""
    from stack.pipeline import FailureSpec
    from stack.pipetask import run_group

    job = json.loads((job_dir / JOB_FILE).read_text())
    try:
        inputs = _existing(job["repo"], job["inputs"])
        result = run_group(
            job["repo"],
            job["step"],
            inputs=inputs,
            output=job["output"],
            output_run=job["output_run"],
            data_query=job["data_query"],
            work_dir=job_dir,
            pipeline=job["pipeline"],
            failures=[FailureSpec(**f) for f in job.get("failures", [])],
            rescue=job.get("rescue", False),
            timeout=float(job.get("timeout", 3600)),
            log_name="pipetask",
            data_id_table=job.get("data_id_table") or None,
            dataset_query_constraint=job.get("dataset_query_constraint", ""),
        )
        for chain in (job.get("step_chain"), job.get("output_chain")):
            if chain:
                _add_to_chain(job["repo"], chain, job["output_run"])
        payload = {key: value for key, value in asdict(result).items() if key != "command"}
        payload.update(ok=result.ok, command=" ".join(result.command))
    except Exception as exc:  # the runner must always leave a result behind
        payload = {
            "ok": False,
            "exit_code": -1,
            "succeeded": 0,
            "failed": 0,
            "expected": 0,
            "error_lines": [f"{type(exc).__name__}: {exc}", *traceback.format_exc().splitlines()[-15:]],
            "log_path": str(job_dir / "pipetask.log"),
        }
    write_json_atomic(job_dir / RESULT_FILE, payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    """``runner JOB_DIR`` runs in the foreground; ``runner --detach JOB_DIR`` forks a session leader and
    returns at once, having written the child's pid to JOB_DIR/pid (init reaps it, so no zombie stays)."""
    argv = sys.argv[1:] if argv is None else argv
    detach = argv[:1] == ["--detach"]
    job_dir = Path(argv[-1])
    if detach:
        child = os.fork()
        if child:
            (job_dir / PID_FILE).write_text(str(child))
            return 0
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    else:
        (job_dir / PID_FILE).write_text(str(os.getpid()))
    result = run(job_dir)
    if detach:
        os._exit(0)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
