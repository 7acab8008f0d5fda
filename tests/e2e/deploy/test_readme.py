"""README.md stays in step with the code and the example files it shows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from kubespawner import KubeSpawner

from lscsde_spawner.spawner import WorkspaceSpawner

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"
EXAMPLES = REPO / "examples" / "kubernetes"
ROW = re.compile(r"^\| `c\.WorkspaceSpawner\.(\w+)` \|.*\|$", re.MULTILINE)


def readme() -> str:
    return README.read_text(encoding="utf-8")


def expected_rows() -> dict[str, str]:
    """One table row per configurable trait WorkspaceSpawner adds to KubeSpawner's (its own and
    the admin policy's), as README shows it."""
    rows = {}
    inherited = set(KubeSpawner.class_traits(config=True))
    ours = {
        name: trait
        for name, trait in WorkspaceSpawner.class_traits(config=True).items()
        if name not in inherited
    }
    for name, trait in sorted(ours.items()):
        meaning = " ".join(str(trait.help).split()).replace("|", "\\|")
        rows[name] = f"| `c.WorkspaceSpawner.{name}` | `{trait.default_value_repr()}` | {meaning} |"
    return rows


def test_configuration_reference_lists_every_setting() -> None:
    text = readme()
    section = text[text.index("### Configuration reference") :]
    section = section[: section.index("\n## ")]
    shown = {m.group(1): m.group(0) for m in ROW.finditer(section)}
    want = expected_rows()
    table = "\n".join(want.values())
    missing = sorted(set(want) - set(shown))
    unknown = sorted(set(shown) - set(want))
    stale = sorted(n for n in want if n in shown and shown[n] != want[n])
    assert not (missing or unknown or stale), (
        f"README configuration reference is out of date: missing {missing}, not settings "
        f"{unknown}, default or help changed {stale}. The rows should read:\n{table}"
    )
    assert list(shown) == list(want), "keep the rows in alphabetical order"


def yaml_blocks(text: str) -> list[Any]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]


def test_readme_shows_the_roles_rules() -> None:
    docs = list(yaml.safe_load_all((EXAMPLES / "rbac.yaml").read_text()))
    [role] = [d for d in docs if d["kind"] == "Role"]
    shown = [b for b in yaml_blocks(readme()) if isinstance(b, dict) and set(b) == {"rules"}]
    assert shown, "README should show the Role's rules in a ```yaml block"
    assert shown[0]["rules"] == role["rules"]


def test_readme_shows_the_z2jh_values() -> None:
    values = yaml.safe_load((EXAMPLES / "z2jh-values.yaml").read_text())
    shown = [b for b in yaml_blocks(readme()) if isinstance(b, dict) and "hub" in b]
    assert shown == [values]


def test_readme_has_no_placeholders_left() -> None:
    text = readme()
    assert "<!--" not in text and "Placeholder" not in text


def test_readme_links_resolve() -> None:
    """Relative links point at files that exist, and #anchors at headings that exist."""
    text = readme()
    headings = {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    }
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (REPO / path).exists(), f"README links to a missing file: {target}"
        elif anchor:
            assert anchor in headings, f"README links to a missing heading: #{anchor}"
