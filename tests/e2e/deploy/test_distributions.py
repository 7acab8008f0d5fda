"""A production install of the spawner carries neither the emulator nor its dependencies."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]
EMULATOR_ONLY = {"kubesim", "jsonschema", "jsonpath-ng", "rfc3339-validator"}


def project(path: Path) -> dict[str, object]:
    data: dict[str, object] = tomllib.loads(path.read_text())["project"]
    return data


def names(requirements: object) -> set[str]:
    assert isinstance(requirements, list)
    return {Requirement(r).name.lower() for r in requirements}


def test_the_spawners_runtime_requirements_leave_the_emulator_out() -> None:
    ours = project(REPO / "pyproject.toml")
    assert not names(ours["dependencies"]) & EMULATOR_ONLY
    extras = ours["optional-dependencies"]
    assert isinstance(extras, dict)
    assert "kubesim" in names(extras["test"]) and "kubesim" in names(extras["demo"])
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert "kubesim" not in wheel["targets"]["wheel"]["packages"]


def test_the_emulator_declares_what_it_needs() -> None:
    theirs = names(project(REPO / "kubesim" / "pyproject.toml")["dependencies"])
    assert EMULATOR_ONLY - {"kubesim"} <= theirs


def test_the_spawner_imports_no_emulator_code() -> None:
    code = (
        "import sys, lscsde_spawner.spawner, lscsde_spawner.cli; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'kubesim', 'lscsde_demo', 'jsonschema', 'jsonpath_ng'}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
