"""Write the hub's "defaults" (calibs, refcats, look-up tables) and raws.

All of these are real files (storage class ``StructuredDataDict``, written as
YAML by the Butler), because the mock pipeline declares its overall inputs
with ``mock_storage_class=False``.  Calibrations are plain RUN datasets (not a
CALIBRATION collection with validity ranges): the mock pipeline does not
declare them as calibrations, which keeps moving them between sites simple.

Collections at the hub after `populate_hub`::

    MockCam/raw/all          RUN      raw[instrument, exposure, detector]
    MockCam/calib/run        RUN      bias[instrument, detector], flat[instrument, detector, physical_filter]
    refcats/mock             RUN      refcat[htm7]
    MockCam/fgcm/lut         RUN      fgcm_lookup_table[instrument]
    MockCam/defaults         CHAINED  -> calib, refcats, fgcm runs
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lsst.daf.butler import Butler, CollectionType, DatasetType
from lsst.sphgeom import HtmPixelization

from .repo import insert_skymap, insert_survey_records
from .survey import Survey

__all__ = [
    "CALIB_RUN",
    "DEFAULTS_CHAIN",
    "DEFAULT_DATASET_TYPES",
    "FGCM_RUN",
    "INPUT_COLLECTIONS",
    "RAW_RUN",
    "REFCAT_RUN",
    "LSSTCAM_DATASET_TYPES",
    "HubContents",
    "populate_hub",
    "refcat_pixels",
    "register_input_dataset_types",
    "write_defaults",
    "write_lsstcam_defaults",
    "write_raws",
]

RAW_RUN = "MockCam/raw/all"
CALIB_RUN = "MockCam/calib/run"
REFCAT_RUN = "refcats/mock"
FGCM_RUN = "MockCam/fgcm/lut"
DEFAULTS_CHAIN = "MockCam/defaults"
DEFAULT_RUNS: tuple[str, ...] = (CALIB_RUN, REFCAT_RUN, FGCM_RUN)
INPUT_COLLECTIONS: tuple[str, ...] = (RAW_RUN, DEFAULTS_CHAIN)
"""What to pass as ``-i`` to pipetask (the raws, then the defaults chain)."""

STORAGE_CLASS = "StructuredDataDict"
REFCAT_LEVEL = 7
DEFAULT_DATASET_TYPES: dict[str, tuple[str, ...]] = {
    "raw": ("instrument", "exposure", "detector"),
    "bias": ("instrument", "detector"),
    "flat": ("instrument", "detector", "physical_filter"),
    "refcat": ("htm7",),
    "fgcm_lookup_table": ("instrument",),
}
"""Overall inputs of the mock pipeline: name -> dimensions."""

_PER_DETECTOR_CALIBS = ("dark", "defects", "linearizer", "ptc", "crosstalk", "bfk", "cti")
#: The ephemeris kernels the LSSTCam DRP's generateEphemerides reads (no dimensions).
EPHEMERIS_DATASET_TYPES = (
    "de440s", "sb441_n16", "obscodes", "linux_p1550p2650", "pck00010", "earth_latest_high_prec",
    "earth_620120_250826", "earth_2025_250826_2125_predict", "naif0012",
)  # fmt: skip
LSSTCAM_DATASET_TYPES: dict[str, tuple[str, ...]] = {
    "camera": ("instrument",),
    **{name: ("instrument", "detector") for name in _PER_DETECTOR_CALIBS},
    "astrometry_camera": ("instrument", "physical_filter"),
    "sky": ("instrument", "physical_filter", "detector"),
    "the_monster_20250219": ("htm7",),
    "fgcmLookUpTable": ("instrument",),
    "skyMap": ("skymap",),
    "brightObjectMask": ("skymap", "tract", "patch", "band"),
    "pretrainedModelPackage": (),
    "mpcorb": (),
    **{name: () for name in EPHEMERIS_DATASET_TYPES},
}
"""Overall inputs of the LSSTCam DRP mock (``mock:lsstcam-drp``) besides raw, bias and flat: name -> dimensions."""


@dataclass(frozen=True)
class HubContents:
    """What `populate_hub` wrote: dataset counts per dataset type."""

    raws: int
    biases: int
    flats: int
    refcats: int
    lookup_tables: int


def register_input_dataset_types(butler: Butler) -> None:
    """Register the overall-input dataset types (idempotent)."""
    for name, dimensions in {**DEFAULT_DATASET_TYPES, **LSSTCAM_DATASET_TYPES}.items():
        butler.registry.registerDatasetType(DatasetType(name, dimensions, STORAGE_CLASS, universe=butler.dimensions))


def refcat_pixels(survey: Survey) -> list[int]:
    """Return the htm7 pixel ids covering all the survey's detector regions (sorted)."""
    pixelization = HtmPixelization(REFCAT_LEVEL)
    pixels: set[int] = set()
    for region in survey.detector_regions.values():
        for begin, end in pixelization.envelope(region):
            pixels.update(range(begin, end))
    return sorted(pixels)


