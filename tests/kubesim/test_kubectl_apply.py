"""kubectl v1.32's server-side apply and managedFields against the embedded API: apply creates
and updates, a conflicting manager gets kubectl's conflict text, --force-conflicts wins,
--dry-run=server stores nothing, --show-managed-fields shows the entries, and client-side apply
records kubectl-client-side-apply's updates and migrates to server-side apply."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubesim import LocalCluster
from tests.support.kubectl import KUBECTL, Kubectl

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]


@pytest.fixture(scope="module")
def kubectl(module_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(module_cluster, tmp_path_factory.mktemp("kubectl-apply-home"))


def config_map(name: str, **data: str) -> str:
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    )


def managed(kubectl: Kubectl, name: str) -> dict[str, dict[str, object]]:
    got = yaml.safe_load(kubectl("get", "configmap", name, "-o", "yaml", "--show-managed-fields"))
    return {e["manager"]: e for e in got["metadata"]["managedFields"]}


def test_server_side_apply_creates_updates_and_reports_conflicts(kubectl: Kubectl) -> None:
    out = kubectl("apply", "--server-side", "-f", "-", stdin=config_map("ssa", a="1", b="2"))
    assert out.strip() == "configmap/ssa serverside-applied"
    kubectl("apply", "--server-side", "-f", "-", stdin=config_map("ssa", a="1", b="3"))
    got = yaml.safe_load(kubectl("get", "configmap", "ssa", "-o", "yaml"))
    assert got["data"] == {"a": "1", "b": "3"}
    assert "managedFields" not in got["metadata"]  # kubectl hides them unless asked

    entries = managed(kubectl, "ssa")
    assert entries["kubectl"]["operation"] == "Apply"
    assert entries["kubectl"]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}

    other = config_map("ssa", b="4")
    failed = kubectl(
        "apply", "--server-side", "--field-manager=other", "-f", "-", stdin=other, check=False
    )
    assert 'error: Apply failed with 1 conflict: conflict with "kubectl": .data.b' in failed
    assert "--force-conflicts" in failed
    kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-",
            stdin=other)  # fmt: skip
    entries = managed(kubectl, "ssa")
    assert entries["other"]["fieldsV1"] == {"f:data": {"f:b": {}}}
    assert entries["kubectl"]["fieldsV1"] == {"f:data": {"f:a": {}}}
    got = yaml.safe_load(kubectl("get", "configmap", "ssa", "-o", "yaml"))
    assert got["data"] == {"a": "1", "b": "4"}


def test_server_side_dry_run_stores_nothing(kubectl: Kubectl) -> None:
    out = kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", "-o", "yaml",
        stdin=config_map("planned", a="1"),
    )  # fmt: skip
    assert yaml.safe_load(out)["data"] == {"a": "1"}
    missing = kubectl("get", "configmap", "planned", check=False)
    assert 'configmaps "planned" not found' in missing


def test_client_side_apply_then_server_side_apply(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(config_map("csa", replicas="1"))
    assert kubectl("apply", "-f", str(manifest)).strip() == "configmap/csa created"
    manifest.write_text(config_map("csa", replicas="2"))
    assert kubectl("apply", "-f", str(manifest)).strip() == "configmap/csa configured"
    entry = managed(kubectl, "csa")["kubectl-client-side-apply"]
    assert entry["operation"] == "Update"
    assert entry["fieldsV1"] == {
        "f:data": {".": {}, "f:replicas": {}},
        "f:metadata": {
            "f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}
        },
    }
    # kubectl's own server-side apply takes those fields over without a conflict.
    manifest.write_text(config_map("csa", replicas="3"))
    out = kubectl("apply", "--server-side", "-f", str(manifest))
    assert out.strip() == "configmap/csa serverside-applied"
    got = yaml.safe_load(kubectl("get", "configmap", "csa", "-o", "yaml", "--show-managed-fields"))
    assert got["data"] == {"replicas": "3"}
    owners = {e["manager"]: e for e in got["metadata"]["managedFields"]}
    assert owners["kubectl"]["operation"] == "Apply"
    assert "kubectl-client-side-apply" not in owners


def test_replace_and_create_keep_and_record_entries(kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", stdin=config_map("made", a="1"))
    entries = managed(kubectl, "made")
    assert list(entries) == ["kubectl-create"]
    current = kubectl("get", "configmap", "made", "-o", "yaml")
    changed = yaml.safe_load(current)
    changed["data"]["b"] = "2"
    kubectl("replace", "-f", "-", stdin=yaml.safe_dump(changed))
    entries = managed(kubectl, "made")
    assert entries["kubectl-create"]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    assert entries["kubectl-replace"]["fieldsV1"] == {"f:data": {"f:b": {}}}
