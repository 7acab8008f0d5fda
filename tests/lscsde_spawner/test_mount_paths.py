"""A mount path with a control or invisible character makes the workspace malformed."""

from __future__ import annotations

from typing import Any

import pytest

from lscsde_spawner.models import AnalyticsWorkspace, ParseError, parse_one
from lscsde_spawner.models.workspace import check_mount_path
from tests.support import factories


def raw_workspace(mount_path: str) -> dict[str, Any]:
    storage = [{"mountPath": mount_path, "persistentVolumeClaim": "s"}]
    return factories.workspace("ws", namespace="sde", additionalStorage=storage)


UNSAFE = {
    "newline": "\n",
    "carriage-return": "\r",
    "tab": "\t",
    "nul": "\x00",
    "escape": "\x1b",
    "delete": "\x7f",
    "c1-next-line": "\x85",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
    "zero-width-space": "\u200b",
    "right-to-left-override": "\u202e",
    "byte-order-mark": "\ufeff",
    "private-use": "\ue000",
    "unassigned": "\U000e0080",
}


@pytest.mark.parametrize("char", UNSAFE.values(), ids=UNSAFE.keys())
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_an_unsafe_character_anywhere_makes_the_workspace_malformed(char: str, where: str) -> None:
    path = {"start": f"/{char}mnt/x", "middle": f"/mnt/{char}x", "end": f"/mnt/x{char}"}[where]
    with pytest.raises(ValueError, match="control or invisible character"):
        check_mount_path(path)
    err = parse_one(AnalyticsWorkspace, raw_workspace(path))
    assert isinstance(err, ParseError), err
    assert "spec.jupyterWorkspace.additionalStorage.0.mountPath: " in err.reason
    assert "\n" not in str(err) and "\u2028" not in str(err)  # quoted, so logs stay one line


@pytest.mark.parametrize("path", ["/mnt/x", "/home/jovyan/my data", "/data/café", "/mnt/x/"])
def test_ordinary_paths_still_parse(path: str) -> None:
    assert check_mount_path(path) == path
    ws = parse_one(AnalyticsWorkspace, raw_workspace(path))
    assert isinstance(ws, AnalyticsWorkspace), ws
