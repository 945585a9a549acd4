"""A site's PanDA queues: names and memory tiers (Rubin's ``{prefix}_Rubin_{N}G`` convention).

One place for what a site's queues are called (``load_sites`` creates them as ``PandaQueue`` rows) and which
one a job needing some memory goes to (a submission's ``queue``, the BPS YAML's ``queue`` and
``finalJob.queue``).
"""

from __future__ import annotations

from .choices import QueueKind

__all__ = ["MEMORY_TIERS_GB", "memory_tier", "merge_queue", "queue_definitions", "queue_for"]

#: PanDA memory tiers (GB) of the ``{prefix}_Rubin_{N}G`` queues.
MEMORY_TIERS_GB = (4, 8, 12, 16, 20, 24, 28, 32)


def memory_tier(memory_mb: int) -> int | None:
    """Return the smallest memory tier in GB that holds ``memory_mb`` (5000 -> 8), None above 32 GB.

    Raises:
        ValueError: ``memory_mb`` is not positive.
    """
    if memory_mb <= 0:
        raise ValueError(f"memory_mb must be > 0, got {memory_mb}")
    for tier in MEMORY_TIERS_GB:
        if memory_mb <= tier * 1024:
            return tier
    return None


def queue_for(prefix: str, memory_mb: int) -> str:
    """Return the queue of the site with queue prefix ``prefix`` for jobs needing ``memory_mb`` (MB).

    ``{prefix}_Rubin_{N}G`` for the smallest tier that fits, else ``{prefix}_Rubin_Extra_Himem``; "" when
    no memory is requested (``memory_mb`` <= 0).
    """
    if memory_mb <= 0:
        return ""
    tier = memory_tier(memory_mb)
    return f"{prefix}_Rubin_Extra_Himem" if tier is None else f"{prefix}_Rubin_{tier}G"


def merge_queue(prefix: str) -> str:
    """Return the queue of a site's merge (BPS final) jobs: ``{prefix}_Rubin_Merge``."""
    return f"{prefix}_Rubin_Merge"


def queue_definitions(prefix: str) -> list[tuple[str, int | None, str]]:
    """Return (name, memory in GB or None, kind) of every PanDA queue of a site with this prefix."""
    queues: list[tuple[str, int | None, str]] = [
        (f"{prefix}_Rubin_{gb}G", gb, QueueKind.STANDARD) for gb in MEMORY_TIERS_GB]
    queues += [
        (merge_queue(prefix), None, QueueKind.MERGE),
        (f"{prefix}_Rubin_Extra_Himem", None, QueueKind.HIMEM),
        (f"{prefix}_Rubin_Multi", None, QueueKind.MULTICORE),
    ]
    return queues
