"""The CRDs the LSC-SDE chart publishes (lsc-sde/iac-helm-analytics-workspace-management), as test
data: what clusters in the field run, to compare `lscsde_spawner.crds` with and to install in the
embedded cluster for the field's own tools. Each YAML file here names its source and commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
SOURCE_REPOSITORY = "https://github.com/lsc-sde/iac-helm-analytics-workspace-management"
SOURCE_COMMIT = "3f91352a7ddecd274ab479c32eedcd1a8cbb2613"

# One file per kind, in the order lscsde_spawner.crds.MANIFESTS lists ours.
FILES: tuple[str, ...] = (
    "AnalyticsWorkspace.yaml",
    "AnalyticsWorkspaceBinding.yaml",
    "AnalyticsDataSource.yaml",
    "AnalyticsDataSourceBinding.yaml",
    "AnalyticsCrate.yaml",
)


def load_published_crds() -> list[dict[str, Any]]:
    """The five published CRDs as dicts, workspaces first."""
    crds: list[dict[str, Any]] = []
    for filename in FILES:
        crd = yaml.safe_load((HERE / filename).read_text(encoding="utf-8"))
        assert isinstance(crd, dict) and crd["kind"] == "CustomResourceDefinition", filename
        crds.append(crd)
    return crds
