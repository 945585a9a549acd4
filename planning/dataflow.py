"""Read a pipeline and describe what each step (subset) reads and writes.

A pipeline is a YAML file (resolved against the default
:class:`lsst.daf.butler.DimensionUniverse`, so no Butler repository is
needed) or a saved pipeline graph (``.json.gz`` written by
:func:`export_pipeline_graph`), read with task import disabled: planning the
real DRP needs lsst-pipe-base and lsst-daf-butler, not the task packages.

When the pipeline has a ``steps:`` section, its steps are the step subsets in
that order, each with its sharding dimensions, and the order has passed
lsst-pipe-base's own step validation; otherwise every subset is a step and
sharding is left to the tasks' dimensions.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

__all__ = [
    "MOCK_DRP_PIPELINE",
    "MOCK_LSSTCAM_DRP_PIPELINE",
    "MOCK_PIPELINES",
    "SAVED_GRAPH_SUFFIX",
    "DataflowError",
    "DatasetTypeInfo",
    "PipelineDataflow",
    "PipelineNotAllowed",
    "PipelineSources",
    "StepDataflow",
    "check_step_order",
    "export_pipeline_graph",
    "load_dataflow",
    "load_pipeline_graph",
    "resolve_pipeline_uri",
]

_PIPELINES_DIR = Path(__file__).resolve().parent.parent / "stack" / "pipelines"
#: The mock DRP pipeline written by ``stack`` (the value ``mock:drp``).
MOCK_DRP_PIPELINE = _PIPELINES_DIR / "drp_mock.yaml"
#: The mock of the real LSSTCam DRP (the value ``mock:lsstcam-drp``).
MOCK_LSSTCAM_DRP_PIPELINE = _PIPELINES_DIR / "lsstcam_drp_mock.yaml"
#: Spec ``pipeline`` values naming a pipeline shipped with msproc.
MOCK_PIPELINES: dict[str, Path] = {"mock:drp": MOCK_DRP_PIPELINE, "mock:lsstcam-drp": MOCK_LSSTCAM_DRP_PIPELINE}


#: File name ending of a saved pipeline graph.
SAVED_GRAPH_SUFFIX = ".json.gz"
#: Pipelines shipped with msproc, by the name a spec gives them.
SHIPPED_PIPELINES = MOCK_PIPELINES
#: A pipeline name in the pipelines directory: relative parts of safe characters, a YAML file or a saved graph.
_PIPELINE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*\.(ya?ml|json\.gz)")


class DataflowError(Exception):
    """The pipeline cannot be loaded or resolved."""


class PipelineNotAllowed(DataflowError):
    """A spec's ``pipeline`` is none of the allowed sources; the message says which sources are allowed."""


@dataclasses.dataclass(frozen=True)
class PipelineSources:
    """Where a spec's pipeline may come from (settings ``MSPROC_PIPELINES_DIR``, ``MSPROC_PIPELINE_URI_PREFIXES``).

    Always the shipped pipelines (``mock:drp``); a name relative to ``directory`` (``drp.yaml``,
    ``lsstcam/drp.yaml#step1``) when one is configured; a URI starting with one of ``uri_prefixes``
    (``s3://pipelines/``, ``resource://lsst.drp_pipe/``). Nothing else: a spec cannot make the server
    open an arbitrary file or fetch an arbitrary URL.
    """

    directory: Path | None = None
    uri_prefixes: tuple[str, ...] = ()

    @classmethod
    def configured(cls, directory: str | Path | None, uri_prefixes: Iterable[str] = ()) -> PipelineSources:
        """Return the sources of a configuration; each URI prefix gets a final ``/`` so it names a directory
        (``https://host`` must not allow ``https://host.elsewhere/``)."""
        return cls(directory=Path(directory) if directory else None,
                   uri_prefixes=tuple(p if p.endswith("/") else f"{p}/" for p in uri_prefixes if p))

    def describe(self) -> str:
        """Return the allowed forms, for an error message (the directory is not named)."""
        forms = [", ".join(sorted(SHIPPED_PIPELINES))]
        if self.directory is not None:
            forms.append("a file name in the pipelines directory (e.g. drp.yaml)")
        forms += [f"a URI starting with {prefix}" for prefix in self.uri_prefixes]
        return "must be " + "; or ".join(forms)


