"""Mock tasks for the LSSTCam DRP mock (``stack/pipelines/lsstcam_drp_mock.yaml``) beyond what
lsst-pipe-base's ``DynamicTestPipelineTask`` configures.

``SpatiallyBoundedTestPipelineTask`` is a ``DynamicTestPipelineTask`` whose config also names the connections
that bound its quanta on the sky (``PipelineTaskConnections.getSpatialBoundsConnections``), as the real tasks
do: drp_tasks' ``GbdesAstrometricFitConnections`` returns ``("inputVisitSummaries",)`` (tract and healpix3
variants alike), fgcmcal's ``FgcmBuildFromIsolatedStarsConnections`` ``("isolated_star_cats",
"visit_summaries")`` and ``FgcmOutputProductsConnections`` ``("fgcmPhotoCalib",)``. Without those bounds,
the quantum-graph builder of lsst-pipe-base 30.2026.500 finds the ``htm7`` reference catalog of a healpix3
quantum with one database query that joins healpix3 to htm7, which daf_butler 30.2026.4300 does not implement
(``UnimplementedQueryError: Unsupported combination for spatial join``); with them, it finds the catalog per
quantum from the union of the bounding data IDs' regions.

``pipetask`` imports this module by its dotted name (``stack.mock_tasks``): the repository root must be on
its ``PYTHONPATH`` (``stack.pipetask.run_group`` sees to it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from lsst.pex.config import ListField
from lsst.pipe.base import PipelineTaskConfig
from lsst.pipe.base.tests.mocks import DynamicTestPipelineTask, DynamicTestPipelineTaskConfig
from lsst.pipe.base.tests.mocks._pipeline_task import DynamicTestPipelineTaskConnections

__all__ = ["SpatiallyBoundedTestPipelineTask", "SpatiallyBoundedTestPipelineTaskConfig"]


class SpatiallyBoundedTestPipelineTaskConnections(DynamicTestPipelineTaskConnections, dimensions=()):
    """Connections of ``DynamicTestPipelineTask`` that also name their spatial-bounds connections."""

    def __init__(self, *, config: SpatiallyBoundedTestPipelineTaskConfig):
        super().__init__(config=config)
        self._spatial_bounds = tuple(config.spatial_bounds_connections)

    def getSpatialBoundsConnections(self) -> Iterable[str]:
        return self._spatial_bounds


class SpatiallyBoundedTestPipelineTaskConfig(
    DynamicTestPipelineTaskConfig, pipelineConnections=SpatiallyBoundedTestPipelineTaskConnections
):
    """``DynamicTestPipelineTaskConfig`` plus the names of the spatial-bounds connections."""

    spatial_bounds_connections = ListField[str](
        doc="Input or output connections whose data IDs' regions bound the quanta on the sky "
            "(PipelineTaskConnections.getSpatialBoundsConnections).",
        dtype=str,
        default=[],
    )


class SpatiallyBoundedTestPipelineTask(DynamicTestPipelineTask):
    """``DynamicTestPipelineTask`` with spatial-bounds connections from its config."""

    ConfigClass: ClassVar[type[PipelineTaskConfig]] = SpatiallyBoundedTestPipelineTaskConfig
    _DefaultName = "spatiallyBoundedTestPipelineTask"
