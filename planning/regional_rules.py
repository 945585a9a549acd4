"""Regional (healpix) steps: a step's sky pixels, their visits and tracts, and the site each pixel runs at.

A mixin of the planner (:class:`~.planner._Planner`), like :mod:`.movement_rules`; it reads the planner's
indexes (``visits``, ``visit_tracts``, ``visit_owner``, ``tract_owner``, ``dataflow``). The rule and an
example are in docs/campaign-spec.md, "Regional (healpix) steps".
"""

from __future__ import annotations

from .plan import PlanningError
from .regions import RegionError, choose_pixel_site, healpix_level_of, pixel_of


class RegionalRules:
    """Pixels of regional steps: which visits and tracts each holds, and where its group runs."""

    def healpix_dimension(self, step: str) -> str:
        """Return the ``healpixN`` dimension a regional step is sharded by."""
        flow = self.dataflow.steps[step]
        return next(d for d in flow.sharding or () if healpix_level_of(d) is not None)

    def visit_pixels(self, level: int) -> dict[int, int]:
        """Return visit -> its ``healpix{level}`` pixel (centre), for every planned visit."""
        if level not in self._pixels:
            try:
                self._pixels[level] = {visit: pixel_of(info, level) for visit, info in self.visits.items()}
            except RegionError as err:
                raise PlanningError(str(err)) from err
        return self._pixels[level]

    def pixel_domain(self, step: str, pixels: set[int]) -> tuple[set[int], set[int]]:
        """Return (visits, tracts) of the pixels ``pixels`` of a regional step."""
        level = healpix_level_of(self.healpix_dimension(step))
        visits = {v for v, pixel in self.visit_pixels(level).items() if pixel in pixels}  # type: ignore[arg-type]
        return visits, {t for v in visits for t in self.visit_tracts[v]}

    def _place_pixels(self, step: str) -> dict[int, str]:
        level = healpix_level_of(self.healpix_dimension(step))
        pixels = sorted(set(self.visit_pixels(level).values()))  # type: ignore[arg-type]
        produced_inputs = [
            info for name, info in self.dataflow.steps[step].inputs.items() if self.producer_of(name, step) is not None
        ]
        placement = {}
        for pixel in pixels:
            visits, tracts = self.pixel_domain(step, {pixel})
            placement[pixel] = choose_pixel_site(
                produced_inputs, visits, tracts, self.visit_owner, self.tract_owner, self.sites, self.hub
            )
        return placement
