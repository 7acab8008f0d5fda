"""The deployment examples parse, have the right shape, and configure settings that exist."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from kubespawner import KubeSpawner
from kubespawner import spawner as kubespawner_module
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from lscsde_spawner.crds import load_crds
from lscsde_spawner.models import GROUP
from lscsde_spawner.spawner import WorkspaceSpawner

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
K8S = EXAMPLES / "kubernetes"
VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
RBAC_API = "rbac.authorization.k8s.io/v1"


def rbac_docs() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((K8S / "rbac.yaml").read_text()) if d is not None]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs) == 2, "one Role and one RoleBinding"
    return by_kind


def z2jh_values() -> dict[str, Any]:
    values = yaml.safe_load((K8S / "z2jh-values.yaml").read_text())
    assert isinstance(values, dict)
    return values


def strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def test_role_shape() -> None:
    role = rbac_docs()["Role"]
    assert role["apiVersion"] == RBAC_API
    assert role["metadata"]["name"] and role["metadata"]["namespace"]
    assert role["rules"]
    seen = set()
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule
        for field in ("apiGroups", "resources", "verbs"):
            assert strings(rule[field]), f"{field} must be a non-empty list of strings: {rule}"
            assert len(set(rule[field])) == len(rule[field]), f"duplicate in {field}: {rule}"
        assert set(rule["verbs"]) <= VERBS, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                key = (group, resource)
                assert key not in seen, f"{key} appears in two rules"
                seen.add(key)


def test_role_binding_binds_the_role_to_the_hub() -> None:
    docs = rbac_docs()
    role, binding = docs["Role"], docs["RoleBinding"]
    assert binding["apiVersion"] == RBAC_API
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    [subject] = binding["subjects"]
    assert subject["kind"] == "ServiceAccount"
    assert subject["namespace"] == role["metadata"]["namespace"]
    assert subject["name"] == z2jh_values()["hub"]["serviceAccount"]["name"] == "hub"


def test_role_names_the_real_custom_resources() -> None:
    """Every xlscsde.nhs.uk resource in the Role is a plural (or a subresource) the CRDs define."""
    served = set()
    for crd in load_crds():
        plural = crd["spec"]["names"]["plural"]
        served.add(plural)
        for version in crd["spec"]["versions"]:
            served.update(f"{plural}/{sub}" for sub in version.get("subresources") or {})
    named = {
        resource
        for rule in rbac_docs()["Role"]["rules"]
        if GROUP in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert named and named <= served, named - served
    assert not any(r.startswith("analyticscrates") for r in named), "crates are never read"


def test_z2jh_values_shape() -> None:
    values = z2jh_values()
    assert values["rbac"]["create"] is True
    image = values["hub"]["image"]
    assert isinstance(image["name"], str) and isinstance(image["tag"], str)
    assert values["hub"]["serviceAccount"]["create"] is True
    assert values["singleuser"]["storage"]["type"] == "none"
    snippets = values["hub"]["extraConfig"]
    assert snippets and all(isinstance(s, str) for s in snippets.values())


@pytest.fixture
def make_spawner() -> Iterator[Any]:
    """A WorkspaceSpawner built from a config, with no cluster (as in tests/lscsde_spawner)."""
    with (
        mock.patch.object(kubespawner_module, "load_config"),
        mock.patch.object(kubespawner_module, "shared_client"),
    ):
        yield lambda config: WorkspaceSpawner(_mock=True, config=config)


def load_config_file(source: str) -> Config:
    """Run a JupyterHub config snippet as JupyterHub does: `c` is a traitlets Config."""
    c = Config()
    exec(compile(source, "<config>", "exec"), {"c": c, "get_config": lambda *a, **k: None})
    return c


def check_config(c: Config, make_spawner: Any) -> WorkspaceSpawner:
    assert import_item(str(c.JupyterHub.spawner_class)) is WorkspaceSpawner
    for section, cls in (("WorkspaceSpawner", WorkspaceSpawner), ("KubeSpawner", KubeSpawner)):
        known = set(cls.class_traits(config=True))
        unknown = set(c[section]) - known
        assert not unknown, f"not {section} settings: {sorted(unknown)}"
    spawner: WorkspaceSpawner = make_spawner(c)
    for section in ("WorkspaceSpawner", "KubeSpawner"):
        for name, value in c[section].items():
            # Compared after the trait's own conversion (e.g. mem_limit "4G" to bytes).
            trait: Any = spawner.traits()[name]  # TraitType's stubs lack validate()
            expected = trait.validate(spawner, value)
            assert getattr(spawner, name) == expected, name
    return spawner


def test_z2jh_extra_config_loads(make_spawner: Any) -> None:
    for name, source in z2jh_values()["hub"]["extraConfig"].items():
        c = load_config_file(source)
        spawner = check_config(c, make_spawner)
        assert spawner.delete_pvc is False, f"extraConfig {name}: see README, RBAC"


def test_example_jupyterhub_config_loads(make_spawner: Any) -> None:
    c = load_config_file((EXAMPLES / "jupyterhub_config.py").read_text())
    # The example names the spawner by its entry point.
    assert c.JupyterHub.spawner_class == "lscsde"
    c.JupyterHub.spawner_class = "lscsde_spawner.WorkspaceSpawner"
    check_config(c, make_spawner)