@dataclasses.dataclass(frozen=True)
class DatasetTypeInfo:
    """A dataset type as the planner needs it."""

    name: str
    dimensions: tuple[str, ...]
    storage_class: str

    def key_dimension(self) -> str | None:
        """Return the data-ID key that restricts this dataset type in a movement.

        ``exposure`` if it has one, else ``visit``, else ``tract``, else a
        ``healpixN`` sky pixel, else None (the dataset type is moved whole,
        e.g. a per-instrument look-up table).
        """
        for dimension in ("exposure", "visit", "tract"):
            if dimension in self.dimensions:
                return dimension
        for dimension in self.dimensions:
            if dimension.startswith("healpix") and dimension[len("healpix") :].isdigit():
                return dimension
        return None

    def restriction_keys(self) -> tuple[str, ...]:
        """Return the data-ID keys that identify one piece of this dataset type in a plan.

        The visit-like key (``exposure``, else ``visit``) and ``tract``, those
        among its dimensions, in that order: ``("visit", "tract")`` for a
        per-visit-and-tract type such as forced photometry; with neither, its
        ``healpixN`` sky pixel (``("healpix3",)``); ``()`` for one that moves
        whole.
        """
        keys = [next((d for d in ("exposure", "visit") if d in self.dimensions), None)]
        keys.append("tract" if "tract" in self.dimensions else None)
        found = tuple(key for key in keys if key is not None)
        if not found and (key := self.key_dimension()) is not None:
            return (key,)  # a healpixN pixel
        return found


@dataclasses.dataclass(frozen=True)
class StepDataflow:
    """What one step (pipeline subset) runs, reads and writes.

    ``inputs`` are the dataset types the step reads that it does not produce
    itself (regular and prerequisite inputs); ``outputs`` are the regular
    outputs (no config/metadata/log datasets). ``dimensions`` is the union of
    the required dimensions of its tasks. ``sharding`` is the step's sharding
    dimensions from the pipeline's ``steps:`` section (``()``: the step runs
    once, over everything), or None when the pipeline has no such section.
    """

    label: str
    tasks: tuple[str, ...]
    inputs: dict[str, DatasetTypeInfo]
    outputs: dict[str, DatasetTypeInfo]
    dimensions: tuple[str, ...]
    sharding: tuple[str, ...] | None = None

    def level_from_sharding(self) -> str | None:
        """Return what one group covers by the ``steps:`` section, or None without one.

        ``global`` (no sharding dimension), ``healpix`` (a ``healpixN``
        dimension), ``tract``, or ``visit`` (``visit``/``exposure``).
        """
        if self.sharding is None:
            return None
        if not self.sharding:
            return "global"
        if self.healpix_level() is not None:
            return "healpix"
        if "tract" in self.sharding:
            return "tract"
        return "visit"

    def healpix_level(self) -> int | None:
        """Return N when the step shards by ``healpixN`` (a regional step), else None."""
        for dimension in self.sharding or ():
            if dimension.startswith("healpix") and dimension[len("healpix") :].isdigit():
                return int(dimension[len("healpix") :])
        return None


@dataclasses.dataclass(frozen=True)
class PipelineDataflow:
    """The dataflow of a whole pipeline, one :class:`StepDataflow` per subset."""

    uri: str
    steps: dict[str, StepDataflow]
    #: True when the steps come from the pipeline's ``steps:`` section (in its order).
    has_step_definitions: bool = False

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


def resolve_pipeline_uri(pipeline: str, sources: PipelineSources | None = None) -> str:
    """Return the URI/path to load for a spec's ``pipeline`` value, if ``sources`` allow it.

    A shipped name (``mock:drp``) gives its file; a name in ``sources.directory`` gives that file (it must
    exist and lie inside the directory, symbolic links resolved); a URI under one of
    ``sources.uri_prefixes`` is returned unchanged. A subset selector (``#step1``) is dropped: the
    planner selects steps itself.

    Raises:
        PipelineNotAllowed: anything else. The message names the allowed forms and says nothing about
            the file system (whether a path exists, what it holds).
    """
    sources = sources or PipelineSources()
    if pipeline in SHIPPED_PIPELINES:
        return str(SHIPPED_PIPELINES[pipeline])
    if pipeline.startswith("mock:"):
        raise PipelineNotAllowed(f"unknown shipped pipeline {pipeline!r}: one of {', '.join(SHIPPED_PIPELINES)}")
    if "://" in pipeline:
        for prefix in sources.uri_prefixes:
            rest = pipeline[len(prefix):]
            if pipeline.startswith(prefix) and rest and ".." not in rest.split("/") and "\\" not in rest:
                return pipeline
        raise PipelineNotAllowed(sources.describe())
    name = pipeline.split("#", 1)[0]
    if sources.directory is not None and _PIPELINE_NAME.fullmatch(name) and ".." not in name.split("/"):
        root = Path(sources.directory).resolve()
        path = (root / name).resolve()
        if path.is_relative_to(root) and path.is_file():
            return str(path)
        if path.is_relative_to(root):
            raise PipelineNotAllowed(f"no pipeline {name!r} in the pipelines directory")
    raise PipelineNotAllowed(sources.describe())


def _info(node: object) -> DatasetTypeInfo:
    dimensions = tuple(sorted(node.dimensions.required))  # type: ignore[attr-defined]
    return DatasetTypeInfo(
        name=node.name,  # type: ignore[attr-defined]
        dimensions=dimensions,
        storage_class=node.storage_class_name,  # type: ignore[attr-defined]
    )


