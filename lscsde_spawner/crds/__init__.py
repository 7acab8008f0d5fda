"""The CustomResourceDefinitions of the five xlscsde.nhs.uk/v1 kinds, shipped as package data.

`lscsde-spawner crds | kubectl apply -f -` installs them. They are the published LSC-SDE CRDs
(lsc-sde/iac-helm-analytics-workspace-management) in fields, types, defaults, required fields,
anyOf rules, names, categories and printer columns, with the differences the README lists
("Differences from the published CRDs"), so they accept every object already on LSC-SDE clusters.
The spawner's own checks live in `lscsde_spawner.models`, which skip a bad object alone.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

# One manifest per kind, in the order they are applied and printed.
MANIFESTS: tuple[str, ...] = (
    "analyticsworkspaces.yaml",
    "analyticsworkspacebindings.yaml",
    "analyticsdatasources.yaml",
    "analyticsdatasourcebindings.yaml",
    "analyticscrates.yaml",
)


def _text(filename: str) -> str:
    return resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")


def load_crds() -> list[dict[str, Any]]:
    """The five CRDs as dicts, workspaces first."""
    crds: list[dict[str, Any]] = []
    for filename in MANIFESTS:
        crd = yaml.safe_load(_text(filename))
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            raise ValueError(f"{filename} is not a CustomResourceDefinition")
        crds.append(crd)
    return crds


def crds_yaml() -> str:
    """The five CRDs as one multi-document YAML stream, comments included, for kubectl apply."""
    docs = []
    for filename in MANIFESTS:
        text = _text(filename).strip("\n")
        docs.append(text if text.startswith("---") else f"---\n{text}")
    return "\n".join(docs) + "\n"
