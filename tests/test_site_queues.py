"""A site's PanDA queues (sites.queues): names, memory tiers, and the queue a submission goes to."""

from __future__ import annotations

import pytest

from sites.queues import MEMORY_TIERS_GB, memory_tier, merge_queue, queue_definitions, queue_for


@pytest.mark.parametrize(
    ("memory_mb", "tier"), [(1, 4), (4096, 4), (4097, 8), (5000, 8), (16384, 16), (32768, 32), (32769, None)]
)
def test_a_job_goes_to_the_smallest_memory_tier_that_holds_it(memory_mb, tier):
    assert memory_tier(memory_mb) == tier


def test_queue_names_follow_rubin_s_convention():
    assert queue_for("CC-IN2P3", 5000) == "CC-IN2P3_Rubin_8G"
    assert queue_for("CC-IN2P3", 40000) == "CC-IN2P3_Rubin_Extra_Himem"
    assert queue_for("CC-IN2P3", 0) == ""  # no memory request: no queue chosen
    assert merge_queue("SLAC") == "SLAC_Rubin_Merge"
    with pytest.raises(ValueError):
        memory_tier(0)


def test_every_queue_a_submission_can_name_is_one_the_site_defines():
    defined = {name for name, _, _ in queue_definitions("RAL")}
    assert {queue_for("RAL", gb * 1024) for gb in MEMORY_TIERS_GB} | {queue_for("RAL", 10**6), merge_queue("RAL")} <= (
        defined)
