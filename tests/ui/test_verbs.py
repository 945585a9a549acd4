"""The UI's buttons per state (``core.actions.verbs_for``, derived from each model's ``TRANSITIONS``) match
what the models' verbs accept.

This test tries every registered operator verb from every state (each in a rolled-back savepoint) and fails
when the derived buttons offer a verb the model refuses, or hide one it accepts.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from campaigns.choices import Status
from core.actions import allowed_verbs, registered
from core.lifecycle import IllegalTransition
from core.views import verbs_for
from sites.choices import SiteStatus
from tests.factories import CampaignFactory, GroupFactory, MovementFactory, SiteFactory, StepFactory
from transfers.choices import MovementStatus

pytestmark = pytest.mark.django_db

KINDS = {
    "campaigns.campaign": (CampaignFactory, Status),
    "campaigns.step": (StepFactory, Status),
    "campaigns.group": (GroupFactory, Status),
    "transfers.movement": (MovementFactory, MovementStatus),
    "sites.site": (SiteFactory, SiteStatus),
}


class _Rollback(Exception):
    pass


def accepted_verbs(obj) -> set[str]:
    accepted = set()
    for verb in allowed_verbs(obj):
        try:
            with transaction.atomic():
                getattr(obj, verb)(comment="probe")
                accepted.add(verb)
                raise _Rollback
        except (IllegalTransition, _Rollback):
            pass
        obj.refresh_from_db()
    return accepted


@pytest.mark.parametrize("label", sorted(KINDS))
def test_the_buttons_offered_per_state_are_the_verbs_the_model_accepts(label):
    assert set(KINDS) == set(registered())
    factory, vocabulary = KINDS[label]
    wrong, legal_moves = {}, 0
    for status in vocabulary.values:
        obj = factory(status=status)
        offered, accepted = set(verbs_for(obj)), accepted_verbs(obj)
        legal_moves += len(accepted)
        if offered != accepted:
            wrong[status] = {"offered": sorted(offered), "accepted": sorted(accepted)}
    assert not wrong, wrong
    assert legal_moves  # the probe itself works
