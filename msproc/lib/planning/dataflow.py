"""Read a pipeline YAML and describe what each step (subset) reads and writes.

The pipeline graph is resolved against the default
:class:`lsst.daf.butler.DimensionUniverse`, so no Butler repository is needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "MOCK_DRP_PIPELINE",
    "MOCK_LSSTCAM_DRP_PIPELINE",
    "MOCK_PIPELINES",
    "DataflowError",
    "DatasetTypeInfo",
    "PipelineDataflow",
    "StepDataflow",
    "load_dataflow",
    "resolve_pipeline_uri",
]

_PIPELINES_DIR = Path(__file__).resolve().parent.parent / "stack" / "pipelines"
#: The mock DRP pipeline written by ``msproc.lib.stack`` (the value ``mock:drp``).
MOCK_DRP_PIPELINE = _PIPELINES_DIR / "drp_mock.yaml"
#: The mock of the real LSSTCam DRP (the value ``mock:lsstcam-drp``).
MOCK_LSSTCAM_DRP_PIPELINE = _PIPELINES_DIR / "lsstcam_drp_mock.yaml"
#: Spec ``pipeline`` values naming a pipeline shipped with msproc.
MOCK_PIPELINES: dict[str, Path] = {"mock:drp": MOCK_DRP_PIPELINE, "mock:lsstcam-drp": MOCK_LSSTCAM_DRP_PIPELINE}


class DataflowError(Exception):
    """The pipeline cannot be loaded or resolved."""


@dataclasses.dataclass(frozen=True)
class DatasetTypeInfo:
    """A dataset type as the planner needs it."""

    name: str
    dimensions: tuple[str, ...]
    storage_class: str

    def key_dimension(self) -> str | None:
        """Return the data-ID key that restricts this dataset type in a movement.

        ``exposure`` if it has one, else ``visit``, else ``tract``, else None
        (the dataset type is moved whole, e.g. a per-instrument look-up table).
        """
        for dimension in ("exposure", "visit", "tract"):
            if dimension in self.dimensions:
                return dimension
        return None


@dataclasses.dataclass(frozen=True)
class StepDataflow:
    """What one step (pipeline subset) runs, reads and writes.

    ``inputs`` are the dataset types the step reads that it does not produce
    itself (regular and prerequisite inputs); ``outputs`` are the regular
    outputs (no config/metadata/log datasets). ``dimensions`` is the union of
    the required dimensions of its tasks.
    """

    label: str
    tasks: tuple[str, ...]
    inputs: dict[str, DatasetTypeInfo]
    outputs: dict[str, DatasetTypeInfo]
    dimensions: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PipelineDataflow:
    """The dataflow of a whole pipeline, one :class:`StepDataflow` per subset."""

    uri: str
    steps: dict[str, StepDataflow]

    def producers(self, dataset_type: str) -> list[str]:
        """Return the labels of the steps that write ``dataset_type`` (maybe empty)."""
        return [label for label, step in self.steps.items() if dataset_type in step.outputs]

    def dataset_type(self, name: str) -> DatasetTypeInfo | None:
        """Return what the pipeline knows about ``name``, or None if no step uses it."""
        for step in self.steps.values():
            if name in step.outputs:
                return step.outputs[name]
        for step in self.steps.values():
            if name in step.inputs:
                return step.inputs[name]
        return None


def resolve_pipeline_uri(pipeline: str, base: Path | None = None) -> str:
    """Return the URI/path to load for a spec's ``pipeline`` value.

    ``mock:drp`` means the mock DRP pipeline of ``msproc.lib.stack`` and
    ``mock:lsstcam-drp`` the mock of the real LSSTCam DRP; a
    relative path is resolved against ``base`` (default: the ``msproc``
    package directory); anything else (absolute path, ``resource://``,
    ``s3://``...) is returned unchanged.
    """
    if pipeline in MOCK_PIPELINES:
        return str(MOCK_PIPELINES[pipeline])
    if "://" in pipeline or pipeline.startswith("/"):
        return pipeline
    # Subset selectors (``file.yaml#step1``) are not meaningful here: strip them.
    path_part = pipeline.split("#", 1)[0]
    root = base if base is not None else Path(__file__).resolve().parents[2]
    return str((root / path_part).resolve())


def _info(node: object) -> DatasetTypeInfo:
    dimensions = tuple(sorted(node.dimensions.required))  # type: ignore[attr-defined]
    return DatasetTypeInfo(
        name=node.name,  # type: ignore[attr-defined]
        dimensions=dimensions,
        storage_class=node.storage_class_name,  # type: ignore[attr-defined]
    )


def load_dataflow(uri: str, steps: Iterable[str] | None = None) -> PipelineDataflow:
    """Load a pipeline and return the dataflow of its subsets.

    ``steps`` restricts the result to those subset labels (in that order);
    by default every subset is described, in label order.

    Raises:
        DataflowError: the pipeline cannot be read or resolved, or a requested
            step is not a subset of it.
    """
    # Imported here: the stack is slow to import and the spec parser does not need it.
    from lsst.daf.butler import DimensionUniverse
    from lsst.pipe.base import Pipeline

    try:
        pipeline = Pipeline.from_uri(uri)
        graph = pipeline.to_graph()
        graph.resolve(dimensions=DimensionUniverse())
    except Exception as err:  # the stack raises many kinds; report them all the same way
        raise DataflowError(f"cannot load pipeline {uri!r}: {err}") from err

    labels = list(steps) if steps is not None else sorted(graph.task_subsets.keys())
    missing = [label for label in labels if label not in graph.task_subsets]
    if missing:
        raise DataflowError(f"pipeline {uri!r} has no subset(s) {', '.join(missing)}")

    result: dict[str, StepDataflow] = {}
    for label in labels:
        tasks = sorted(graph.task_subsets[label])
        produced: dict[str, DatasetTypeInfo] = {}
        read: dict[str, DatasetTypeInfo] = {}
        dims: set[str] = set()
        for task_label in tasks:
            task = graph.tasks[task_label]
            dims.update(task.dimensions.required)
            for edge in task.outputs.values():
                produced[edge.parent_dataset_type_name] = _info(graph.dataset_types[edge.parent_dataset_type_name])
            for edges in (task.inputs, task.prerequisite_inputs):
                for edge in edges.values():
                    name = edge.parent_dataset_type_name
                    read[name] = _info(graph.dataset_types[name])
        inputs = {name: info for name, info in sorted(read.items()) if name not in produced}
        result[label] = StepDataflow(
            label=label,
            tasks=tuple(tasks),
            inputs=inputs,
            outputs=dict(sorted(produced.items())),
            dimensions=tuple(sorted(dims)),
        )
    return PipelineDataflow(uri=uri, steps=result)


def dataflow_from_mapping(uri: str, steps: Mapping[str, StepDataflow]) -> PipelineDataflow:
    """Return a :class:`PipelineDataflow` built from ready-made step dataflows (tests, caches)."""
    return PipelineDataflow(uri=uri, steps=dict(steps))
