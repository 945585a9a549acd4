"""ORM-free building blocks on the LSST stack for msproc's embedded default.

Modules (import them directly; this package imports nothing heavy):

* `survey`    -- deterministic synthetic survey/skymap for the mock camera "MockCam",
                 inventory CSV (visit, exposure, band, tract);
* `repo`      -- create/open/remove Butler repos, insert MockCam dimension records;
* `defaults`  -- write the hub's defaults (bias, flat, refcat, FGCM LUT) and raws;
* `pipeline`  -- the mock DRP pipeline (`MOCK_PIPELINE`), per-step dataflow, failure injection;
* `pipetask`  -- run one group of one step with ``pipetask run``; counts from its job summary;
* `transfer`  -- move datasets between repos (transfer_from or zip + ingest_zip), archive zips.

No Django imports here.
"""
