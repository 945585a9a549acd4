"""The UI's buttons per state (``core.views.VERBS_BY_STATE``) match what the models' verbs accept.

The models keep the source states of each verb inside its method, so the UI cannot ask them without
trying the move; this test tries every operator verb from every state (each in a rolled-back savepoint)
and fails when the table offers a verb the model refuses, or hides one it accepts.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from campaigns.choices import Status
from core.actions import OPERATOR_VERBS
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
    for verb in OPERATOR_VERBS[obj._meta.label_lower]:
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
    assert set(KINDS) == set(OPERATOR_VERBS)
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
