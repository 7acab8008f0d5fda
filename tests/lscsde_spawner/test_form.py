"""The spawn form (templates/form.html), rendered the way KubeSpawner 7.1 renders it.

KubeSpawner's ``_render_options_form`` builds ``Environment(loader=ChoiceLoader([
FileSystemLoader(additional_profile_form_template_paths), PackageLoader("kubespawner",
"templates")]))``: autoescape is off, so the template must escape every value itself. The tests
render through an environment built the same way (with our TEMPLATE_DIR among the additional
paths, after any admin directory), and through KubeSpawner's own method, then parse the HTML with
the standard library's parser into a small tree and check what a browser would see.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader
from jupyterhub.spawner import Spawner
from kubespawner import KubeSpawner

import lscsde_spawner
from lscsde_spawner.templating import FORM_TEMPLATE, TEMPLATE_DIR, form_environment

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2025, 3, 10)
XSS = "<script>alert(1)</script>"


# --- test data: a WorkspaceCard look-alike, so these tests do not depend on profiles.py -------


@dataclass(frozen=True)
class Card:
    slug: str
    display_name: str
    description: str = ""
    days_left: int = 30
    image: str = "ghcr.io/example/notebook:1.0"
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    storage: list[tuple[str, str]] = field(default_factory=list)
    datasources: list[tuple[str, str]] = field(default_factory=list)
    via: str | None = None
    access_level: str = "member"

    @property
    def expires(self) -> date:
        return TODAY + timedelta(days=self.days_left)

    @property
    def expiring_soon(self) -> bool:
        return self.days_left < 7


def profile(card: Card, **extra: Any) -> dict[str, Any]:
    """A profile_list entry shaped like lscsde_spawner.profiles.profile_for's."""
    return {
        "display_name": card.display_name,
        "slug": card.slug,
        "description": card.description,
        "kubespawner_override": {"image": card.image},
        "lscsde": card,
        **extra,
    }


def three_workspaces() -> list[dict[str, Any]]:
    return [
        profile(
            Card(
                "genomics",
                "Genomics study",
                "Whole-genome analysis.\nSecond line.",
                days_left=30,
                requests={"cpu": "2", "memory": "8Gi"},
                limits={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                storage=[
                    ("/home/jovyan/genomics", "workspace-genomics"),
                    ("/mnt/scratch", "genomics-scratch"),
                ],
                datasources=[
                    ("UK Biobank extract", "/data/ukbb"),
                    ("Reference genomes", "/data/ref"),
                ],
            )
        ),
        profile(Card("cardiology", "Cardiology audit", "ECG audit.", days_left=3)),
        profile(Card("sandbox", "Sandbox", "", days_left=0, image="")),
    ]


# --- rendering ---------------------------------------------------------------------------------


def kubespawner_environment(*admin_paths: str | os.PathLike[str]) -> Environment:
    """The environment KubeSpawner 7.1 builds in _render_options_form, with
    additional_profile_form_template_paths = [*admin_paths, TEMPLATE_DIR]."""
    loader = ChoiceLoader(
        [
            FileSystemLoader([*map(str, admin_paths), TEMPLATE_DIR]),
            PackageLoader("kubespawner", "templates"),
        ]
    )
    env = Environment(loader=loader)  # autoescape off, as in KubeSpawner
    env.policies["json.dumps_kwargs"] = {"sort_keys": False}
    return env


def render(
    profile_list: Sequence[Mapping[str, Any]],
    user_options: Mapping[str, Any] | None = None,
    *admin_paths: str | os.PathLike[str],
) -> str:
    template = kubespawner_environment(*admin_paths).get_template("form.html")
    return template.render(profile_list=profile_list, user_options=user_options or {})


class FormOnlySpawner(KubeSpawner):  # type: ignore[misc]  # KubeSpawner is untyped (Any)
    """KubeSpawner without its constructor's Kubernetes set-up (kubeconfig, reflectors): enough
    for the form methods, which only read traits."""

    def __init__(self, **kwargs: Any) -> None:
        Spawner.__init__(self, **kwargs)


# --- a small DOM over html.parser ---------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)
        ]

    def find(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag or '*'} class={cls!r}> in {self.text()!r}"
        return found[0]

    def by_id(self, id_: str) -> Node:
        [node] = [n for n in self.iter() if n.attrs.get("id") == id_]
        return node

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def text(self) -> str:
        """The text content, with runs of whitespace collapsed (as rendered, except pre-line)."""
        return " ".join(self.raw_text().split())

    def raw_text(self) -> str:
        return "".join(c if isinstance(c, str) else c.raw_text() for c in self.children)


