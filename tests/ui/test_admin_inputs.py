"""What staff type in the admin: a clear error on the field, never a 500, and the table's rights on inlines."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import modelform_factory
from django.test import RequestFactory

from campaigns.models import StallThreshold, Step
from notifications.models import Channel
from sites.admin import PandaQueueInline
from sites.models import PandaQueue, Site


@pytest.mark.parametrize("path", ["/admin/campaigns/group/?campaign=99999999999999999999999",
                                  "/admin/campaigns/group/?site=-99999999999999999999",
                                  "/admin/core/event/?campaign__id__in=1,99999999999999999999"])
def test_an_id_past_64_bits_in_an_admin_filter_is_an_invalid_lookup_not_a_500(staff_client, path):
    response = staff_client.get(path)
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_an_ordinary_admin_filter_still_works(staff_client):
    assert staff_client.get("/admin/campaigns/group/?campaign=1").status_code == 200


@pytest.mark.parametrize("topics", [[["group_failed"]], "campaign_finished", {"group_failed": True}, [1]])
def test_channel_topics_must_be_a_list_of_topic_names(topics):
    channel = Channel(name="c", kind="webhook", target="https://chat.example.org/hook", topics=topics)
    with pytest.raises(ValidationError) as caught:
        channel.clean()
    assert caught.value.message_dict["topics"][0].startswith("must be a list of topics")


@pytest.mark.django_db
def test_a_stall_threshold_beyond_a_year_is_refused_at_its_field():
    form = modelform_factory(StallThreshold, fields=["kind", "status", "after"])(
        {"kind": "group", "status": "running", "after": "999999999 00:00:00"})
    assert not form.is_valid()
    assert form.errors["after"] == ["must be at most 365 days"]


@pytest.mark.django_db
@pytest.mark.parametrize(("memory", "error"), [
    ("2000000", "Ensure this value is less than or equal to 1048576."),
    ("0", "Ensure this value is greater than or equal to 1."),
])
def test_a_steps_memory_keeps_the_specs_bounds_when_edited(memory, error):
    form = modelform_factory(Step, fields=["memory_mb"])({"memory_mb": memory})
    assert not form.is_valid()
    assert form.errors["memory_mb"] == [error]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["a\nb", "x'; DROP TABLE q", "with space", "_lead"])
def test_a_panda_queue_name_is_one_word(name):
    site = Site.objects.create(code="Q1", name="q", facility="USDF", compute_site="Q1", compute_cloud="US",
                               queue_prefix="Q1")
    with pytest.raises(ValidationError) as caught:
        PandaQueue(site=site, name=name).full_clean()
    assert "name" in caught.value.message_dict


@pytest.mark.django_db
def test_a_second_hub_gets_a_message_that_says_so():
    from sites.services import load_sites

    load_sites()
    other = Site.objects.exclude(is_hub=True).first()
    other.is_hub = True
    with pytest.raises(ValidationError) as caught:
        other.validate_constraints()
    assert "Another site is the hub already" in str(caught.value)


def test_site_admins_see_and_manage_a_sites_queues_inline(site_admin, operator):
    inline = PandaQueueInline(Site, admin.site)
    request = RequestFactory().get("/admin/sites/site/1/change/")
    request.user = site_admin
    assert inline.has_view_permission(request) and inline.has_add_permission(request, None)
    assert inline.has_change_permission(request) and inline.has_delete_permission(request)
    request.user = operator
    assert not inline.has_add_permission(request, None)
