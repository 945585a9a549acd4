"""The mock DRP pipeline: its location, per-step dataflow and failure injection.

`step_dataflow` reads the pipeline graph (``Pipeline.to_graph()``) and tells,
for each step (pipeline subset), which dataset types it reads from outside the
step, which it writes, and which step produces each of its inputs -- what the
planner needs to decide what data has to move where before a step runs.

Failures are injected through the mock tasks' own config fields
(``fail_condition``: a data-ID expression such as ``"visit = 2"``, and
``fail_exception``), written as a ``-C LABEL:FILE`` config-override file so
that expressions containing commas survive pipetask's option parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from stack.paths import safe_component, safe_join

__all__ = [
    "GLOBAL_STEPS",
    "MOCK_PIPELINE",
    "STEP_ORDER",
    "STEP_STAGE",
    "DatasetTypeInfo",
    "FailureSpec",
    "StepDataflow",
    "failure_config",
    "load_pipeline_graph",
    "step_dataflow",
]

MOCK_PIPELINE: Path = Path(__file__).parent / "pipelines" / "drp_mock.yaml"
"""The mock DRP pipeline YAML shipped with msproc."""

STEP_ORDER: tuple[str, ...] = ("step1", "step2a", "step2b", "step2c", "step2d", "step3", "step7", "step4", "step6")
STEP_STAGE: dict[str, int] = {
    "step1": 1,
    "step2a": 1,
    "step2b": 1,
    "step2c": 2,
    "step2d": 2,
    "step3": 3,
    "step7": 3,
    "step4": 4,
    "step6": 4,
}
GLOBAL_STEPS: frozenset[str] = frozenset({"step2c", "step7"})
"""Steps that see all the data and run only at the hub."""


@dataclass(frozen=True)
class DatasetTypeInfo:
    """A dataset type as the pipeline defines it.

    ``dimensions`` are the required dimensions (sorted), which is what a
    ``DatasetType`` is built from; implied ones (band, day_obs...) follow.
    """

    name: str
    dimensions: tuple[str, ...]
    storage_class: str

    @property
    def is_mock(self) -> bool:
        """True for mock storage classes (need ``import lsst.pipe.base.tests.mocks`` to read)."""
        return self.storage_class.startswith("_mock_")


@dataclass(frozen=True)
class StepDataflow:
    """What one step reads and writes.

    * ``inputs``: dataset types read by the step's tasks but not produced
      inside the step;
    * ``outputs``: regular outputs of the step's tasks (intermediates
      included), without the ``*_config``/``*_log``/``*_metadata``
      bookkeeping datasets, listed in ``bookkeeping``;
    * ``input_producers``: for each input, the step producing it, or None for
      an overall input (produced by no step: raws, calibs, refcats...);
    * ``intermediates``: outputs consumed inside the same step.
    """

    label: str
    tasks: tuple[str, ...]
    inputs: dict[str, DatasetTypeInfo]
    outputs: dict[str, DatasetTypeInfo]
    input_producers: dict[str, str | None]
    intermediates: frozenset[str] = frozenset()
    bookkeeping: tuple[str, ...] = ()
    task_dimensions: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def overall_inputs(self) -> frozenset[str]:
        """Return the inputs produced by no step ("defaults" and raws)."""
        return frozenset(name for name, step in self.input_producers.items() if step is None)

    @property
    def is_global(self) -> bool:
        """True if the step runs only at the hub."""
        return self.label in GLOBAL_STEPS

    @property
    def stage(self) -> int | None:
        """Return the stage number of a known step, else None."""
        return STEP_STAGE.get(self.label)


def load_pipeline_graph(pipeline_uri: str | Path = MOCK_PIPELINE):  # -> PipelineGraph
    """Return the resolved `lsst.pipe.base.pipeline_graph.PipelineGraph` of a pipeline.

    Resolved against the default dimension universe (no repository needed).
    Raises whatever `lsst.pipe.base.Pipeline.from_uri` raises for a bad URI/YAML.
    """
    return _load_graph(str(pipeline_uri))


@lru_cache(maxsize=8)
def _load_graph(uri: str):  # -> PipelineGraph
    from lsst.pipe.base import Pipeline

    graph = Pipeline.from_uri(uri).to_graph()
    graph.resolve()
    return graph


def _info(graph, name: str) -> DatasetTypeInfo:
    node = graph.dataset_types[name]
    return DatasetTypeInfo(
        name=name,
        dimensions=tuple(sorted(node.dimensions.required)),
        storage_class=node.storage_class_name,
    )


def step_dataflow(pipeline_uri: str | Path = MOCK_PIPELINE) -> dict[str, StepDataflow]:
    """Return ``{step_label: StepDataflow}`` for every subset of the pipeline.

    Steps come in pipeline-subset order.  Raises `ValueError` if a task
    belongs to two steps (the producer of a dataset would be ambiguous).
    """
    graph = load_pipeline_graph(pipeline_uri)
    task_step: dict[str, str] = {}
    for label, subset in graph.task_subsets.items():
        for task_label in subset:
            if task_label in task_step:
                raise ValueError(f"Task {task_label!r} is in steps {task_step[task_label]!r} and {label!r}.")
            task_step[task_label] = label

    result: dict[str, StepDataflow] = {}
    for label, subset in graph.task_subsets.items():
        tasks = tuple(task for task in graph.tasks if task in subset)  # graph (topological) order
        produced: dict[str, DatasetTypeInfo] = {}
        bookkeeping: list[str] = []
        read: set[str] = set()
        dims: dict[str, tuple[str, ...]] = {}
        for task_label in tasks:
            node = graph.tasks[task_label]
            dims[task_label] = tuple(sorted(node.dimensions.required))
            for edge in node.outputs.values():
                produced[edge.parent_dataset_type_name] = _info(graph, edge.parent_dataset_type_name)
            bookkeeping.append(node.init.config_output.dataset_type_name)
            bookkeeping.append(node.metadata_output.dataset_type_name)
            if node.log_output is not None:
                bookkeeping.append(node.log_output.dataset_type_name)
            for edge in [*node.inputs.values(), *node.prerequisite_inputs.values()]:
                read.add(edge.parent_dataset_type_name)
        inputs = {name: _info(graph, name) for name in sorted(read - produced.keys())}
        producers: dict[str, str | None] = {}
        for name in inputs:
            producer = graph.producer_of(name)
            producers[name] = task_step.get(producer.label) if producer is not None else None
        result[label] = StepDataflow(
            label=label,
            tasks=tasks,
            inputs=inputs,
            outputs=produced,
            input_producers=producers,
            intermediates=frozenset(read & produced.keys()),
            bookkeeping=tuple(bookkeeping),
            task_dimensions=dims,
        )
    return result


@dataclass(frozen=True)
class FailureSpec:
    """Make one mock task fail on the quanta whose data ID matches ``where``.

    ``where`` uses daf_butler expression syntax on the *quantum* data ID, so
    it may only name that task's dimensions (and implied ones such as band):
    ``"exposure = 2"`` for ``isr``, ``"visit = 2"`` for ``calibrateImage``,
    ``"visit IN (2, 3) AND detector = 1"``...  ``exception`` is the full name
    of the exception class raised; ``lsst.pipe.base.NoWorkFound`` makes the
    quantum end without outputs but not as a failure.
    """

    task_label: str
    where: str
    exception: str = "builtins.ValueError"

    def config_text(self) -> str:
        """Return the Python config-override text for this failure."""
        return f"config.fail_condition = {self.where!r}\nconfig.fail_exception = {self.exception!r}\n"

    def write(self, directory: str | Path) -> Path:
        """Write the override file in ``directory``; returns its path.

        The task label comes from the campaign's fault injection (user input) and names the file: raises
        `stack.paths.UnsafePath` (a ValueError) unless it is one safe path component.
        """
        name = f"fail_{safe_component(self.task_label, 'task_label')}.py"
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = safe_join(directory, name, field="task_label")
        path.write_text(self.config_text())
        return path

    def pipetask_args(self, directory: str | Path) -> list[str]:
        """Write the override file and return the ``-C LABEL:FILE`` arguments for pipetask."""
        return ["-C", f"{self.task_label}:{self.write(directory)}"]


def failure_config(task_label: str, where: str, exception: str = "builtins.ValueError") -> FailureSpec:
    """Return a `FailureSpec` making ``task_label`` fail on quanta matching ``where``.

    Raises `ValueError` if ``where`` is empty (an empty condition never fails).
    """
    if not where.strip():
        raise ValueError("An empty failure condition would never trigger.")
    return FailureSpec(task_label=task_label, where=where, exception=exception)


def failure_args(failures: Iterable[FailureSpec], directory: str | Path) -> list[str]:
    """Return the pipetask arguments for several failures (files written in ``directory``)."""
    args: list[str] = []
    for spec in failures:
        args.extend(spec.pipetask_args(directory))
    return args


def step_task_labels(step: str, pipeline_uri: str | Path = MOCK_PIPELINE) -> Sequence[str]:
    """Return the task labels of a step, in graph order.  Raises `KeyError` for an unknown step."""
    return step_dataflow(pipeline_uri)[step].tasks
