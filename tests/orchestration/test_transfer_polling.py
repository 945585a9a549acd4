"""Transferring movements are polled in batches: one backend call per campaign, not one task per movement."""

from __future__ import annotations

from campaigns.orchestration import reconcile
from transfers.backends import TransferProgress
from transfers.backends import base as transfer_backends
from transfers.backends.noop import NoopTransferBackend
from transfers.models import Movement
from transfers.orchestration import poll_transferring
from transfers.services import advance_movement

from .test_reconciler import campaign, noop  # noqa: F401  (fixtures)


class SlowRucio(NoopTransferBackend):
    """Rules take a while: transferring until ``arrived`` is set; counts its poll calls."""

    name = "slow"
    arrived = False
    polls: list[int] = []

    def poll(self, requests):
        SlowRucio.polls.append(len(requests))
        state = "arrived" if SlowRucio.arrived else "transferring"
        return {request.key: TransferProgress(state=state, transferred=request.expected_count or 0)
                for request, _ in requests}


def test_transferring_movements_are_polled_in_one_call(campaign, noop,  # noqa: F811
                                                      django_capture_on_commit_callbacks):
    transfer_backends.register("slow", f"{__name__}.SlowRucio")
    noop.MSPROC_TRANSFER_BACKEND = "slow"
    SlowRucio.arrived, SlowRucio.polls = False, []
    setup = list(Movement.objects.filter(campaign=campaign, kind="setup"))
    for movement in setup:
        movement.make_ready()
        assert advance_movement(movement.pk) == "transferring"
    SlowRucio.polls = []
    assert poll_transferring() == []
    assert SlowRucio.polls == [len(setup)], "one call for all of them"
    SlowRucio.arrived = True
    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile()
    assert sorted(report.requeued_movements) == sorted(m.pk for m in setup)
    assert set(Movement.objects.filter(pk__in=[m.pk for m in setup]).values_list("status", flat=True)) == {"done"}


# Pinned: read the movements, mark them polled (so the next batch takes others first), their sources, dataset
# types and archived movements (prefetch), the repository roots and the campaigns' plan keys: the same for
# 1 movement as for all of them.
POLL_QUERIES = 7


def test_polling_transferring_movements_costs_the_same_queries_for_one_or_many(
        campaign, noop, django_assert_num_queries):  # noqa: F811
    transfer_backends.register("slow", f"{__name__}.SlowRucio")
    noop.MSPROC_TRANSFER_BACKEND = "slow"
    SlowRucio.arrived = False
    setup = list(Movement.objects.filter(campaign=campaign, kind="setup"))
    assert len(setup) > 1
    setup[0].make_ready()
    advance_movement(setup[0].pk)
    with django_assert_num_queries(POLL_QUERIES):
        poll_transferring()

    for movement in setup[1:]:
        movement.make_ready()
        advance_movement(movement.pk)
    SlowRucio.polls = []
    with django_assert_num_queries(POLL_QUERIES):
        poll_transferring()
    assert SlowRucio.polls == [len(setup)]
