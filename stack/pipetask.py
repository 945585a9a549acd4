"""Run one group of one step with ``pipetask run`` in a subprocess.

The outcome is read from pipetask's own job summary (``--summary FILE``:
quantum-graph task summaries plus one report per executed quantum), not only
from the exit code; if no summary was written (e.g. the graph could not be
built or was empty) the ``mp_graph_executor`` log line is parsed instead.

Rescue: `run_group(..., rescue=True)` with a *new* ``output_run`` (the next
job) in the same output chain adds ``--skip-existing-in OUTPUT_CHAIN``, so
quanta whose outputs all exist are skipped and only the missing/failed ones
run.  Re-using the same RUN adds ``--extend-run --clobber-outputs``, which
pipetask refuses if any task config differs from the first attempt (e.g. a
failure injection was dropped), hence the new-RUN default.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stack.paths import safe_component

from .pipeline import MOCK_PIPELINE, FailureSpec, failure_args

__all__ = [
    "DEFAULT_TIMEOUT",
    "QuantaCounts",
    "RunResult",
    "build_command",
    "parse_log",
    "parse_summary",
    "pipetask_executable",
    "run_exists",
    "run_group",
]

DEFAULT_TIMEOUT = 1800.0
MAX_ERROR_LINES = 40
_EXECUTED = re.compile(r"Executed (\d+) quanta successfully, (\d+) failed and (\d+) remain out of total (\d+) quanta")
_EMPTY = re.compile(r"QuantumGraph was empty|QuantumGraph contains no quanta|QuantumGraph is empty")
_ERROR = re.compile(r"\b(ERROR|FATAL|CRITICAL)\b|Error:|Exception:")


@dataclass(frozen=True)
class RunResult:
    """Outcome of one pipetask run.

    ``expected`` is the number of quanta in the graph that was executed (after
    skip-existing pruning); ``blocked`` quanta were not run because an
    upstream quantum failed.  ``failed_data_ids`` lists ``(task_label,
    data_id)`` of failed quanta.  ``empty_graph`` is true when there was
    nothing to do (e.g. a rescue where every output already exists).
    """

    exit_code: int
    succeeded: int
    failed: int
    expected: int
    log_path: Path
    error_lines: list[str] = field(default_factory=list)
    blocked: int = 0
    failed_data_ids: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    summary_path: Path | None = None
    command: list[str] = field(default_factory=list)
    duration: float = 0.0
    timed_out: bool = False
    empty_graph: bool = False
    task_quanta: dict[str, int] = field(default_factory=dict)
    rescue: bool = False

    @property
    def ok(self) -> bool:
        """True if every expected quantum succeeded and pipetask exited 0.

        A rescue whose graph is empty (all outputs already exist) is ok too;
        an empty graph on a first attempt is not (the query matched nothing).
        """
        if self.empty_graph and self.rescue and not self.timed_out:
            return True
        return self.exit_code == 0 and not self.timed_out and self.failed == 0 and self.succeeded == self.expected


def pipetask_executable() -> str:
    """Return the ``pipetask`` script next to the running interpreter (else "pipetask" on PATH)."""
    candidate = Path(sys.executable).parent / "pipetask"
    return str(candidate) if candidate.exists() else "pipetask"


DATA_ID_TABLE_FILE = "data-ids.ecsv"


def write_data_id_table(columns: Mapping[str, Sequence[int | str]], path: str | Path) -> Path:
    """Write a data-ID table for ``pipetask qgraph --data-id-table`` and return its path.

    ``columns`` maps dimension names to values; the table's rows are their product (``{"healpix3": [281],
    "visit": [1, 2]}`` gives (281, 1) and (281, 2)), written as ECSV with astropy. Used for regional groups:
    daf_butler 30.2026.4300 cannot relate a healpix pixel to visits and tracts inside one query ("Too many
    disconnected sets of spatial families"; ``healpix3 = N`` in the data query), but takes the relation
    from such a table. Raises ValueError for no columns or an empty one.
    """
    import itertools

    from astropy.table import Table

    if not columns or not all(columns.values()):
        raise ValueError(f"a data-ID table needs at least one non-empty column, got {dict(columns)!r}")
    names = list(columns)
    rows = list(itertools.product(*(columns[name] for name in names)))
    path = Path(path)
    Table(rows=rows, names=names).write(path, format="ascii.ecsv", overwrite=True)
    return path


def build_command(
    repo: str | Path,
    step: str,
    *,
    inputs: Sequence[str],
    output: str,
    output_run: str,
    data_query: str,
    pipeline: str | Path = MOCK_PIPELINE,
    extend_run: bool = False,
    skip_existing_in: Sequence[str] = (),
    clobber_outputs: bool = False,
    extra_args: Sequence[str] = (),
    summary_path: str | Path | None = None,
    jobs: int = 1,
    executable: str | None = None,
) -> list[str]:
    """Return the ``pipetask run`` argv for one group of one step.

    ``step`` is the pipeline subset label (``pipeline#step``).  Dataset types
    are registered by pipetask (``--register-dataset-types``).
    """
    command = [
        executable or pipetask_executable(),
        "run",
        "-b",
        str(repo),
        "-p",
        f"{pipeline}#{step}",
        "-i",
        ",".join(inputs),
        "-o",
        output,
        "--output-run",
        output_run,
        "-d",
        data_query,
        "-j",
        str(jobs),
        "--register-dataset-types",
    ]
    if extend_run:
        command.append("--extend-run")
    if skip_existing_in:
        command.extend(["--skip-existing-in", ",".join(skip_existing_in)])
    if clobber_outputs:
        command.append("--clobber-outputs")
    if summary_path is not None:
        command.extend(["--summary", str(summary_path)])
    command.extend(extra_args)
    return command


@dataclass
class QuantaCounts:
    """Counts parsed from a job summary or a log (None: the log had no counts)."""

    expected: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    blocked: int | None = None
    failed_data_ids: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    error_lines: list[str] = field(default_factory=list)
    task_quanta: dict[str, int] = field(default_factory=dict)
    empty_graph: bool = False


def parse_summary(path: str | Path) -> QuantaCounts:
    """Parse a ``pipetask run --summary`` JSON file into `QuantaCounts`.

    ``expected`` is the number of quanta in the graph, ``blocked`` those that
    did not report (not run because an upstream quantum failed).  Raises
    `FileNotFoundError` / `json.JSONDecodeError` for a missing/corrupt file.
    """
    report = json.loads(Path(path).read_text())
    tasks = report.get("qgraphSummary", {}).get("qgraphTaskSummaries", {}) or {}
    counts = QuantaCounts(task_quanta={label: int(t.get("numQuanta", 0)) for label, t in tasks.items()})
    counts.expected = sum(counts.task_quanta.values())
    counts.succeeded = counts.failed = 0
    for quantum in report.get("quantaReports", []):
        status = quantum.get("status")
        if status == "success":
            counts.succeeded += 1
        elif status in ("failure", "timeout"):
            counts.failed += 1
            label, data_id = quantum.get("taskLabel") or "", dict(quantum.get("dataId") or {})
            counts.failed_data_ids.append((label, data_id))
            info = quantum.get("exceptionInfo") or {}
            if info:
                counts.error_lines.append(f"{label} {data_id}: {info.get('className')}: {info.get('message')}")
    job_info = report.get("exceptionInfo") or {}
    if job_info:
        counts.error_lines.append(f"job: {job_info.get('className')}: {job_info.get('message')}")
    counts.blocked = max(counts.expected - counts.succeeded - counts.failed, 0)
    return counts


def parse_log(path: str | Path) -> QuantaCounts:
    """Parse a pipetask log for the executor's final counts and error lines.

    Counts stay None if the executor never reported (graph not built/empty).
    """
    text = Path(path).read_text(errors="replace") if Path(path).exists() else ""
    counts = QuantaCounts(empty_graph=bool(_EMPTY.search(text)))
    executed = _EXECUTED.findall(text)
    if executed:
        done, failed, remain, total = (int(x) for x in executed[-1])
        counts.expected, counts.succeeded, counts.failed, counts.blocked = total, done, failed, remain
    counts.error_lines = [line.rstrip() for line in text.splitlines() if _ERROR.search(line)][-MAX_ERROR_LINES:]
    return counts


def run_exists(repo: str | Path, run: str) -> bool:
    """Return True if collection ``run`` exists in the repository at ``repo``."""
    from lsst.daf.butler import Butler, MissingCollectionError

    butler = Butler.from_config(str(repo))
    try:
        butler.registry.getCollectionType(run)
    except MissingCollectionError:
        return False
    return True


#: The directory that holds the ``stack`` package: pipetask imports msproc's own mock tasks
#: (``stack.mock_tasks``) from there.
_IMPORT_ROOT = str(Path(__file__).resolve().parent.parent)


def _pipetask_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """Return pipetask's environment: this process's, ``extra``, and msproc's import root on ``PYTHONPATH``."""
    env = {**os.environ, **(extra or {})}
    paths = [path for path in env.get("PYTHONPATH", "").split(os.pathsep) if path]
    if _IMPORT_ROOT not in paths:
        env["PYTHONPATH"] = os.pathsep.join([_IMPORT_ROOT, *paths])
    return env


def run_group(
    repo: str | Path,
    step: str,
    *,
    inputs: Sequence[str],
    output: str,
    output_run: str,
    data_query: str,
    work_dir: str | Path,
    pipeline: str | Path = MOCK_PIPELINE,
    failures: Sequence[FailureSpec] = (),
    rescue: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log_name: str | None = None,
    data_id_table: Mapping[str, Sequence[int | str]] | None = None,
    dataset_query_constraint: str = "",
) -> RunResult:
    """Run ``pipetask run`` for one group and return its `RunResult`.

    ``work_dir`` receives the log (``<log_name>.log``), the job summary JSON
    and any failure-injection config files.  With ``rescue``, quanta whose
    outputs already exist in the ``output`` chain are skipped; if
    ``output_run`` itself exists it is extended (same configs required).  A run exceeding ``timeout``
    seconds is killed (its whole process group) and reported with
    ``timed_out=True`` and exit code -9.  Never raises for a failed run;
    raises `OSError` if pipetask cannot be started, `stack.paths.UnsafePath` for a log name that is not
    one safe path component.
    ``data_id_table`` (columns, see :func:`write_data_id_table`) is written to ``work_dir`` and passed as
    ``--data-id-table``: the quanta of a regional group. ``dataset_query_constraint`` ("" = pipetask's default)
    is passed as ``--dataset-query-constraint``.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    # The stem names files in work_dir; a step name is user input, so it must be one safe component.
    stem = safe_component(log_name or f"{step}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}", "log_name")
    log_path = work_dir / f"{stem}.log"
    summary_path = work_dir / f"{stem}.summary.json"
    summary_path.unlink(missing_ok=True)
    # A rescue normally goes to a new RUN (the next job) in the same output
    # chain, skipping quanta whose outputs exist anywhere in the chain.  A
    # task's config may not change within one RUN, so re-using the RUN
    # (--extend-run) only works when the config overrides are unchanged.
    extend = rescue and run_exists(repo, output_run)
    skip_in = (output,) if rescue and run_exists(repo, output) else ()
    args = [*failure_args(failures, work_dir / f"{stem}-config"), *extra_args]
    if dataset_query_constraint:
        args += ["--dataset-query-constraint", dataset_query_constraint]
    if data_id_table:  # a regional group: its quanta come from the table (see write_data_id_table)
        args += ["--data-id-table", str(write_data_id_table(data_id_table, work_dir / f"{stem}-{DATA_ID_TABLE_FILE}"))]
    command = build_command(
        repo,
        step,
        inputs=inputs,
        output=output,
        output_run=output_run,
        data_query=data_query,
        pipeline=pipeline,
        extend_run=extend,
        skip_existing_in=skip_in,
        clobber_outputs=extend,
        extra_args=args,
        summary_path=summary_path,
    )
    started = time.monotonic()
    timed_out = False
    with log_path.open("w") as log:
        log.write("# " + " ".join(command) + "\n")
        log.flush()
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_pipetask_env(env),
            start_new_session=True,  # so a timeout can kill pipetask's children too
        )
        try:
            exit_code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            exit_code = -9
    duration = time.monotonic() - started

    counts = parse_log(log_path)
    summary: Path | None = None
    if summary_path.exists():
        summary = summary_path
        from_log_errors = counts.error_lines
        counts = parse_summary(summary_path)
        counts.error_lines += [line for line in from_log_errors if line not in counts.error_lines]
    return RunResult(
        exit_code=exit_code,
        succeeded=counts.succeeded or 0,
        failed=counts.failed or 0,
        expected=counts.expected or 0,
        blocked=counts.blocked or 0,
        failed_data_ids=counts.failed_data_ids,
        task_quanta=counts.task_quanta,
        log_path=log_path,
        summary_path=summary,
        error_lines=counts.error_lines[-MAX_ERROR_LINES:],
        command=command,
        duration=duration,
        timed_out=timed_out,
        empty_graph=counts.empty_graph,
        rescue=rescue,
    )