class TreeBuilder(HTMLParser):
    """Strict: every non-void element must be closed, in order (the template is well-formed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        assert len(names) == len(set(names)), f"duplicate attribute in <{tag} {attrs}>"
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"</{tag}>"
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], f"unclosed: {[n.tag for n in builder.stack[1:]]}"
    return builder.root


def page(html: str) -> Node:
    """Parse and check what must hold for every rendering: no script, no event handlers, no
    external resources, unique ids, every label/aria reference resolves."""
    doc = parse(html)
    assert doc.find_all("script") == []
    ids = [n.attrs["id"] for n in doc.iter() if "id" in n.attrs]
    assert len(ids) == len(set(ids)), ids
    for node in doc.iter():
        assert not [a for a in node.attrs if a.startswith("on")], node.attrs
        assert not {"src", "href", "action", "formaction"} & node.attrs.keys(), node.attrs
        for ref in ("for", "aria-describedby", "aria-labelledby"):
            for target in (node.attrs.get(ref) or "").split():
                assert target in ids, f"{ref}={target!r} refers to nothing"
    for style in doc.find_all("style"):
        css = style.raw_text()
        assert "@import" not in css and "url(" not in css
    return doc


def cards(doc: Node) -> list[Node]:
    return doc.find_all("div", "lscsde-ws-card")


def radios(doc: Node) -> list[Node]:
    return [n for n in doc.find_all("input") if n.attrs.get("type") == "radio"]


def checked(doc: Node) -> list[str | None]:
    return [r.attrs["value"] for r in radios(doc) if "checked" in r.attrs]


def label_of(doc: Node, control: Node) -> Node:
    [label] = [n for n in doc.find_all("label") if n.attrs.get("for") == control.attrs["id"]]
    return label


def card_for(doc: Node, slug: str) -> Node:
    [card] = [c for c in cards(doc) if c.find("input").attrs["value"] == slug]
    return card


# --- packaging ----------------------------------------------------------------------------------


def test_template_dir_holds_the_form() -> None:
    template_dir = Path(TEMPLATE_DIR)
    assert (template_dir / FORM_TEMPLATE).is_file()
    installed = Path(lscsde_spawner.__file__).resolve().parent / "templates"
    # an editable install (this checkout) uses the repository's templates/; a wheel its own copy
    assert template_dir in (REPO / "templates", installed)


def test_form_environment_mirrors_kubespawner(tmp_path: Path) -> None:
    env = form_environment()
    assert env.autoescape is False
    assert env.policies["json.dumps_kwargs"] == {"sort_keys": False}
    args: dict[str, Any] = {"profile_list": three_workspaces(), "user_options": {}}
    assert env.get_template("form.html").render(**args) == render(**args)
    (tmp_path / "form.html").write_text("admin")
    assert form_environment([str(tmp_path)]).get_template("form.html").render(**args) == "admin"


# --- the cards ----------------------------------------------------------------------------------


def test_one_card_per_workspace_in_order_in_a_radio_group() -> None:
    doc = page(render(three_workspaces()))
    [fieldset] = doc.find_all("fieldset")
    legend = next(c for c in fieldset.children if isinstance(c, Node))
    assert legend.tag == "legend"  # the fieldset's first element
    assert legend.text() == "Choose a workspace"
    assert len(cards(doc)) == 3
    assert cards(fieldset) == cards(doc)
    assert [r.attrs["value"] for r in radios(doc)] == ["genomics", "cardiology", "sandbox"]
    assert {r.attrs["name"] for r in radios(doc)} == {"profile"}
    # the form posts only `profile`: no other named control
    named = [n for n in doc.iter() if n.tag in {"input", "select", "textarea", "button"}]
    assert named == radios(doc)
    names = [label_of(doc, r).text() for r in radios(doc)]
    assert names == ["Genomics study", "Cardiology audit", "Sandbox"]


def test_labels_and_descriptions_are_bound() -> None:
    doc = page(render(three_workspaces()))
    for radio, card in zip(radios(doc), cards(doc), strict=True):
        assert radio in card.find_all("input")
        assert label_of(doc, radio) in card.find_all("label")
        details = doc.by_id(radio.attrs["aria-describedby"] or "")
        assert details in card.find_all("div")
        assert "Available until" in details.text()
        assert "Image" in details.text() and "Storage" in details.text()
    genomics = doc.by_id(radios(doc)[0].attrs["aria-describedby"] or "")
    assert "Whole-genome analysis." in genomics.text()


def test_first_workspace_is_checked_by_default() -> None:
    for options in ({}, None, {"profile": ""}):
        assert checked(page(render(three_workspaces(), options))) == ["genomics"]


def test_user_options_profile_preselects() -> None:
    doc = page(render(three_workspaces(), {"profile": "cardiology"}))
    assert checked(doc) == ["cardiology"]


@pytest.mark.parametrize(
    "options",
    [
        {"profile": "expired-workspace"},  # stale: the grant ended since the last spawn
        {"profile": ["cardiology"]},  # REST user_options are stored as sent
        {"profile": 3},
    ],
)
def test_unknown_or_malformed_saved_profile_falls_back_to_the_first(
    options: dict[str, Any],
) -> None:
    assert checked(page(render(three_workspaces(), options))) == ["genomics"]


def test_kubespawner_default_flag_is_honoured_without_saved_options() -> None:
    workspaces = three_workspaces()
    workspaces[2]["default"] = True
    assert checked(page(render(workspaces))) == ["sandbox"]
    assert checked(page(render(workspaces, {"profile": "cardiology"}))) == ["cardiology"]


def test_exactly_one_checked_even_with_a_repeated_slug() -> None:
    workspaces = [*three_workspaces(), profile(Card("genomics", "Genomics again"))]
    assert checked(page(render(workspaces))) == ["genomics"]


def test_expiry_date_and_days_left() -> None:
    spans = [0, 1, 2, 6, 7, 8, 30]
    workspaces = [profile(Card(f"ws-{n}", f"Workspace {n}", days_left=n)) for n in spans]
    doc = page(render(workspaces))
    days_left = [c.find(cls="lscsde-ws-days-left").text() for c in cards(doc)]
    assert days_left == [
        "(expires today)",
        "(1 day left)",
        "(2 days left)",
        "(6 days left)",
        "(7 days left)",
        "(8 days left)",
        "(30 days left)",
    ]
    for n, card in zip(spans, cards(doc), strict=True):
        iso = (TODAY + timedelta(days=n)).isoformat()
        time = card.find("time")
        assert (time.attrs["datetime"], time.text()) == (iso, iso)
        assert f"Available until {iso}" in card.text()


def test_expiring_soon_is_marked_by_class_and_text_under_seven_days() -> None:
    spans = [0, 1, 6, 7, 30]
    workspaces = [profile(Card(f"ws-{n}", f"Workspace {n}", days_left=n)) for n in spans]
    doc = page(render(workspaces))
    for n, card in zip(spans, cards(doc), strict=True):
        soon = n < 7
        assert ("lscsde-ws-card--expiring-soon" in card.classes) is soon, n
        assert (card.find_all(cls="lscsde-ws-soon") != []) is soon, n
        assert ("Expiring soon" in card.text()) is soon, n


def test_image_and_resources() -> None:
    doc = page(render(three_workspaces()))
    genomics, cardiology, sandbox = cards(doc)
    assert genomics.find(cls="lscsde-ws-image").text() == "ghcr.io/example/notebook:1.0"
    assert genomics.find(cls="lscsde-ws-requests").text() == "cpu 2, memory 8Gi"
    assert genomics.find(cls="lscsde-ws-limits").text() == "cpu 4, memory 16Gi, nvidia.com/gpu 1"
    # what the workspace leaves unset comes from the admin's spawner config
    assert cardiology.find(cls="lscsde-ws-requests").text() == "the hub's defaults"
    assert cardiology.find(cls="lscsde-ws-limits").text() == "the hub's defaults"
    assert sandbox.find(cls="lscsde-ws-image").text() == "the hub's default"


def test_storage_and_data_sources_that_will_be_mounted() -> None:
    doc = page(render(three_workspaces()))
    genomics, cardiology, _ = cards(doc)
    storage = [li.text() for li in genomics.find("ul", "lscsde-ws-storage").find_all("li")]
    assert storage == [
        "/home/jovyan/genomics ← from volume claim workspace-genomics",
        "/mnt/scratch ← from volume claim genomics-scratch",
    ]
    datasources = genomics.find("ul", "lscsde-ws-datasources").find_all("li")
    assert [li.text() for li in datasources] == [
        "UK Biobank extract at /data/ukbb",
        "Reference genomes at /data/ref",
    ]
    assert "Data sources (read-only)" in [dt.text() for dt in genomics.find_all("dt")]
    assert cardiology.find_all("ul") == []  # nothing to list: says "none", not an empty list
    assert [dd.text() for dd in cardiology.find_all("dd")][-2:] == ["none", "none"]


def test_a_viewer_is_told_the_storage_is_read_only_and_an_admin_is_named() -> None:
    viewer = Card("v", "Viewed", storage=[("/home/jovyan/v", "workspace-v")], access_level="viewer")
    admin = Card("a", "Administered", access_level="admin")
    member = Card("m", "Member")
    doc = page(render([profile(viewer), profile(admin), profile(member)]))
    viewed, administered, membered = cards(doc)
    assert viewed.find("p", "lscsde-ws-level").text() == (
        "Viewer access: the workspace's storage is mounted read-only"
    )
    assert "Storage (read-only)" in [dt.text() for dt in viewed.find_all("dt")]
    assert administered.find("p", "lscsde-ws-level").text() == "Admin of this workspace"
    assert "Storage" in [dt.text() for dt in administered.find_all("dt")]
    assert membered.find_all("p", "lscsde-ws-level") == []


def test_a_profile_without_a_card_still_renders() -> None:
    """An admin hook may add a plain KubeSpawner profile; it gets a name and a description."""
    plain = {"display_name": "Plain", "slug": "plain", "description": "Admin profile."}
    doc = page(render([plain, *three_workspaces()]))
    assert [r.attrs["value"] for r in radios(doc)] == ["plain", "genomics", "cardiology", "sandbox"]
    card = card_for(doc, "plain")
    assert label_of(doc, card.find("input")).text() == "Plain"
    assert card.find(cls="lscsde-ws-description").text() == "Admin profile."
    assert card.find_all("dl") == []


# --- escaping -------------------------------------------------------------------------------------


def test_description_is_escaped_and_keeps_its_line_breaks() -> None:
    text = f"First line\nSecond {XSS} line\n\nLast & <b>bold</b>"
    card = Card("ws", "Workspace", text)
    html = render([profile(card)])
    doc = page(html)
    description = doc.find("p", "lscsde-ws-description")
    assert description.raw_text() == text  # as text, newlines kept
    assert description.find_all() == []  # no <b>, no <script>, no <br>
    assert doc.find_all("br") == []
    css = " ".join(s.raw_text() for s in doc.find_all("style"))
    assert re.search(r"\.lscsde-ws-description\s*\{[^}]*white-space:\s*pre-line", css)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_every_field_is_escaped() -> None:
    card = Card(
        slug=f'ws" onfocus="alert(1)" x="{XSS}',
        display_name=f"Name {XSS}",
        description=f"Desc {XSS}",
        image=f"img{XSS}",
        requests={f"cpu{XSS}": f"1{XSS}"},
        limits={"memory": f"2Gi{XSS}"},
        storage=[(f"/home/{XSS}", f"pvc{XSS}")],
        datasources=[(f"DS {XSS}", f"/data/{XSS}")],
    )
    html = render([profile(card)], {"profile": card.slug})
    assert "<script" not in html
    doc = page(html)  # no <script> element, no on* attribute
    [radio] = radios(doc)
    assert radio.attrs["value"] == card.slug  # the whole slug, as one attribute value
    assert set(radio.attrs) == {"type", "name", "id", "value", "aria-describedby", "checked"}
    assert label_of(doc, radio).text() == f"Name {XSS}"
    text = doc.find("div", "lscsde-ws-card").text()
    for expected in (
        f"Desc {XSS}",
        f"img{XSS}",
        f"cpu{XSS} 1{XSS}",
        f"2Gi{XSS}",
        f"/home/{XSS} ← from volume claim pvc{XSS}",
        f"DS {XSS} at /data/{XSS}",
    ):
        assert expected in text


def test_jinja_syntax_in_values_is_not_evaluated() -> None:
    card = Card("ws", "{{ 7 * 7 }}", "{% if true %}yes{% endif %}")
    doc = page(render([profile(card)]))
    assert label_of(doc, radios(doc)[0]).text() == "{{ 7 * 7 }}"
    assert doc.find("p", "lscsde-ws-description").text() == "{% if true %}yes{% endif %}"


# --- no workspaces --------------------------------------------------------------------------------


def test_no_workspaces_shows_a_friendly_message_and_nothing_to_post() -> None:
    doc = page(render([]))
    message = doc.find(cls="lscsde-no-workspaces")
    assert "You have no workspaces available today" in message.text()
    assert "contact the team that grants workspace access" in message.text()
    assert [n.tag for n in doc.iter() if n.tag in {"input", "select", "textarea", "button"}] == []
    assert doc.find_all("fieldset") == []
    # JupyterHub's page adds its own Start button after the form: hidden while there is nothing
    css = " ".join(s.raw_text() for s in doc.find_all("style"))
    assert re.search(r"#spawn_form \.feedback-container\s*\{\s*display:\s*none", css)


def test_start_button_stays_when_there_are_workspaces() -> None:
    html = render(three_workspaces())
    assert "feedback-container" not in html
    assert page(html).find_all(cls="lscsde-no-workspaces") == []


# --- overriding and KubeSpawner's own rendering ---------------------------------------------------


def test_admin_template_directory_earlier_in_the_loader_wins(tmp_path: Path) -> None:
    admin = tmp_path / "admin"
    admin.mkdir()
    (admin / "form.html").write_text(
        "{% for p in profile_list %}<p>{{ p.slug|e }}</p>{% endfor %}{{ user_options.profile|e }}"
    )
    assert render(three_workspaces(), {"profile": "sandbox"}, admin) == (
        "<p>genomics</p><p>cardiology</p><p>sandbox</p>sandbox"
    )
    # a directory without a form.html falls through to ours
    empty = tmp_path / "empty"
    empty.mkdir()
    assert render(three_workspaces(), {}, empty) == render(three_workspaces())


def test_rendered_by_kubespawners_own_method(tmp_path: Path) -> None:
    spawner = FormOnlySpawner(
        profile_list=three_workspaces(),
        additional_profile_form_template_paths=[TEMPLATE_DIR],
    )
    spawner.user_options = {"profile": "cardiology"}
    doc = page(spawner._render_options_form(spawner.profile_list))
    assert [r.attrs["value"] for r in radios(doc)] == ["genomics", "cardiology", "sandbox"]
    assert checked(doc) == ["cardiology"]
    # what the checked radio posts is what KubeSpawner reads back
    assert spawner.options_from_form({"profile": checked(doc)}) == {"profile": "cardiology"}

    # stale saved options: KubeSpawner warns but still passes them; the form falls back
    spawner.user_options = {"profile": "gone"}
    assert checked(page(spawner._render_options_form(spawner.profile_list))) == ["genomics"]

    admin = tmp_path / "admin"
    admin.mkdir()
    (admin / "form.html").write_text("admin form")
    spawner.additional_profile_form_template_paths = [str(admin), TEMPLATE_DIR]
    assert spawner._render_options_form(spawner.profile_list) == "admin form"


async def test_callable_profile_list_with_no_workspaces_renders_the_message() -> None:
    spawner = FormOnlySpawner(
        profile_list=lambda _spawner: [],
        additional_profile_form_template_paths=[TEMPLATE_DIR],
    )
    form = await spawner.get_options_form()
    assert form  # JupyterHub shows the form (and our message) rather than spawning directly
    doc = page(form)
    assert "You have no workspaces available today" in doc.find(cls="lscsde-no-workspaces").text()
    assert radios(doc) == []


# --- optional: a screenshot in headless Chromium --------------------------------------------------


def chromium() -> str | None:
    for candidate in ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def test_screenshot_in_headless_chromium(tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium installed")
    import jupyterhub

    share = Path(jupyterhub.__file__).resolve().parents[3] / "share" / "jupyterhub"
    css = share / "static" / "css" / "style.min.css"
    stylesheet = f'<link rel="stylesheet" href="{css.as_uri()}">' if css.is_file() else ""
    for name, profile_list in (("form", three_workspaces()), ("form-empty", [])):
        document = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8">{stylesheet}</head>'
            '<body><div class="container"><div class="row justify-content-center">'
            '<div class="col-md-8"><form id="spawn_form">'
            f"{render(profile_list)}"
            '<br><div class="feedback-container">'
            '<button type="submit" class="btn btn-jupyter form-control">Start</button>'
            "</div></form></div></div></div></body></html>"
        )
        source = tmp_path / f"{name}.html"
        source.write_text(document)
        out = REPO / "test-output" / f"spawn-{name}.png"
        out.parent.mkdir(exist_ok=True)
        out.unlink(missing_ok=True)
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1000,1600",
                f"--screenshot={out}",
                source.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert out.is_file() and out.stat().st_size > 0


def test_a_group_grant_says_how_it_was_granted_escaped() -> None:
    group = Card("ws-team", "Team", via=f"via group cardiac-team & {XSS}")
    own = Card("ws-own", "Own")
    html = render([profile(group), profile(own)])
    assert "<script" not in html
    doc = page(html)
    assert card_for(doc, "ws-team").find(cls="lscsde-ws-via").text() == (
        f"Granted via group cardiac-team & {XSS}"
    )
    assert card_for(doc, "ws-own").find_all(cls="lscsde-ws-via") == []
