"""The workspaces service's page in a real browser: headless Debian Chromium driven by
Playwright, against a real hub with the service (tests/support/workspaces.py's sample).

alice, admin of ws1, logs in through the hub and OAuth, adds a member (whose comment is
markup: shown as text, never run), changes and removes them, stops bob's server, and filters
the event log; bob, a member, sees no management; carol gets a 404. The page has no script at
all, so nothing here needs JavaScript. A screenshot goes to test-output/.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.factories import day
from tests.support.workspaces import ServiceHub, module_api, service

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-output"
UI_MS = 20_000

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.async_api import Browser, Locator, Page, async_playwright, expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.hub, pytest.mark.asyncio(loop_scope="module")]
__all__ = ["module_api", "service"]  # the fixtures


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once per module)
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package")
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )  # fmt: skip
        try:
            yield launched
        finally:
            await launched.close()


async def log_in(browser: Browser, service: ServiceHub, user: str) -> tuple[Page, list[str]]:
    """A fresh context logged in as ``user``; the list collects any dialog (an alert() that
    ran would land there)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(UI_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.goto(service.hub.url("hub/login"))
    await page.fill("#username_input", user)
    await page.fill("#password_input", user)  # MockHub's authenticator: the name is the password
    await page.click("#login_submit")
    await page.wait_for_url(re.compile(r"/hub/"))
    return page, dialogs


def row(page: Page, username: str) -> Locator:
    return page.locator(f'#members tr.lscsde-member[data-username="{username}"]')


async def test_an_admin_manages_the_workspace_from_the_page(
    browser: Browser, service: ServiceHub
) -> None:
    await service.token("bob")
    assert await service.hub.start_server("bob", {"profile": "ws1"}) in (201, 202)
    await service.hub.wait_ready("bob")

    page, dialogs = await log_in(browser, service, "alice")
    await page.goto(service.url(""))  # OAuth with the hub, and back
    await expect(page.locator("h1")).to_have_text("My workspaces")
    ws1 = page.locator('#my-workspaces tr[data-workspace="ws1"]')
    await expect(ws1).to_contain_text("admin")
    await expect(ws1.locator(".description")).to_have_text("<script>alert('ws1')</script>")
    await ws1.get_by_role("link", name="Manage").click()
    await expect(page.locator("#members")).to_be_visible()
    await expect(row(page, "bob")).to_contain_text("statistician")

    # Add a member whose comment is markup.
    form = page.locator("#add-member")
    await form.locator('input[name="username"]').fill("newbie")
    await form.locator('input[name="expires"]').fill(day(14))
    await form.locator('select[name="accessLevel"]').select_option("viewer")
    await form.locator('input[name="comments"]').fill("<img src=x onerror=alert(1)>")
    await form.get_by_role("button", name="Add").click()
    await expect(page.locator(".flash-ok")).to_have_text(f"Added newbie as viewer until {day(14)}.")
    newbie = row(page, "newbie")
    await expect(newbie.locator(".member-comments")).to_have_text("<img src=x onerror=alert(1)>")
    await expect(newbie.locator("img")).to_have_count(0)

    # A refused change is said, and changes nothing. (The date field's own min and max would
    # stop the browser sending it: the server must refuse it too.)
    await newbie.locator("form.change-member").evaluate("f => f.noValidate = true")
    await newbie.locator('input[name="expires"]').fill(day(500))
    await newbie.get_by_role("button", name="Save").click()
    await expect(page.locator(".flash-error")).to_contain_text("may not outlast its workspace")
    newbie = row(page, "newbie")
    await newbie.locator('select[name="accessLevel"]').select_option("member")
    await newbie.get_by_role("button", name="Save").click()
    await expect(page.locator(".flash-ok")).to_have_text("Changed newbie.")
    await expect(row(page, "newbie").locator(".level")).to_have_text("member")

    # bob's server: listed, stopped.
    session = page.locator('#sessions tr.lscsde-session[data-username="bob"]')
    await expect(session).to_be_visible()
    await session.get_by_role("button", name="Stop").click()
    await expect(page.locator(".flash-ok")).to_have_text("Stopping server (default) of bob.")

    await row(page, "newbie").get_by_role("button", name="Remove").click()
    await expect(page.locator(".flash-ok")).to_contain_text("Removed newbie")
    await expect(row(page, "newbie")).to_have_count(0)

    # The event log, filtered to membership changes of newbie.
    filters = page.locator("#event-filters")
    await filters.locator('select[name="type"]').select_option("member")
    await filters.locator('input[name="user"]').fill("newbie")
    await filters.get_by_role("button", name="Filter").click()
    kinds = await page.locator("#events tr.lscsde-event").evaluate_all(
        "rows => rows.map(r => r.dataset.type)"
    )
    assert kinds == ["MemberRemoved", "MemberChanged", "MemberAdded"]
    await page.goto(service.url("w/ws1?type=server&user=bob"))
    await expect(page.locator('#events tr[data-type="SessionStopped"]')).to_have_count(1)

    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / "workspaces-page.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert dialogs == []

    # A form posted with a forged token changes nothing.
    forged = await page.request.post(
        service.url("w/ws1/members"),
        form={"_xsrf": "forged", "username": "mallory", "expires": day(3)},
        max_redirects=0,
    )
    assert forged.status == 403
    members = (await service.call("GET", "workspaces/ws1/members", "alice"))[1]["members"]
    assert "mallory" not in {m["username"] for m in members}
    await page.context.close()


async def test_a_member_sees_no_management_and_a_stranger_nothing(
    browser: Browser, service: ServiceHub
) -> None:
    page, _ = await log_in(browser, service, "bob")
    await page.goto(service.url("w/ws1"))
    await expect(page.locator("#my-access")).to_contain_text("Your access: member")
    await expect(page.locator("#members")).to_have_count(0)
    await page.context.close()

    page, _ = await log_in(browser, service, "carol")
    await page.goto(service.url(""))
    await expect(page.locator("#my-workspaces")).to_contain_text("You have no workspace today.")
    answer = await page.goto(service.url("w/ws1"))
    assert answer is not None and answer.status == 404
    await expect(page.locator(".lscsde-error")).to_contain_text("workspace 'ws1' not found")
    await page.context.close()
