"""A failing backend is shown on the overview and on the pages of the sites that use it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sites.services import report_backend_failure
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_the_overview_and_the_sites_using_it_show_a_failing_backend(viewer_client, settings):
    settings.MSPROC_EXECUTION_BACKEND = None
    panda_site = SiteFactory(code="SLAC", execution_backend="panda")
    local_site = SiteFactory(code="RAL", execution_backend="local")
    report_backend_failure("execution", "panda", "poll", "PanDA: [Errno 111] Connection refused")

    home = viewer_client.get(reverse("home")).content.decode()
    at_panda_site = viewer_client.get(reverse("sites:site", args=[panda_site.code])).content.decode()
    at_local_site = viewer_client.get(reverse("sites:site", args=[local_site.code])).content.decode()

    for page in (home, at_panda_site):
        assert 'id="backend-health"' in page and "PanDA: [Errno 111] Connection refused" in page
        assert "<strong>panda</strong> <small>execution, poll</small>" in page
    assert 'id="backend-health"' not in at_local_site
