"""Issue 17 in real Chromium: durations and sorting, ETA, timeline and graph of a 2x2 campaign, the site × site
volume matrix after a local run, a notification at a local webhook receiver, Swagger UI with no network, and
every page at 390 px without sideways scrolling. Screenshots go to ``artifacts/screenshots/issue17-*.png``.

The orchestrator is driven by calling ``reconcile()`` (no-op backends, Celery eager) except in the volume test,
which runs the 2x2 campaign on the embedded sites' real Butler repositories (marked slow).
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.urls import reverse

from campaigns.models import Campaign, Group
from campaigns.orchestration import reconcile
from campaigns.services import create_campaign_from_spec, load_templates
from core.models import Event
from notifications.models import Channel
from notifications.services import dispatch
from sites.services import load_sites
from tests.orchestration.test_reconciler import TEMPLATES
from tests.test_notifications import Receiver
from transfers.models import Movement

from .test_browser import (  # noqa: F401  (fixtures)
    PASSWORD,
    SCREENSHOTS,
    TIMEOUT_MS,
    _allow_orm_beside_playwright,
    browser,
    noop,
    page,
    pilot,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str) -> None:  # noqa: F811
    page.screenshot(path=str(SCREENSHOTS / f"issue17-{name}.png"), full_page=True)


def log_in(page) -> None:  # noqa: F811
    page.goto(reverse("login"))
    page.fill("#id_username", "pilot")
    page.fill("#id_password", PASSWORD)
    page.click("form.stacked button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def tick(times: int = 1) -> None:
    for _ in range(times):
        reconcile()


@pytest.fixture
def two_by_two(noop):  # noqa: F811
    load_sites()
    campaign = create_campaign_from_spec("browser-2x2", (TEMPLATES / "2x2.yaml").read_text())
    campaign.start()
    return campaign


def test_a_pilot_sees_durations_eta_timeline_graph_and_a_notification(page, live_server, noop, pilot, two_by_two):  # noqa: F811
    campaign = two_by_two
    receiver = Receiver()
    try:
        Channel.objects.create(name="pilots-mattermost", kind="mattermost", target=receiver.url,
                               min_interval_seconds=0)
        failing = Group.objects.filter(campaign=campaign, step__name="step1").order_by("site__code", "ordinal")[0]
        noop.MSPROC_NOOP_FAIL = rf"-step1-g{failing.ordinal}-a1$"
        log_in(page)

        # Running: the home page and the campaign page give the ETA, overall and per site.
        tick(3)
        assert Group.objects.filter(campaign=campaign, status="accepted").exists()
        page.goto("/")
        row = page.locator("tr", has=page.locator(f"a:text-is('{campaign.name}')"))
        assert "ETA" in row.inner_text()
        shot(page, "01-home-eta")
        page.goto(reverse("campaigns:campaign", args=[campaign.pk]))
        assert "ETA" in page.locator("#campaign-live .eta-line").inner_text()
        page.click("summary:text('Progress and ETA per site')")
        assert page.locator(".eta-sites tbody tr").count() >= 2
        shot(page, "02-campaign-running-eta")

        # The failed group reaches the pilots' webhook; the message shows in the campaign's event log.
        failing.refresh_from_db()
        assert failing.status == "failed"
        dispatch()
        assert receiver.bodies and f"group #{failing.pk}" in receiver.bodies[0]["text"]
        page.goto(reverse("campaigns:campaign", args=[campaign.pk]))
        events = page.locator("table.events")
        assert "notify" in events.inner_text() and "sent to pilots-mattermost" in events.inner_text()
        shot(page, "03-notification-in-event-log")

        # Retry it and run to the end.
        failing.retry(comment="browser test")
        tick(20)
        campaign.refresh_from_db()
        assert campaign.status == "accepted"
    finally:
        receiver.close()

    # Start, end and durations on the campaign page and the lists; the slowest groups first.
    page.goto(reverse("campaigns:campaign", args=[campaign.pk]))
    facts = page.locator("dl.times").inner_text()
    assert "Started" in facts and "Finished" in facts and "Duration" in facts
    shot(page, "04-campaign-finished-times")
    page.goto(reverse("campaigns:group-list") + f"?campaign={campaign.pk}&sort=-duration")
    durations = page.locator("table tbody tr td:nth-child(11)").all_inner_texts()
    assert len(durations) == Group.objects.filter(campaign=campaign).count() and all(durations)
    slowest = Group.objects.filter(campaign=campaign).order_by("started_at").first()
    assert page.locator("select#id_sort").input_value() == "-duration"
    shot(page, "05-groups-slowest-first")
    page.goto(reverse("transfers:movement-list") + f"?campaign={campaign.pk}&sort=-duration")
    shot(page, "06-movements-slowest-first")
    page.goto(reverse("campaigns:campaign-list") + "?sort=-duration")
    assert campaign.name in page.inner_text("table")
    shot(page, "07-campaigns-by-duration")
    assert slowest is not None

    # The timeline per site and the graph of the 2x2 campaign.
    page.goto(reverse("campaigns:campaign-timeline", args=[campaign.pk]))
    assert page.locator("a.bar-groups").count() >= 4 and page.locator("a.bar-movements").count() >= 3
    shot(page, "08-timeline-2x2")
    page.goto(reverse("campaigns:campaign-graph", args=[campaign.pk]))
    nodes = page.locator("a.graph-node")
    assert nodes.count() == campaign.steps.count() + Movement.objects.filter(campaign=campaign).count()
    assert page.locator("a.graph-node[data-kind=movement] title", has_text="archive").count() == 1
    shot(page, "09-graph-2x2")
    page.locator("a.graph-node[data-kind=step]").first.click()
    page.wait_for_url(re.compile(r"/campaigns/steps/\d+/$"))


def test_swagger_ui_renders_with_no_network(page, live_server, pilot):  # noqa: F811
    log_in(page)
    own = urlparse(live_server.url).netloc
    blocked: list[str] = []

    def only_this_server(route) -> None:
        if urlparse(route.request.url).netloc == own:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(reverse("api-swagger-ui"))
    page.wait_for_selector(".swagger-ui .info .title", timeout=TIMEOUT_MS)
    assert "msproc API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary", timeout=TIMEOUT_MS)
    assert page.locator(".opblock-summary").count() >= 20  # every operation drawn
    assert blocked == []
    shot(page, "10-swagger-offline")
    page.goto("/api/v1/")
    assert "campaigns" in page.inner_text("body")


PHONE_PAGES = ["home", "campaigns:campaign-list", "campaigns:group-list", "transfers:movement-list",
               "transfers:volume", "sites:site-list", "campaigns:errors", "campaigns:event-list"]


def test_every_page_fits_a_390px_phone(browser, live_server, pilot, two_by_two):  # noqa: F811
    tick(4)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    phone = context.new_page()
    try:
        log_in(phone)
        campaign = two_by_two
        group = Group.objects.filter(campaign=campaign).first()
        urls = [reverse(name) for name in PHONE_PAGES] + [
            reverse("campaigns:campaign", args=[campaign.pk]),
            reverse("campaigns:campaign-timeline", args=[campaign.pk]),
            reverse("campaigns:campaign-graph", args=[campaign.pk]), reverse("campaigns:group", args=[group.pk]),
            reverse("campaigns:step", args=[group.step_id]), reverse("sites:site", args=[campaign.hub.code]),
            reverse("campaigns:builder")]
        for index, url in enumerate(urls):
            phone.goto(url)
            width = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], (url, width)
            menu = phone.locator("header.topbar").bounding_box()
            assert menu["height"] <= 844 / 8, (url, menu)  # the menu takes at most an eighth of the screen
            shot(phone, f"11-phone-{index:02d}-{url.strip('/').replace('/', '-') or 'home'}")
    finally:
        context.close()


@pytest.mark.slow
def test_the_volume_matrix_shows_measured_bytes_after_a_local_run(page, live_server, pilot, tmp_path,  # noqa: F811
                                                                   settings):
    from msproc.celery import app
    from sites.services import setup_local_sites
    from transfers.models import Replica
    from transfers.services import refresh_replicas

    settings.DATA_DIR = tmp_path
    settings.MSPROC_SITES_DIR = tmp_path / "sites"
    settings.MSPROC_TAPE_DIR = tmp_path / "tape"
    settings.MSPROC_EXECUTION_BACKEND = None
    settings.MSPROC_TRANSFER_BACKEND = None
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    try:
        load_sites()
        setup_local_sites()
        load_templates()
        campaign = create_campaign_from_spec("local-2x2", (TEMPLATES / "2x2.yaml").read_text())
        campaign.start()
        import time

        deadline = time.monotonic() + 900
        while Campaign.objects.get(pk=campaign.pk).status == "running" and time.monotonic() < deadline:
            reconcile()
            time.sleep(1)
    finally:
        app.conf.task_always_eager = False
    campaign.refresh_from_db()
    assert campaign.status == "accepted", list(Event.objects.filter(campaign=campaign)[:5].values_list("comment"))
    done = Movement.objects.filter(campaign=campaign)
    assert done.count() and not done.filter(bytes=0).exists(), list(done.filter(bytes=0).values_list("key", "kind"))
    from sites.models import ButlerRepo

    for repo in ButlerRepo.objects.filter(status="ready"):
        refresh_replicas(repo)
    assert Replica.objects.exists() and not Replica.objects.filter(bytes=0, count__gt=0).exists()

    log_in(page)
    page.goto(reverse("transfers:volume") + f"?campaign={campaign.pk}")
    cells = page.locator("table.volume td.cell[data-bytes]")
    assert sum(int(cells.nth(i).get_attribute("data-bytes")) > 0 for i in range(cells.count())) >= 3
    shot(page, "12-volume-after-local-run")
    page.goto(reverse("sites:site", args=[campaign.hub.code]))
    assert page.locator("section.throughput polyline").count() >= 1
    shot(page, "13-site-throughput")


def test_a_pilot_sees_the_liveness_banner_when_the_worker_has_stopped(page, live_server, pilot):  # noqa: F811
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import Heartbeat

    now = timezone.now()
    Heartbeat.objects.create(kind="tick", name="reconcile", last_seen=now)
    Heartbeat.objects.create(kind="beat", name="beat-host", last_seen=now)
    # What a worker leaves behind when it is stopped: its last heartbeat, marked as a clean shutdown.
    worker = Heartbeat.objects.create(kind="worker", name="celery@w1", last_seen=now - timedelta(minutes=5),
                                      stopped=True)
    log_in(page)
    for path in ("/", reverse("campaigns:campaign-list"), reverse("transfers:movement-list")):
        page.goto(path)
        banner = page.locator("#liveness-banner")
        assert banner.is_visible(), path
        assert "no worker has reported" in banner.inner_text()
    shot(page, "liveness-banner")

    # A worker starts again and reports: the banner goes.
    Heartbeat.objects.filter(pk=worker.pk).update(last_seen=timezone.now(), stopped=False)
    page.goto("/")
    assert page.locator("#liveness-banner").count() == 0
