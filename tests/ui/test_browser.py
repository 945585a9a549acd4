"""Headless Chromium drives the UI against the live server: build, start, watch, retry, reassign.

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and the ``playwright`` Python package; Playwright's own
browser download is not used. The orchestrator is driven from the test by calling ``reconcile()`` with the
no-op backends; the page under test only polls. Screenshots of each stage go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import Group as Role
from django.urls import reverse

from campaigns.models import Campaign, Group
from campaigns.orchestration import reconcile
from campaigns.services import load_templates
from core.roles import OPERATOR, SITE_ADMIN, STAFF
from sites.models import Site
from sites.services import load_sites

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("MSPROC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "pw-for-browser-tests"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module", autouse=True)
def _allow_orm_beside_playwright():
    """Playwright's sync API runs an event loop in this thread; the test's own ORM calls (reconcile, checks)
    must still be allowed here, for this module only. The live server handles requests in its own threads."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need the playwright package: .venv/bin/pip install -r requirements.txt")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def noop(settings):
    """No-op backends: jobs finish on the next poll, movements at once; Celery tasks run in the caller."""
    from msproc.celery import app

    settings.MSPROC_EXECUTION_BACKEND = "noop"
    settings.MSPROC_TRANSFER_BACKEND = "noop"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield settings
    app.conf.task_always_eager = False


@pytest.fixture
def pilot(django_user_model):
    """A campaign pilot: operator and site admin, and staff, since saving the campaign the pilot builds is
    staff's (core.permissions)."""
    user = django_user_model.objects.create_user("pilot", "pilot@example.org", PASSWORD)
    for role in (OPERATOR, SITE_ADMIN, STAFF):
        user.groups.add(Role.objects.get_or_create(name=role)[0])
    return user


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def confirm(page, comment: str) -> None:
    """Fill the comment of an action's confirmation page and submit it."""
    page.fill("textarea[name=comment]", comment)
    page.click("form.stacked button[type=submit]")
    page.wait_for_load_state()


def tick(times: int = 1) -> None:
    for _ in range(times):
        reconcile()


