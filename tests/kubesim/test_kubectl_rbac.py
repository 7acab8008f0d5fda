"""The real kubectl against the embedded API's access control: the kubeconfig's admin token,
`kubectl create token`, `kubectl auth can-i|whoami`, impersonation, and what a refusal prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubesim import LocalCluster
from tests.support.kubectl import KUBECTL, Kubectl

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "examples" / "kubernetes" / "rbac.yaml"
CRDS = REPO / "lscsde_spawner" / "crds"
HUB = "system:serviceaccount:jupyterhub:hub"
pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]


@pytest.fixture(scope="module")
def kubectl(module_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """kubectl as the cluster's admin, with the product's CRDs, rbac.yaml applied to
    `jupyterhub` and its service account `hub` made."""
    k = Kubectl(module_cluster, tmp_path_factory.mktemp("kubectl-home"))
    k("apply", "-f", str(CRDS))
    k("create", "namespace", "jupyterhub")
    k("apply", "-f", str(RBAC))
    k("-n", "jupyterhub", "create", "serviceaccount", "hub")
    return k


def test_the_admin_is_who_the_kubeconfig_says(kubectl: Kubectl) -> None:
    out = kubectl("auth", "whoami")
    assert "kubernetes-admin" in out and "system:masters" in out
    assert kubectl("auth", "can-i", "delete", "nodes").strip() == "yes"


def test_create_token_and_use_it(kubectl: Kubectl) -> None:
    token = kubectl("-n", "jupyterhub", "create", "token", "hub", "--duration", "20m").strip()
    assert token.count(".") == 2
    out = kubectl("--token", token, "auth", "whoami")
    assert HUB in out and "system:serviceaccounts:jupyterhub" in out
    listed = kubectl.run("--token", token, "-n", "jupyterhub", "get", "pods")
    assert (listed.returncode, listed.stderr.strip()) == (
        0,
        "No resources found in jupyterhub namespace.",
    )
    refused = kubectl.run("--token", token, "-n", "jupyterhub", "get", "secrets")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f'Error from server (Forbidden): secrets is forbidden: User "{HUB}" cannot list '
        'resource "secrets" in API group "" in the namespace "jupyterhub"'
    )
    bad = kubectl.run("--token", "not-a-token", "get", "pods")
    assert bad.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in bad.stderr


@pytest.mark.parametrize(
    ("verb", "resource", "answer"),
    [
        ("create", "pods", "yes"),
        ("get", "pods", "no"),  # the hub never reads a single pod
        ("watch", "events", "yes"),
        ("create", "events.events.k8s.io", "yes"),
        ("create", "events", "no"),
        ("patch", "analyticsworkspaces.xlscsde.nhs.uk", "no"),
        ("patch", "analyticsworkspaces.xlscsde.nhs.uk/status", "yes"),
        ("delete", "persistentvolumeclaims", "no"),
    ],
)
def test_can_i_as_the_hub(kubectl: Kubectl, verb: str, resource: str, answer: str) -> None:
    args = ["auth", "can-i", verb, resource, "-n", "jupyterhub", "--as", HUB]
    if "/" in resource:
        resource, sub = resource.split("/")
        args[3:4] = [resource, "--subresource", sub]
    proc = kubectl.run(*args)
    assert proc.stdout.strip() == answer, proc.stderr
    assert proc.returncode == (0 if answer == "yes" else 1)


def test_can_i_list_as_the_hub(kubectl: Kubectl) -> None:
    out = kubectl("auth", "can-i", "--list", "-n", "jupyterhub", "--as", HUB)
    rows = {tuple(line.split()) for line in out.splitlines()}
    assert ("pods", "[]", "[]", "[list", "watch", "create", "delete]") in rows
    assert ("analyticsworkspaces.xlscsde.nhs.uk/status", "[]", "[]", "[patch]") in rows
    assert not any(r and r[0] == "secrets" for r in rows)


def test_roles_and_bindings_print_as_kubectl_expects(kubectl: Kubectl) -> None:
    out = kubectl("-n", "jupyterhub", "get", "rolebindings", "-o", "wide")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert row.split()[:2] == ["lscsde-spawner-hub", "Role/lscsde-spawner-hub"]
    assert row.split()[-1] == "jupyterhub/hub"
    assert "lscsde-spawner-hub" in kubectl("-n", "jupyterhub", "get", "roles")
    described = kubectl("-n", "jupyterhub", "describe", "role", "lscsde-spawner-hub")
    assert "analyticsworkspaces.xlscsde.nhs.uk/status" in described


def test_create_role_and_binding_with_kubectl(kubectl: Kubectl) -> None:
    kubectl("-n", "jupyterhub", "create", "role", "reader", "--verb=get,list",
            "--resource=configmaps")  # fmt: skip
    kubectl("-n", "jupyterhub", "create", "rolebinding", "reader", "--role=reader",
            "--serviceaccount=jupyterhub:hub")  # fmt: skip
    proc = kubectl.run("auth", "can-i", "list", "configmaps", "-n", "jupyterhub", "--as", HUB)
    assert proc.stdout.strip() == "yes"
    kubectl("-n", "jupyterhub", "delete", "rolebinding", "reader")
    proc = kubectl.run("auth", "can-i", "list", "configmaps", "-n", "jupyterhub", "--as", HUB)
    assert proc.stdout.strip() == "no"
