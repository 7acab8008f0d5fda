"""apiregistration.k8s.io/v1 APIServices, as the kube-aggregator serves them."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from tests.support.kube import expect_status
from tests.support.kubectl import KUBECTL, Kubectl
from tests.support.sample_crds import GROUP, WIDGET_CRD

PEERS = Path("/tmp/peers/python")
LOCAL = {"type": "Available", "status": "True", "reason": "Local",
         "message": "Local APIServices are always available"}  # fmt: skip


def wardle(**spec: Any) -> dict[str, Any]:
    """The sample-apiserver's APIService, as the python client's e2e test creates it."""
    base = {
        "insecureSkipTLSVerify": True, "group": "wardle.k8s.io", "groupPriorityMinimum": 1000,
        "versionPriority": 15, "service": {"name": "api", "namespace": "wardle"},
        "version": "v1alpha1",
    }  # fmt: skip
    base.update(spec)
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1alpha1.wardle.k8s.io"}, "spec": base}  # fmt: skip


def available(obj: Any) -> dict[str, Any]:
    conditions = [c.to_dict() if hasattr(c, "to_dict") else c for c in obj["status"]["conditions"]]
    (cond,) = [c for c in conditions if c["type"] == "Available"]
    return {
        k: v for k, v in cond.items() if k not in ("lastTransitionTime", "last_transition_time")
    }


async def _raw(kube: ApiClient, name: str) -> dict[str, Any]:
    """The APIService as the server wrote it (the client's models drop what they lack)."""
    api: Any = client.ApiregistrationV1Api(kube)
    resp = await api.read_api_service(name, _preload_content=False)
    body: dict[str, Any] = json.loads(await resp.read())
    return body


async def test_local_apiservices_for_every_served_group_version(kube_client: ApiClient) -> None:
    api: Any = client.ApiregistrationV1Api(kube_client)
    names = [s.metadata.name for s in (await api.list_api_service()).items]
    for name in (
        "v1.",
        "v1.apiextensions.k8s.io",
        "v1.authentication.k8s.io",
        "v1.authorization.k8s.io",
        "v1.events.k8s.io",
        "v1.rbac.authorization.k8s.io",
    ):
        assert name in names  # fmt: skip
    assert "v1.apiregistration.k8s.io" not in names  # the aggregator's own group has none
    core = await _raw(kube_client, "v1.")
    assert core["metadata"]["labels"] == {"kube-aggregator.kubernetes.io/automanaged": "onstart"}
    assert core["spec"] == {"service": None, "version": "v1", "groupPriorityMinimum": 18000,
                            "versionPriority": 1}  # fmt: skip
    assert available(core) == LOCAL
    rbac = await _raw(kube_client, "v1.rbac.authorization.k8s.io")
    assert rbac["spec"] == {"service": None, "group": "rbac.authorization.k8s.io", "version": "v1",
                            "groupPriorityMinimum": 17000, "versionPriority": 15}  # fmt: skip


async def test_crd_group_versions_are_registered_while_a_crd_serves_them(
    kube_client: ApiClient,
) -> None:
    api: Any = client.ApiregistrationV1Api(kube_client)
    ext: Any = client.ApiextensionsV1Api(kube_client)
    crd = copy.deepcopy(WIDGET_CRD)
    crd["spec"]["versions"].append({**crd["spec"]["versions"][0], "name": "v2", "storage": False})
    await ext.create_custom_resource_definition(crd)
    for version in ("v1", "v2"):
        got = await _raw(kube_client, f"{version}.{GROUP}")
        assert got["metadata"]["labels"] == {"kube-aggregator.kubernetes.io/automanaged": "true"}
        assert got["spec"] == {"service": None, "group": GROUP, "version": version,
                               "groupPriorityMinimum": 1000, "versionPriority": 100}  # fmt: skip
        assert available(got) == LOCAL
    # Deleted while the CRD serves it, it comes back; a version no longer served goes.
    await api.delete_api_service(f"v1.{GROUP}")
    assert (await api.read_api_service(f"v1.{GROUP}")).spec.version == "v1"
    crd = (await ext.read_custom_resource_definition(WIDGET_CRD["metadata"]["name"])).to_dict()
    live = await ext.read_custom_resource_definition(WIDGET_CRD["metadata"]["name"])
    live.spec.versions[1].served = False
    await ext.replace_custom_resource_definition(live.metadata.name, live)
    await expect_status(api.read_api_service(f"v2.{GROUP}"), 404, "NotFound")
    await ext.delete_custom_resource_definition(crd["metadata"]["name"])
    await expect_status(api.read_api_service(f"v1.{GROUP}"), 404, "NotFound")


async def test_validation_of_the_real_field_errors(kube_client: ApiClient) -> None:
    api: Any = client.ApiregistrationV1Api(kube_client)
    bad = wardle(groupPriorityMinimum=0, versionPriority=1001, caBundle="AAAA", group="Wardle")
    bad["spec"]["service"] = {"port": 443}
    body = await expect_status(api.create_api_service(bad), 422, "Invalid")
    assert body["message"] == (
        'APIService.apiregistration.k8s.io "v1alpha1.wardle.k8s.io" is invalid: ['
        'metadata.name: Invalid value: "v1alpha1.wardle.k8s.io": must be '
        '`spec.version+"."+spec.group`: "v1alpha1.Wardle", '
        'spec.group: Invalid value: "Wardle": a lowercase RFC 1123 subdomain must consist of '
        "lower case alphanumeric characters, '-' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), "
        "spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000, "
        "spec.versionPriority: Invalid value: 1001: must be positive and less than 1000, "
        "spec.service.namespace: Required value, spec.service.name: Required value, "
        "spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present]"
    )
    local = wardle(caBundle="AAAA", service=None)
    body = await expect_status(api.create_api_service(local), 422, "Invalid")
    assert [c["field"] for c in body["details"]["causes"]] == [
        "spec.caBundle", "spec.insecureSkipTLSVerify"]  # fmt: skip
    assert body["details"]["causes"][0]["message"] == (
        'Invalid value: "3 bytes": local APIServices may not have a caBundle'
    )
    legacy = {**wardle(group="", version="v2"), "metadata": {"name": "v2."}}
    body = await expect_status(api.create_api_service(legacy), 422, "Invalid")
    assert "spec.group: Required value: only v1 may have an empty group" in body["message"]
    typed = wardle(groupPriorityMinimum="high")
    body = await expect_status(api.create_api_service(typed), 400, "BadRequest")
    assert "cannot unmarshal string into Go struct field" in body["message"]


async def _wait_ready(core: Any, namespace: str, name: str) -> None:
    for _ in range(100):
        pod = await core.read_namespaced_pod(name, namespace)
        if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the pod never became ready")


async def test_remote_apiservice_availability_follows_its_service(
    kube_client: ApiClient,
) -> None:
    api: Any = client.ApiregistrationV1Api(kube_client)
    core: Any = client.CoreV1Api(kube_client)
    created = await api.create_api_service(wardle())
    assert created.spec.service.port == 443  # defaulted
    assert available(await _raw(kube_client, "v1alpha1.wardle.k8s.io")) == {
        "type": "Available", "status": "False", "reason": "ServiceNotFound",
        "message": 'service/api in "wardle" is not present'}  # fmt: skip

    await core.create_namespace({"metadata": {"name": "wardle"}})
    service = {"metadata": {"name": "api"}, "spec": {"ports": [{"port": 443, "name": "https"}]}}
    await core.create_namespaced_service("wardle", service)
    got = available(await _raw(kube_client, "v1alpha1.wardle.k8s.io"))
    assert (got["reason"], got["message"]) == (
        "EndpointsNotFound",
        'cannot find endpoints for service/api in "wardle"',
    )
    await core.patch_namespaced_service("api", "wardle", {"spec": {"selector": {"app": "w"}}})
    got = available(await _raw(kube_client, "v1alpha1.wardle.k8s.io"))
    assert (got["reason"], got["message"]) == ("MissingEndpoints", 'endpoints for service/api '
                                               'in "wardle" have no addresses with port name '
                                               '"https"')  # fmt: skip
    pod = {"metadata": {"name": "w", "labels": {"app": "w"}},
           "spec": {"containers": [{"name": "c", "image": "wardle"}]}}  # fmt: skip
    await core.create_namespaced_pod("wardle", pod)
    await _wait_ready(core, "wardle", "w")
    await core.patch_namespaced_service("api", "wardle", {"metadata": {"labels": {"a": "b"}}})
    got = available(await _raw(kube_client, "v1alpha1.wardle.k8s.io"))
    assert got["status"] == "False" and got["reason"] == "FailedDiscoveryCheck"
    assert got["message"].startswith("failing or missing response from https://")
    # On another port than the APIService's: not listening.
    await core.patch_namespaced_service(
        "api",
        "wardle",
        {"spec": {"ports": [{"port": 8443}]}},
        _content_type="application/merge-patch+json",
    )
    got = available(await _raw(kube_client, "v1alpha1.wardle.k8s.io"))
    assert (got["reason"], got["message"]) == (
        "ServicePortError",
        'service/api in "wardle" is not listening on port 443',
    )
    await core.delete_namespaced_service("api", "wardle")
    got = available(await _raw(kube_client, "v1alpha1.wardle.k8s.io"))
    assert got["reason"] == "ServiceNotFound"


async def test_updates_status_watch_and_access(local_cluster: LocalCluster) -> None:
    async with ApiClient(client_configuration(local_cluster)) as kube:
        api: Any = client.ApiregistrationV1Api(kube)
        events = []
        async with watch.Watch() as w:
            stream = w.stream(api.list_api_service, timeout_seconds=5)
            created = await api.create_api_service(wardle())
            async for event in stream:
                events.append((event["type"], event["object"].metadata.name))
                if events[-1] == ("ADDED", "v1alpha1.wardle.k8s.io"):
                    break
        assert ("ADDED", "v1.") in events
        # An update needs the resourceVersion (no unconditional updates), and keeps status.
        body = created.to_dict()
        body["metadata"]["resource_version"] = None
        body["spec"]["version_priority"] = 20
        body = api.api_client.sanitize_for_serialization(client.V1APIService(**{
            k: v for k, v in body.items() if k in ("metadata", "spec", "status")}))  # fmt: skip
        body["metadata"].pop("resourceVersion", None)
        err = await expect_status(api.replace_api_service(created.metadata.name, body), 422,
                                  "Invalid")  # fmt: skip
        assert "metadata.resourceVersion: Invalid value: " in err["message"]
        assert err["message"].endswith("must be specified for an update")
        # The status subresource checks the condition status values, and changes nothing else.
        live = await _raw(kube, created.metadata.name)
        live["status"]["conditions"][0]["status"] = "Maybe"
        err = await expect_status(
            api.replace_api_service_status(created.metadata.name, live), 422, "Invalid"
        )
        assert (
            'status.conditions[0].status: Unsupported value: "Maybe": supported values: '
            '"True", "False", "Unknown"' in err["message"]
        )
        # RBAC: an ordinary user may not read them.
        headers = {**local_cluster.headers, "Impersonate-User": "jane"}
        async with aiohttp.ClientSession(headers=headers) as http:
            resp = await http.get(local_cluster.url + "/apis/apiregistration.k8s.io/v1/apiservices")
            body = await resp.json()
        assert resp.status == 403
        assert body["message"] == (
            'apiservices.apiregistration.k8s.io is forbidden: User "jane" cannot list resource '
            '"apiservices" in API group "apiregistration.k8s.io" at the cluster scope'
        )


async def test_discovery_lists_aggregated_groups_and_the_proxy_answers_503(
    local_cluster: LocalCluster,
) -> None:
    async with ApiClient(client_configuration(local_cluster)) as kube:
        api: Any = client.ApiregistrationV1Api(kube)
        async with aiohttp.ClientSession(headers=local_cluster.headers) as http:

            async def get(path: str) -> tuple[int, str, str]:
                resp = await http.get(local_cluster.url + path)
                return resp.status, resp.headers.get("Content-Type", ""), await resp.text()

            _, _, text = await get("/apis")
            groups = [g["name"] for g in json.loads(text)["groups"]]
            assert groups[0] == "apiregistration.k8s.io" and "wardle.k8s.io" not in groups
            await api.create_api_service(wardle())
            _, _, text = await get("/apis")
            assert [g["name"] for g in json.loads(text)["groups"]][-1] == "wardle.k8s.io"
            status, _, text = await get("/apis/wardle.k8s.io")
            assert (status, json.loads(text)["preferredVersion"]["version"]) == (200, "v1alpha1")
            for path in ("/apis/wardle.k8s.io/v1alpha1", "/apis/wardle.k8s.io/v1alpha1/flunders"):
                assert await get(path) == (
                    503,
                    "text/plain; charset=utf-8",
                    "service unavailable\n",
                )
            await api.delete_api_service("v1alpha1.wardle.k8s.io")
            status, _, _ = await get("/apis/wardle.k8s.io/v1alpha1")
            assert status == 404


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")
def test_kubectl_get_apiservices_columns(local_cluster: LocalCluster, tmp_path: Path) -> None:
    kubectl = Kubectl(local_cluster, tmp_path)
    kubectl("apply", "-f", "-", stdin=json.dumps(wardle()))
    lines = kubectl("get", "apiservices").splitlines()
    assert lines[0].split() == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    rows = {line.split()[0]: line.split()[1:-1] for line in lines[1:]}
    assert rows["v1."] == ["Local", "True"]
    assert rows["v1alpha1.wardle.k8s.io"] == ["wardle/api", "False", "(ServiceNotFound)"]
    assert "apiservice.apiregistration.k8s.io/v1.apps" in kubectl(
        "get", "api-extensions", "-o", "name"
    )
    kubectl("delete", "apiservice", "v1alpha1.wardle.k8s.io")


def test_restart_keeps_one_of_each(tmp_path: Path) -> None:
    def uids() -> dict[str, str]:
        with LocalCluster(data_dir=tmp_path, kubelet=False) as cluster:
            assert cluster.api is not None
            found = cluster.api.store.items(("apiregistration.k8s.io", "apiservices"))
            return {o["metadata"]["name"]: o["metadata"]["uid"] for o in found}

    first = uids()
    assert "v1." in first
    assert uids() == first


@pytest.mark.skipif(
    not (PEERS / "kubernetes/e2e_test/test_utils.py").exists(),
    reason="no kubernetes-client/python checkout at /tmp/peers/python",
)
def test_python_client_e2e_create_apiservice_with_conflict(local_cluster: LocalCluster) -> None:
    test = (
        "kubernetes/e2e_test/test_utils.py::TestUtils::"
        "test_create_apiservice_from_yaml_with_conflict"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:kubesim",
         "-o", "addopts=", test],
        cwd=PEERS, capture_output=True, text=True, timeout=120,
        env={**os.environ, "KUBECONFIG": str(local_cluster.kubeconfig),
             "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
