"""The demo in a real browser: headless Debian Chromium driven by Playwright.

The real `lscsde-demo` runs as a subprocess with the process runtime, so each server is
a real jupyterhub-singleuser with JupyterLab. Alice and Bob share a workspace: a file Alice
saves through JupyterLab lands in the workspace's volume and Bob sees it in his file browser.
Carol has no workspace and no Start button. Alice's JupyterLab opens in her workspace's folder,
shows the data sources under data/, opens a CSV from one in place and cannot save into it; the
hub's home page says which workspace her server is in and for how many more days. Screenshots
go to test-output/.

Skipped only when /usr/bin/chromium is missing outside CI; in CI a missing browser fails.
Playwright never downloads a browser here: it drives the system Chromium (executable_path), and
each launch gets a fresh temporary --user-data-dir from Playwright.
"""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubesim import LocalCluster
from lscsde_demo.sample import NAMESPACE, OFFERED, PASSWORD, SHARED_WORKSPACE
from lscsde_demo.seed import REPORTS
from tests.support.demorun import DemoRun, free_port, get_json

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "test-output"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Starting JupyterLab in a fresh pod takes seconds; a loaded CI machine may take much longer.
START_MS = 120_000
UI_MS = 30_000
ALICE_TITLES = {"Diabetes outcomes", "Cardiac imaging"}
NOT_FOR_ALICE = ("Genomics (GPU)", "COVID-19 cohort (2023)", "genomics-gpu", "covid-cohort-2023")

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.hub]  # the demo runs a real hub


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    run = DemoRun(tmp_path_factory.mktemp("demo"), free_port(), "process")
    try:
        yield run.start()
    finally:
        run.kill_if_running()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package")
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def log_in(browser: Browser, demo: DemoRun, user: str) -> Page:
    """A new browser context (its own cookies) logged in as `user` through the hub's form."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(UI_MS)
    page.goto(f"{demo.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/hub/(home|spawn|spawn-pending|user)"))
    return page


def open_spawn_page(page: Page, demo: DemoRun) -> None:
    page.goto(f"{demo.url}/hub/spawn")
    expect(page.locator("#spawn_form")).to_be_visible()


def offered(page: Page) -> tuple[set[str], set[str]]:
    """The workspace names (radio values) and display names on the spawn form."""
    radios = page.locator('#spawn_form input[type="radio"][name="profile"]')
    values = {radios.nth(i).get_attribute("value") or "" for i in range(radios.count())}
    titles = set(page.locator("#spawn_form .lscsde-ws-name").all_inner_texts())
    return values, {t.strip() for t in titles}


def test_alice_is_offered_exactly_her_current_workspaces(browser: Browser, demo: DemoRun) -> None:
    page = log_in(browser, demo, "alice")
    open_spawn_page(page, demo)
    values, titles = offered(page)
    assert values == OFFERED["alice"]
    assert titles == ALICE_TITLES
    text = page.locator("#spawn_form").inner_text()
    for absent in NOT_FOR_ALICE:
        assert absent not in text
    expect(page.locator("#spawn_form .lscsde-ws-card--expiring-soon")).to_have_count(1)
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / "demo-alice-spawn-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.context.close()


def test_carol_has_no_workspaces_and_no_start_button(browser: Browser, demo: DemoRun) -> None:
    page = log_in(browser, demo, "carol")
    open_spawn_page(page, demo)
    expect(page.locator("#lscsde-no-workspaces")).to_be_visible()
    expect(page.locator("#lscsde-no-workspaces")).to_contain_text("no workspaces")
    assert offered(page) == (set(), set())
    expect(page.get_by_role("button", name="Start")).to_be_hidden()
    page.context.close()


def test_alice_manages_bob_from_the_workspaces_page(browser: Browser, demo: DemoRun) -> None:
    """alice is the admin of Diabetes outcomes: from /services/workspaces/ she makes bob a
    viewer (he sees it on his own page), then a member again (as the later tests need him)."""
    page = log_in(browser, demo, "alice")
    page.goto(f"{demo.url}/services/workspaces/")  # OAuth with the hub, and back
    mine = page.locator(f'#my-workspaces tr[data-workspace="{SHARED_WORKSPACE}"]')
    expect(mine).to_contain_text("admin")
    mine.get_by_role("link", name="Manage").click()
    bob_row = page.locator('#members tr.lscsde-member[data-username="bob"]')
    expect(bob_row).to_contain_text("Statistician")
    for level in ("viewer", "member"):
        bob_row.locator('select[name="accessLevel"]').select_option(level)
        bob_row.get_by_role("button", name="Save").click()
        expect(page.locator(".flash-ok")).to_have_text("Changed bob.")
        expect(bob_row.locator(".level")).to_have_text(level)
        if level == "viewer":
            bob = log_in(browser, demo, "bob")
            bob.goto(f"{demo.url}/services/workspaces/")
            expect(bob.locator(f'tr[data-workspace="{SHARED_WORKSPACE}"]')).to_contain_text(
                "viewer"
            )
            bob.context.close()
    events = page.locator('#events tr[data-type="MemberChanged"]')
    expect(events.first).to_contain_text("alice changed bob")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "demo-alice-workspaces-page.png"), full_page=True)
    page.context.close()


def start_workspace(page: Page, demo: DemoRun, user: str, workspace: str) -> None:
    """Choose `workspace` on the spawn form, press Start and wait for JupyterLab's shell."""
    open_spawn_page(page, demo)
    radio = page.locator(f'#spawn_form input[name="profile"][value="{workspace}"]')
    # A user clicks the card: its label covers it.
    page.locator(f'label[for="{radio.get_attribute("id")}"]').click()
    expect(radio).to_be_checked()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=START_MS)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=START_MS)


