"""The README's layout tree is the repository's: every folder it names exists, and every
package folder and test folder is named."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def layout() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Layout") :]
    block = section[section.index("```\n") + 4 :]
    block = block[: block.index("```")]
    rows = {}
    for line in block.splitlines():
        folder, _, what = line.partition(" ")
        rows[folder] = what.strip()
    return rows


def package_folders() -> set[str]:
    found = set()
    for root in ("lscsde_spawner", "lscsde_demo", "kubesim/kubesim"):
        for init in (REPO / root).rglob("__init__.py"):
            folder = init.parent.relative_to(REPO).as_posix()
            if "__pycache__" not in folder:
                found.add(folder + "/")
    return found


def test_every_folder_in_the_tree_exists_and_says_what_it_is() -> None:
    for folder, what in layout().items():
        assert (REPO / folder).is_dir(), f"README layout names {folder}, which is not there"
        assert what, f"README layout: {folder} says nothing"


def test_every_package_and_test_folder_is_in_the_tree() -> None:
    listed = set(layout())
    tests = {
        p.relative_to(REPO).as_posix() + "/"
        for p in (REPO / "tests").iterdir()
        if p.is_dir() and re.fullmatch(r"[a-z_0-9]+", p.name)
    }
    missing = (package_folders() | tests | {"kubesim/", "bench/", "templates/"}) - listed
    assert not missing, f"README layout misses {sorted(missing)}"