def write_defaults(butler: Butler, survey: Survey) -> HubContents:
    """Write bias, flat, refcat and FGCM look-up table datasets and the defaults chain.

    The instrument records must already exist.  Returns the counts written.
    Raises `lsst.daf.butler.registry.ConflictingDefinitionError` if run twice
    on the same repository.
    """
    register_input_dataset_types(butler)
    registry = butler.registry
    for run in DEFAULT_RUNS:
        registry.registerCollection(run, CollectionType.RUN)
    registry.registerCollection(DEFAULTS_CHAIN, CollectionType.CHAINED)
    registry.setCollectionChain(DEFAULTS_CHAIN, list(DEFAULT_RUNS))
    instrument = survey.instrument
    for detector in survey.detectors:
        butler.put(
            {"kind": "bias", "detector": detector, "level": 1000.0},
            "bias",
            instrument=instrument,
            detector=detector,
            run=CALIB_RUN,
        )
        for band in survey.bands:
            butler.put(
                {"kind": "flat", "detector": detector, "band": band, "gain": 1.0},
                "flat",
                instrument=instrument,
                detector=detector,
                physical_filter=survey.physical_filter(band),
                run=CALIB_RUN,
            )
    pixels = refcat_pixels(survey)
    for pixel in pixels:
        butler.put({"kind": "refcat", "htm7": pixel, "stars": []}, "refcat", htm7=pixel, run=REFCAT_RUN)
    butler.put(
        {"kind": "fgcm_lookup_table", "bands": list(survey.bands)},
        "fgcm_lookup_table",
        instrument=instrument,
        run=FGCM_RUN,
    )
    write_lsstcam_defaults(butler, survey, pixels)
    return HubContents(
        raws=0,
        biases=len(survey.detectors),
        flats=len(survey.detectors) * len(survey.bands),
        refcats=len(pixels),
        lookup_tables=1,
    )


def write_lsstcam_defaults(butler: Butler, survey: Survey, refcat_htm7: Iterable[int]) -> int:
    """Write what the LSSTCam DRP mock reads besides raws, bias and flat, into the default runs.

    Calibrations, camera models and sky frames into `CALIB_RUN`; the reference
    catalog ``the_monster_20250219`` (on ``refcat_htm7``) into `REFCAT_RUN`;
    the FGCM look-up table, sky map, bright-object masks, transiNet model,
    orbit catalogue and ephemeris kernels into `FGCM_RUN`. Returns the number
    of datasets written.
    """
    instrument = survey.instrument
    count = 0

    def put(name: str, run: str, **data_id: object) -> None:
        nonlocal count
        butler.put({"kind": name, **{k: v for k, v in data_id.items() if k != "instrument"}}, name, run=run, **data_id)
        count += 1

    put("camera", CALIB_RUN, instrument=instrument)
    for detector in survey.detectors:
        for name in _PER_DETECTOR_CALIBS:
            put(name, CALIB_RUN, instrument=instrument, detector=detector)
    for band in survey.bands:
        physical_filter = survey.physical_filter(band)
        put("astrometry_camera", CALIB_RUN, instrument=instrument, physical_filter=physical_filter)
        for detector in survey.detectors:
            put("sky", CALIB_RUN, instrument=instrument, physical_filter=physical_filter, detector=detector)
    for pixel in refcat_htm7:
        put("the_monster_20250219", REFCAT_RUN, htm7=pixel)
    put("fgcmLookUpTable", FGCM_RUN, instrument=instrument)
    put("skyMap", FGCM_RUN, skymap=survey.skymap.name)
    for tract, geometry in survey.skymap.tracts.items():
        for patch in geometry.patches:
            for band in survey.bands:
                put("brightObjectMask", FGCM_RUN, skymap=survey.skymap.name, tract=tract, patch=patch, band=band)
    for name in ("pretrainedModelPackage", "mpcorb", *EPHEMERIS_DATASET_TYPES):
        put(name, FGCM_RUN)
    return count


def write_raws(butler: Butler, survey: Survey, visits: Iterable[int] | None = None) -> int:
    """Write one small raw file per (exposure, detector) of ``visits`` into `RAW_RUN`.

    The exposure records must already exist.  ``visits=None`` means all.
    Returns the number of raws written.
    """
    register_input_dataset_types(butler)
    butler.registry.registerCollection(RAW_RUN, CollectionType.RUN)
    selected = sorted(survey.visits if visits is None else set(visits))
    count = 0
    for visit in selected:
        exposure = survey.exposure_of(visit)
        for detector in survey.detectors:
            butler.put(
                {
                    "kind": "raw",
                    "exposure": exposure,
                    "detector": detector,
                    "band": survey.visit_band[visit],
                    "pixels": [detector] * 16,
                },
                "raw",
                instrument=survey.instrument,
                exposure=exposure,
                detector=detector,
                run=RAW_RUN,
            )
            count += 1
    return count


def populate_hub(butler: Butler, survey: Survey) -> HubContents:
    """Make ``butler`` the hub: all dimension records, all defaults, all raws.

    Returns the counts written.
    """
    insert_skymap(butler, survey)
    insert_survey_records(butler, survey)
    contents = write_defaults(butler, survey)
    raws = write_raws(butler, survey)
    return HubContents(raws, contents.biases, contents.flats, contents.refcats, contents.lookup_tables)