def open_folder(page: Page, demo: DemoRun, user: str, folder: str) -> None:
    page.goto(f"{demo.url}/user/{user}/lab/tree/{folder}")
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=START_MS)
    crumbs = page.locator(".jp-FileBrowser .jp-BreadCrumbs")
    expect(crumbs).to_contain_text(folder)


def menu(page: Page, *path: str) -> None:
    """Click through JupyterLab's menu bar, e.g. File > New > Text File."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{path[0]}$")).click()
    for label in path[1:]:
        item = page.locator(".lm-Menu-content .lm-Menu-itemLabel:visible").filter(
            has_text=re.compile(f"^{re.escape(label)}$")
        )
        item.first.click()


def save_new_text_file(page: Page, name: str, text: str) -> None:
    """File > New > Text File, type `text`, Ctrl+S, and name the file in the save dialog."""
    menu(page, "File", "New", "Text File")
    editor = page.locator(".jp-FileEditor .cm-content").last
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.type(text)
    page.keyboard.press("Control+s")
    # JupyterLab 4 asks for a name when an untitled file is first saved.
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("textbox", name="File name").fill(name)
    dialog.locator(".jp-mod-accept").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".lm-TabBar-tabLabel", has_text=name)).to_be_visible()


def user_pod(demo: DemoRun, user: str) -> dict[str, Any]:
    pods = demo.kube_get(
        f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=component%3Dsingleuser-server"
    )["items"]
    mine = [p for p in pods if p["metadata"]["annotations"].get("hub.jupyter.org/username") == user]
    assert len(mine) == 1, [p["metadata"]["name"] for p in pods]
    pod: dict[str, Any] = mine[0]
    return pod


def volume_dir(demo: DemoRun, claim: str) -> Path:
    """The directory that holds a PVC's files: the process runtime's volume for it."""
    pvc = demo.kube_get(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{claim}")
    assert pvc["status"]["phase"] == "Bound"
    found = list((demo.data_dir / "cluster").glob(f"**/volumes/{pvc['spec']['volumeName']}"))
    assert len(found) == 1, found
    return found[0]


def assert_pod_runs_jupyter_with_its_workspace(demo: DemoRun, user: str, workspace: str) -> None:
    pod = user_pod(demo, user)
    assert pod["status"]["phase"] == "Running"
    assert all(c["ready"] for c in pod["status"]["containerStatuses"])
    claim = f"workspace-{workspace}"
    volumes = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if v.get("persistentVolumeClaim")
    }
    assert claim in volumes.values()
    mounts = {m["mountPath"]: m["name"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert volumes[mounts[f"/home/jovyan/{workspace}"]] == claim
    # The container's output is the real server's: JupyterLab was loaded.
    log = demo.kube_get_text(f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}/log")
    assert "jupyterlab" in log.lower(), log[-2000:]


def listing(page: Page) -> set[str]:
    """The names the file browser lists now."""
    return set(page.locator(".jp-DirListing-item .jp-DirListing-itemText").all_inner_texts())


def open_in_file_browser(page: Page, name: str, then: set[str]) -> None:
    """Double-click the folder `name` in the file browser and wait until it lists `then`."""
    exact = page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))
    page.locator(".jp-DirListing-item", has=exact).dblclick()
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text(name)
    page.wait_for_function(
        "n => document.querySelectorAll('.jp-DirListing-item').length === n", arg=len(then)
    )
    assert listing(page) == then


def test_alice_finds_her_workspace_and_data_and_cannot_write_the_data(
    browser: Browser, demo: DemoRun
) -> None:
    page = log_in(browser, demo, "alice")
    # A named server: her default server is the next test's.
    page.goto(f"{demo.url}/hub/spawn/alice/cardiac")
    radio = page.locator('#spawn_form input[name="profile"][value="cardiac-imaging"]')
    page.locator(f'label[for="{radio.get_attribute("id")}"]').click()
    page.get_by_role("button", name="Start").click()
    # JupyterLab opens in the workspace's folder (the workspace sets no defaultUri).
    page.wait_for_url(re.compile(r"/user/alice/cardiac/lab/tree/cardiac-imaging"), timeout=START_MS)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=START_MS)
    crumbs = page.locator(".jp-FileBrowser .jp-BreadCrumbs")
    expect(crumbs).to_contain_text("cardiac-imaging")

    # One level up, the home directory: the workspace's folder, and the data beside it.
    page.locator(".jp-FileBrowser .jp-BreadCrumbs-home").click()
    expect(page.locator(".jp-DirListing-item", has_text="data")).to_be_visible()
    assert listing(page) == {"cardiac-imaging", "data"}
    open_in_file_browser(page, "data", {"echocardiograms", "hospital-episodes"})
    open_in_file_browser(page, "echocardiograms", {"README.md", "reports.csv"})
    page.screenshot(path=str(SCREENSHOTS / "demo-alice-data-folder.png"))

    # The CSV opens in place: its text, as the data source holds it.
    page.locator(".jp-DirListing-item", has_text="reports.csv").click(button="right")
    page.locator(".lm-Menu-itemLabel:visible", has_text=re.compile("^Open With$")).hover()
    page.locator(".lm-Menu-itemLabel:visible", has_text=re.compile("^Editor$")).click()
    editor = page.locator(".jp-FileEditor .cm-content").last
    expect(editor).to_contain_text("study_id,patient,ejection_fraction,finding")
    expect(page.get_by_text("file is read-only").first).to_be_visible()  # JupyterLab's label

    # Saving into the data source fails: Save is refused, and Save As is refused by the kernel.
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("S9999,P9999,99,edited by alice\n")
    page.keyboard.press("Control+s")
    expect(page.get_by_text(re.compile("reports.csv is read-only")).first).to_be_visible()
    page.keyboard.press("Control+Shift+s")
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible()
    dialog.locator("input").fill("data/echocardiograms/reports-edited.csv")
    dialog.locator(".jp-mod-accept").click()
    error = page.locator(".jp-Dialog", has_text="File Save Error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Read-only file system")
    page.screenshot(path=str(SCREENSHOTS / "demo-alice-data-read-only.png"))
    error.locator(".jp-mod-accept, .jp-mod-reject").first.click()

    # On disk: the data source's files as seeded, nothing added; nothing in the workspace's PVC.
    data = volume_dir(demo, "datasource-echocardiograms")
    assert (data / "reports.csv").read_text() == REPORTS
    assert sorted(p.name for p in data.iterdir()) == ["README.md", "reports.csv"]
    assert list(volume_dir(demo, "workspace-cardiac-imaging").iterdir()) == []
    mounts = {
        m["mountPath"]: m for m in user_pod(demo, "alice")["spec"]["containers"][0]["volumeMounts"]
    }
    assert mounts["/home/jovyan/data/echocardiograms"]["readOnly"] is True

    # The hub's home page: the server, its workspace and the days left (the sample's 5).
    page.goto(f"{demo.url}/hub/home")
    running = page.locator("#lscsde-running")
    expect(running).to_contain_text("Server cardiac in workspace Cardiac imaging")
    expect(running).to_contain_text("(5 days left)")
    page.screenshot(path=str(SCREENSHOTS / "demo-alice-home-page.png"), full_page=True)
    # Stop it from there, as a user would, so the next test starts from a quiet machine.
    page.locator("#stop-cardiac").click()
    expect(page.locator("#start-cardiac")).to_be_visible(timeout=START_MS)
    page.context.close()


def test_a_file_alice_saves_in_the_shared_workspace_reaches_bob(
    browser: Browser, demo: DemoRun
) -> None:
    name = f"hello-{uuid.uuid4().hex[:6]}.txt"
    text = f"Hello Bob, from Alice at {datetime.now(UTC):%H:%M:%S}"

    alice = log_in(browser, demo, "alice")
    start_workspace(alice, demo, "alice", SHARED_WORKSPACE)
    open_folder(alice, demo, "alice", SHARED_WORKSPACE)
    save_new_text_file(alice, name, text)

    assert_pod_runs_jupyter_with_its_workspace(demo, "alice", SHARED_WORKSPACE)
    saved = volume_dir(demo, f"workspace-{SHARED_WORKSPACE}") / name
    assert saved.read_text().strip() == text

    bob = log_in(browser, demo, "bob")
    open_spawn_page(bob, demo)
    assert offered(bob)[0] == OFFERED["bob"]
    start_workspace(bob, demo, "bob", SHARED_WORKSPACE)
    open_folder(bob, demo, "bob", SHARED_WORKSPACE)
    item = bob.locator(".jp-DirListing-item", has_text=name)
    expect(item).to_be_visible()
    item.dblclick()
    expect(bob.locator(".jp-FileEditor .cm-content").last).to_contain_text(text)
    bob.screenshot(path=str(SCREENSHOTS / "demo-bob-jupyterlab.png"))
    assert_pod_runs_jupyter_with_its_workspace(demo, "bob", SHARED_WORKSPACE)
    alice.context.close()
    bob.context.close()

    # Ctrl-C: the hub stops both servers before the cluster goes; the files stay.
    assert demo.stop(signal.SIGINT) == 0, demo.output
    assert "Traceback" not in demo.output
    # The cluster's state, as the next run will find it: no pod left, the claim still there.
    with LocalCluster(data_dir=demo.data_dir / "cluster", kubelet=False) as cluster:
        pods = get_json(f"{cluster.url}/api/v1/namespaces/{NAMESPACE}/pods", cluster.headers)
        claims = get_json(
            f"{cluster.url}/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims", cluster.headers
        )
        pods = pods["items"]
    assert [p["metadata"]["name"] for p in pods] == []
    assert f"workspace-{SHARED_WORKSPACE}" in {c["metadata"]["name"] for c in claims["items"]}
    assert saved.read_text().strip() == text
