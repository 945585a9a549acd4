"""core's registries: what apps contribute to other apps' pages."""

from __future__ import annotations

import pytest

from core.views import _CONTRIBUTIONS, contribute, contributions
from tests.factories import SiteFactory


def test_it_merges_what_every_provider_contributes_to_a_page():
    def first(value):
        return {"a": value}

    def second(value):
        return {"b": value * 2}

    try:
        contribute("test.page", first)
        contribute("test.page", second)
        contribute("test.page", first)  # registering twice (ready() run again) adds nothing
        assert contributions("test.page", 3) == {"a": 3, "b": 6}
        assert _CONTRIBUTIONS["test.page"] == [first, second]
    finally:
        _CONTRIBUTIONS.pop("test.page", None)
    assert contributions("no.such.page") == {}


@pytest.mark.django_db
def test_the_site_page_gets_the_groups_from_campaigns_and_the_movements_from_transfers():
    site = SiteFactory()
    assert set(contributions("sites.site", site)) == {"running", "running_count", "throughput", "contents", "incoming"}
    assert set(contributions("sites.site_list")) == {"running", "pending"}
    assert set(contributions("sites.rinse")) == {"active_campaigns"}
