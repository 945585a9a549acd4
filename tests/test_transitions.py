"""The transition tables are the one source of every state set: derived sets, buttons, docs and guards."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from campaigns import services, summaries
from campaigns.models import ACTIVE_STATES, ATTENTION_STATES, Campaign, Group, Job, Step
from core import actions, queue
from core.api.base import with_actions
from core.diagrams import lifecycles_markdown, stateful_models
from core.lifecycle import bulk_transition
from core.views import verbs_for
from sites.models import ButlerRepo, Site
from tests.factories import CampaignFactory, GroupFactory, MovementFactory, SiteFactory, StepFactory
from transfers.models import Movement

# What the UI offered per state before the buttons were derived from TRANSITIONS (behaviour unchanged).
BUTTONS = {
    Campaign: {
        "waiting": ("start", "reject"), "running": ("pause", "reject"), "paused": ("resume", "reject"),
        "reviewable": ("reopen", "reject"), "failed": ("reopen", "reject"),
    },
    Step: {
        "waiting": ("pause", "reject"), "ready": ("pause", "reject"), "running": ("pause", "reject"),
        "paused": ("resume", "reject"), "reviewable": ("reopen", "force_accept", "reject"),
        "failed": ("reopen", "force_accept", "reject"),
    },
    Group: {
        "waiting": ("pause", "reject"), "ready": ("pause", "reject"), "paused": ("resume", "reject"),
        "prepared": ("reject",), "running": ("reject",),
        "failed": ("retry", "rescue", "force_accept", "reject"),
        "reviewable": ("retry", "rescue", "force_accept", "reject"),
        "blocked": ("retry", "force_accept", "reject"), "rescuable": ("reject",),
    },
    Movement: {
        "planned": ("cancel",), "ready": ("cancel",), "stuck": ("retry", "cancel"), "failed": ("retry", "cancel"),
    },
    Site: {"online": ("drain", "take_offline"), "draining": ("take_offline", "bring_online"),
           "offline": ("bring_online",)},
}
FACTORIES = {Campaign: CampaignFactory, Step: StepFactory, Group: GroupFactory, Movement: MovementFactory,
             Site: SiteFactory}


def test_it_generates_the_docs_lifecycles_from_the_transition_tables():
    path = Path(settings.BASE_DIR) / "docs" / "lifecycles.md"
    assert path.read_text() == lifecycles_markdown(), "run: manage.py lifecycles --write"


def test_it_names_only_states_of_each_models_status_field():
    assert {model.__name__ for model in stateful_models()} == {
        "Campaign", "Step", "Group", "Job", "Movement", "Site", "ButlerRepo", "Notification"}
    for model in stateful_models():
        states = {value for value, _ in model._meta.get_field("status").choices}
        for verb, (sources, target) in model.TRANSITIONS.items():
            assert set(sources) <= states and target in states, (model.__name__, verb)
            assert callable(getattr(model, verb)), f"{model.__name__}.{verb} has no verb method"


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(BUTTONS), ids=lambda model: model.__name__)
def test_it_offers_the_same_buttons_per_state_as_before(model):
    choices = [value for value, _ in model._meta.get_field("status").choices]
    offered = {status: verbs_for(FACTORIES[model](status=status)) for status in choices}
    assert {status: verbs for status, verbs in offered.items() if verbs} == BUTTONS[model]


def test_it_derives_the_state_sets_from_the_tables():
    assert services.LIVE_ATTEMPT_STATES == {"prepared", "running", "blocked"}
    assert services.ABANDONING_GROUP_VERBS & set(actions.allowed_verbs(Group)) == {"retry", "force_accept", "reject"}
    assert services.PENDING_FOR_REASSIGN == {"waiting", "ready", "paused", "failed", "rescuable", "blocked"}
    assert Group.sources_of("reject") == {"waiting", "ready", "prepared", "running", "failed", "reviewable",
                                          "blocked", "rescuable", "paused"}  # every unfinished group
    assert summaries.GROUP_FAILED == {"failed", "reviewable"}
    assert summaries.MOVEMENT_FAILED == {"failed", "stuck"}
    assert summaries.ACTIVE_CAMPAIGN == {"waiting", "running", "paused", "reviewable"}
    assert summaries.PENDING_GROUP == {"waiting", "ready"}
    assert Movement.sources_of("start_transferring", "finish") == {"registering", "ingesting"}  # leased states
    assert Job.sources_of("reject") >= services.LIVE_ATTEMPT_STATES
    assert ButlerRepo.target_of("mark_ready") == "ready"
    assert ACTIVE_STATES == {"prepared", "running", "blocked"}  # what Status.active() wrote out before
    assert ATTENTION_STATES == {"failed", "reviewable", "blocked", "rescuable"}  # Status.needs_attention()
    assert Campaign.final_states() == {"accepted", "rejected"}
    assert Movement.final_states() == {"done", "cancelled"}  # MovementStatus.terminal()


def test_notifications_and_the_timeline_take_their_states_from_the_tables():
    from notifications.services import _topic_of

    assert [_topic_of("group", state) for state in ("failed", "reviewable", "blocked")] == [
        "group_failed", "group_failed", None]
    assert [_topic_of("movement", state) for state in ("stuck", "failed", "cancelled")] == [
        "movement_stuck", "movement_stuck", None]
    assert {state for state in Campaign.TRANSITIONS["reject"][0] | {"accepted", "rejected"}
            if _topic_of("campaign", state)} == {"accepted", "failed", "rejected"}
    assert Group.sources_of("retry") == {"failed", "reviewable", "blocked"}  # the timeline's failed bar
    assert Movement.sources_of("mark_stuck") == {"registering", "transferring", "ingesting"}  # leases to take


def test_the_matrix_colours_a_cell_by_the_worst_state_as_before():
    assert summaries.SEVERITY == ("failed", "reviewable", "blocked", "rescuable", "running", "prepared")


def test_the_polled_jobs_partial_indexes_hold_exactly_the_states_the_poll_filters_on():
    assert Job.POLLED_STATES == ["running", "blocked"]  # declaration order: the index SQL and migrations stay put
    conditions = {index.name: index.condition for index in Job._meta.indexes if index.condition is not None}
    assert set(conditions) == {"campaigns_job_polled_idx", "campaigns_job_request_idx", "campaigns_job_settling_idx"}
    for condition in conditions.values():
        assert ("status__in", Job.POLLED_STATES) in condition.children


@pytest.mark.django_db
def test_it_refuses_a_bulk_move_from_states_the_verb_does_not_leave():
    group = GroupFactory(status="accepted")
    with pytest.raises(ValueError, match="Group.retry does not leave accepted"):
        bulk_transition(Group.objects.filter(pk=group.pk), "retry", sources={"failed", "accepted"})
    group.refresh_from_db()
    assert group.status == "accepted"


def test_it_refuses_to_register_an_operator_verb_without_a_transition():
    with pytest.raises(ValueError, match="Site has no transition explode"):
        actions.register(Site, ("drain", "explode"), role=lambda user: True)
    assert actions.allowed_verbs(Site) == ("drain", "take_offline", "bring_online")  # left as registered


def test_it_refuses_api_actions_for_a_model_without_registered_verbs():
    with pytest.raises(ValueError, match="campaigns.job has no registered operator actions"):
        with_actions(Job)


def test_it_refuses_to_enqueue_a_task_name_nobody_registered():
    with pytest.raises(KeyError):
        queue.send("campaigns.tasks.no_such_task", 1)


def test_final_states_and_targets_come_from_the_transition_tables():
    assert Group.final_states() == {"accepted", "rejected"}
    assert Job.final_states() == {"accepted", "rescued", "rejected"}
    assert Step.final_states() == {"rejected"}  # an accepted step can be remade after a reassignment
    assert Step.targets_of("pause", "reject") == {"paused", "rejected"}
    with pytest.raises(KeyError):
        Step.targets_of("no_such_verb")