def test_a_pilot_builds_starts_watches_retries_and_reassigns(page, live_server, noop, pilot):
    load_sites()
    template = next(t for t in load_templates() if t.name == "2x4")

    # Log in (the home page sends an anonymous user to the login form).
    page.goto("/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "pilot")
    page.fill("#id_password", PASSWORD)
    page.click("form.stacked button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator(".whoami span").inner_text() == "pilot"
    shot(page, "01-home")

    # Build a campaign from the 2x4 template: preview the plan, then save.
    page.click("nav >> text=New campaign")
    page.select_option("#id_template", str(template.pk))
    page.fill("#id_name", "browser-2x4")
    page.click("button[value=preview]")
    preview = page.locator("section.preview")
    assert "Plan of browser-2x4" in preview.locator("h2").inner_text()  # the name typed, as saving will use
    assert preview.locator("article.site-plan").count() == 4
    assert "SLAC (hub)" in preview.inner_text() and "Receives" in preview.inner_text()
    shot(page, "02-builder-preview")
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    campaign = Campaign.objects.get(name="browser-2x4")
    assert campaign.template == template
    shot(page, "03-campaign-saved")

    # One group of step1 at the hub fails on its first attempt and no ErrorRule matches: it waits for us.
    failing = Group.objects.filter(campaign=campaign, step__name="step1", site__code="SLAC").order_by("ordinal")[0]
    noop.MSPROC_NOOP_FAIL = rf"-step1-g{failing.ordinal}-a1$"

    # Start it through the confirmation page.
    page.get_by_role("link", name="start", exact=True).click()
    confirm(page, "browser test: go")
    page.wait_for_url(re.compile(rf"/campaigns/{campaign.pk}/$"))
    campaign.refresh_from_db()
    assert campaign.status == "running"
    assert "Running" in page.locator("#campaign-live p").first.inner_text()

    # A matrix cell changes state without a reload: the live partial polls while the orchestrator ticks.
    cell = page.locator("#campaign-live table.matrix tbody tr").first.locator("td.cell").first
    before = (cell.inner_text(), cell.get_attribute("class"))
    page.evaluate("window.__marker = 'still here'")
    shot(page, "04-campaign-started")
    tick(3)
    page.wait_for_function(
        """([text, cls]) => {
            const cell = document.querySelector('#campaign-live table.matrix tbody tr td.cell');
            return cell && (cell.innerText !== text || cell.className !== cls);
        }""",
        arg=list(before), timeout=TIMEOUT_MS,
    )
    after = (cell.inner_text(), cell.get_attribute("class"))
    assert after != before
    assert page.evaluate("window.__marker") == "still here"  # no reload: the same document
    shot(page, "05-cell-changed-live")

    # The failed group: find it from the failed groups of the campaign, open it, retry it.
    tick(3)
    failing.refresh_from_db()
    assert failing.status == "failed", failing.status
    page.wait_for_selector("#campaign-live td.cell-danger")
    page.goto(reverse("campaigns:group-list") + f"?campaign={campaign.pk}&status=failed")
    page.click(f"a[href='{reverse('campaigns:group', args=[failing.pk])}']")
    page.wait_for_url(re.compile(rf"/groups/{failing.pk}/$"))
    assert "noop: injected failure" in page.inner_text("main")
    shot(page, "06-failed-group")
    page.get_by_role("link", name="retry", exact=True).click()
    shot(page, "07-retry-confirm")
    confirm(page, "browser test: injected failure, try again")
    page.wait_for_url(re.compile(rf"/groups/{failing.pk}/$"))
    assert "it is now ready" in page.inner_text(".messages")
    failing.refresh_from_db()
    assert (failing.status, failing.attempts) == ("ready", 1)
    shot(page, "08-group-retried")

    # LANCS goes offline; its pending groups move to RAL through the reassign form.
    pending = Group.objects.filter(campaign=campaign, site__code="LANCS", status="waiting").count()
    assert pending > 0
    page.goto(reverse("sites:site", args=["LANCS"]))
    page.get_by_role("link", name="take offline", exact=True).click()
    confirm(page, "browser test: LANCS down")
    page.wait_for_url(re.compile(r"/sites/LANCS/$"))
    assert Site.objects.get(code="LANCS").status == "offline"
    page.get_by_role("link", name="reassign pending groups").click()
    assert page.locator(f"input[name=campaigns][value='{campaign.pk}']").is_checked()
    page.select_option("#id_to_site", "RAL")
    shot(page, "09-reassign-form")
    page.fill("textarea[name=comment]", "browser test: LANCS down for a week")
    page.get_by_role("button", name="Preview", exact=True).click()  # what it would do, changing nothing
    page.wait_for_load_state()
    assert page.locator("section.reassign-preview").is_visible()
    assert Group.objects.filter(campaign=campaign, site__code="LANCS", status="waiting").count() == pending
    shot(page, "09b-reassign-preview")
    page.fill("textarea[name=comment]", "browser test: LANCS down for a week")
    page.get_by_role("button", name="Reassign", exact=True).click()
    page.wait_for_url(re.compile(r"/sites/LANCS/$"))
    assert "moved LANCS → RAL" in page.inner_text(".messages")
    shot(page, "10-reassigned")
    assert not Group.objects.filter(campaign=campaign, site__code="LANCS", status="waiting").exists()
    assert Group.objects.filter(campaign=campaign, site__code="RAL").count() >= pending

    # The campaign page shows LANCS as offline in the matrix and RAL with the moved groups.
    page.goto(reverse("campaigns:campaign", args=[campaign.pk]))
    assert "Offline" in page.locator("table.matrix thead").inner_text()
    shot(page, "11-campaign-after-reassign")