def load_pipeline_graph(uri: str):  # -> lsst.pipe.base.pipeline_graph.PipelineGraph
    """Return the resolved pipeline graph of a pipeline YAML or a saved graph.

    A URI ending in ``.json.gz`` is a saved graph, read without importing any
    task class; anything else is a pipeline YAML, resolved against the default
    dimension universe. Both have their ``steps:`` section validated by
    lsst-pipe-base.

    The graph is cached per URI: copy it before changing it.

    Raises:
        DataflowError: the pipeline cannot be read or resolved, or its step
            order contradicts its dataflow (lsst-pipe-base's ``InvalidStepsError``).
    """
    return _load_graph(uri)


@lru_cache(maxsize=8)
def _load_graph(uri: str):  # -> PipelineGraph
    # Imported here: the stack is slow to import and the spec parser does not need it.
    from lsst.daf.butler import DimensionUniverse
    from lsst.pipe.base import Pipeline
    from lsst.pipe.base.pipeline_graph import PipelineGraph, TaskImportMode

    try:
        if uri.endswith(SAVED_GRAPH_SUFFIX):
            graph = PipelineGraph._read_uri(uri, import_mode=TaskImportMode.DO_NOT_IMPORT)
        else:
            graph = Pipeline.from_uri(uri).to_graph()
        graph.resolve(dimensions=DimensionUniverse())
    except Exception as err:  # the stack raises many kinds; report them all the same way
        raise DataflowError(f"cannot load pipeline {uri!r}: {err}") from err
    return graph


def check_step_order(uri: str, labels: Sequence[str]) -> tuple[str, str] | None:
    """Return (step, problem) if lsst-pipe-base rejects ``labels`` as the order of the steps, else None.

    The pipeline's graph is copied, the tasks of subsets not in ``labels``
    are removed, ``labels`` become its steps and lsst-pipe-base's own step
    validation runs (``InvalidStepsError``: a step produces what an earlier
    step reads). None also when ``uri`` cannot be loaded (reported elsewhere)
    or a label is not a subset.
    """
    from lsst.daf.butler import DimensionUniverse
    from lsst.pipe.base.pipeline_graph import InvalidStepsError

    try:
        graph = load_pipeline_graph(uri).copy()
    except DataflowError:
        return None
    if any(label not in graph.task_subsets for label in labels):
        return None
    keep = {task for label in labels for task in graph.task_subsets[label]}
    graph.remove_tasks([task for task in graph.tasks if task not in keep], drop_from_subsets=True)
    graph.steps = list(labels)
    try:
        graph.resolve(dimensions=DimensionUniverse())
    except InvalidStepsError as err:
        match = re.search(r"in step '([^']+)'", str(err))
        label = match.group(1) if match else labels[0]
        return label, f"step order rejected by lsst-pipe-base: {err}"
    return None


def export_pipeline_graph(uri: str, destination: str | Path) -> Path:
    """Write the resolved pipeline graph of ``uri`` to ``destination`` (``.json.gz``).

    Needs the pipeline's task packages (or the mocks) importable. Returns the
    path written.

    Raises:
        DataflowError: the pipeline cannot be loaded, or ``destination`` does
            not end in ``.json.gz`` or cannot be written.
    """
    path = Path(destination)
    if not path.name.endswith(SAVED_GRAPH_SUFFIX):
        raise DataflowError(f"{path}: a saved pipeline graph must end in {SAVED_GRAPH_SUFFIX}")
    graph = load_pipeline_graph(uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        graph._write_uri(str(path))
    except Exception as err:
        raise DataflowError(f"cannot write {path}: {err}") from err
    return path


def load_dataflow(uri: str, steps: Iterable[str] | None = None) -> PipelineDataflow:
    """Load a pipeline (YAML or saved graph) and return the dataflow of its steps.

    ``steps`` restricts the result to those subset labels (in that order);
    by default the result has the steps of the pipeline's ``steps:`` section
    in that order, or, without one, every subset in label order.

    Raises:
        DataflowError: the pipeline cannot be read or resolved, its step order
            is invalid, or a requested step is not a subset of it.
    """
    graph = load_pipeline_graph(uri)
    sharding: dict[str, tuple[str, ...]] = {}
    for label in graph.steps:
        sharding[label] = tuple(sorted(graph.steps.get_dimensions(label).required))
    if steps is not None:
        labels = list(steps)
    elif sharding:
        labels = list(sharding)
    else:
        labels = sorted(graph.task_subsets.keys())
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
            sharding=_sharding(sharding[label]) if label in sharding else None,
        )
    return PipelineDataflow(uri=uri, steps=result, has_step_definitions=bool(sharding))


def _sharding(required: tuple[str, ...]) -> tuple[str, ...]:
    # instrument and skymap come with visit/tract; what shards a step is the rest.
    return tuple(d for d in required if d not in ("instrument", "skymap"))


def dataflow_from_mapping(uri: str, steps: Mapping[str, StepDataflow]) -> PipelineDataflow:
    """Return a :class:`PipelineDataflow` built from ready-made step dataflows (tests, caches)."""
    return PipelineDataflow(uri=uri, steps=dict(steps))
