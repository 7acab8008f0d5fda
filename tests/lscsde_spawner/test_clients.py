"""The typed async clients against the embedded API: custom resources, PVCs, events."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any, cast

import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from lscsde_spawner.kube import (
    JSON_PATCH,
    MERGE_PATCH,
    CustomResourceClient,
    EventRecorder,
    MalformedObject,
    StorageError,
    crates,
    datasource_bindings,
    datasources,
    ensure_pvc,
    object_reference,
    workspace_bindings,
    workspaces,
)
from lscsde_spawner.kube.events import ACCESS_REFUSED, SERVER_STARTED, truncate_utf8
from lscsde_spawner.models import (
    GROUP,
    VERSION,
    AnalyticsCrate,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
)
from tests.support.factories import custom_object
from tests.support.kube import expect_status

NS = "default"


@pytest_asyncio.fixture
async def api(crds: ApiClient) -> ApiClient:
    """The kube client, with the product CRDs of the five kinds installed."""
    return crds


# -- sample objects -----------------------------------------------------------------------------

SPECS: dict[str, dict[str, Any]] = {
    AnalyticsWorkspace.KIND: {
        "displayName": "Diabetes study",
        "description": "Line one\nline two",
        "validity": {"availableFrom": "2024-01-01", "expires": "2030-12-31"},
        "jupyterWorkspace": {"image": "jupyter/datascience-notebook:2024-05-01"},
    },
    AnalyticsWorkspaceBinding.KIND: {
        "workspace": "ws1",
        "username": "Ada.Lovelace@example.org",
        "expires": "2030-01-31",
        "replicas": 0,
    },
    AnalyticsDataSource.KIND: {"displayName": "Hospital episodes", "type": "databricks"},
    AnalyticsDataSourceBinding.KIND: {"workspace": "ws1", "datasource": "hes"},
    AnalyticsCrate.KIND: {"displayName": "Cohort crate", "repo": {"url": "https://x/y.git"}},
}

# A second status field of each kind (a data source's status has only statusText).
STATUS_FIELD: dict[str, tuple[str, str]] = {
    AnalyticsWorkspace.KIND: ("persistentVolumeClaim", "ws1-shared"),
    AnalyticsWorkspaceBinding.KIND: ("lastActiveCheck", "2024-05-01T00:00:00Z"),
    AnalyticsDataSourceBinding.KIND: ("lastActiveCheck", "2024-05-01T00:00:00Z"),
    AnalyticsCrate.KIND: ("commitId", "0123abc"),
}

FACTORIES: dict[str, Callable[..., CustomResourceClient[Any]]] = {
    AnalyticsWorkspace.KIND: workspaces,
    AnalyticsWorkspaceBinding.KIND: workspace_bindings,
    AnalyticsDataSource.KIND: datasources,
    AnalyticsDataSourceBinding.KIND: datasource_bindings,
    AnalyticsCrate.KIND: crates,
}
KINDS = list(FACTORIES)


def raw(kind: str, name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return custom_object(kind, name, {**SPECS[kind], **spec}, labels=labels or {})


def crclient(api: ApiClient, kind: str) -> CustomResourceClient[Any]:
    return FACTORIES[kind](api, NS)


def build(c: CustomResourceClient[Any], name: str, labels: dict[str, str] | None = None) -> Any:
    """A model built in Python (kind and apiVersion left at their defaults, so unset)."""
    return c.model.model_validate(
        {"metadata": {"name": name, "labels": labels or {}}, "spec": SPECS[c.model.KIND]}
    )


def custom_objects(api: ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


# -- custom resources ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_create_get_list_delete(api: ApiClient, kind: str) -> None:
    c = crclient(api, kind)
    made = await c.create(build(c, "one", {"tier": "gold"}))
    await c.create(build(c, "two", {"tier": "silver"}))
    assert isinstance(made, c.model)
    assert made.name == "one" and made.metadata.namespace == NS and made.metadata.uid
    got = await c.get("one")
    assert got.to_dict() == made.to_dict()

    everything = await c.list()
    assert sorted(o.name for o in everything.items) == ["one", "two"] and not everything.errors
    gold = await c.list(label_selector="tier=gold")
    assert [o.name for o in gold.items] == ["one"]
    by_name = await c.list(field_selector="metadata.name=two")
    assert [o.name for o in by_name.items] == ["two"]
    both = await c.list(label_selector="tier in (gold,silver)", field_selector="metadata.name!=two")
    assert [o.name for o in both.items] == ["one"]

    raw_list = await c.list_raw()
    assert raw_list["metadata"]["resourceVersion"]
    assert len(raw_list["items"]) == 2

    await c.delete("one")
    await expect_status(c.get("one"), 404, "NotFound")
    await expect_status(c.delete("one"), 404, "NotFound")
    assert [o.name for o in (await c.list()).items] == ["two"]


@pytest.mark.parametrize("kind", KINDS)
async def test_replace_with_a_stale_resource_version_conflicts(api: ApiClient, kind: str) -> None:
    c = crclient(api, kind)
    first = await c.create(build(c, "obj"))
    changed = first.model_copy(deep=True)
    changed.metadata.labels = {"edited": "yes"}
    second = await c.replace(changed)
    assert second.metadata.labels == {"edited": "yes"}
    assert second.metadata.resource_version != first.metadata.resource_version
    body = await expect_status(c.replace(first), 409, "Conflict")
    assert "modified" in body["message"]
    assert (await c.get("obj")).metadata.labels == {"edited": "yes"}


@pytest.mark.parametrize("kind", KINDS)
async def test_merge_json_and_status_patches(api: ApiClient, kind: str) -> None:
    c = crclient(api, kind)
    await c.create(build(c, "p", {"keep": "me", "drop": "me"}))

    merged = await c.patch_merge("p", {"metadata": {"labels": {"drop": None, "new": "1"}}})
    assert merged.metadata.labels == {"keep": "me", "new": "1"}

    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/labels/keep", "value": "me"},
        {"op": "add", "path": "/metadata/annotations", "value": {"note": "json"}},
    ]
    patched = await c.patch_json("p", ops)
    assert patched.metadata.annotations == {"note": "json"}
    failing = [{"op": "test", "path": "/metadata/labels/keep", "value": "other"}]
    await expect_status(c.patch_json("p", failing), 422, "Invalid")

    status = await c.patch_status("p", {"statusText": "Provisioned"})
    assert status.status is not None and status.status.status_text == "Provisioned"
    # A second status patch merges into the first.
    if kind in STATUS_FIELD:
        field, value = STATUS_FIELD[kind]
        again = await c.patch_status("p", {field: value})
        assert again.to_dict()["status"] == {"statusText": "Provisioned", field: value}
    # A status patch cannot change the spec, and a main-resource patch cannot change status.
    await c.patch_merge("p", {"status": {"statusText": "Hacked"}})
    assert (await c.get("p")).to_dict()["status"]["statusText"] == "Provisioned"


class Spy:
    """Records the method, URL and Content-Type of every request the client sends."""

    def __init__(self, api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[tuple[str, str, str | None]] = []
        original = api.rest_client.request

        async def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            headers = kwargs.get("headers") or {}
            self.sent.append((method, url, headers.get("Content-Type")))
            return await original(method, url, *args, **kwargs)

        monkeypatch.setattr(api.rest_client, "request", request)

    def patches(self) -> list[tuple[str, str | None]]:
        return [
            (url.split("/")[-1], ctype) for method, url, ctype in self.sent if method == "PATCH"
        ]


async def test_each_patch_sends_its_content_type(
    api: ApiClient, local_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = workspaces(api, NS)
    await c.create(build(c, "ws1"))
    # A wrong content type shows up as a failure: without one, kubernetes_asyncio sends a dict
    # body as a JSON patch (400), and the server refuses strategic merge on custom resources.
    co, labels = custom_objects(api), {"metadata": {"labels": {"a": "b"}}}
    args = (GROUP, VERSION, NS, "analyticsworkspaces", "ws1", labels)
    await expect_status(co.patch_namespaced_custom_object(*args), 400, "BadRequest")
    strategic = "application/strategic-merge-patch+json"
    untyped: Any = co  # takes _content_type, unlike its stubs
    await expect_status(
        untyped.patch_namespaced_custom_object(*args, _content_type=strategic),
        415,
        "UnsupportedMediaType",
    )

    spy = Spy(api, monkeypatch)
    local_cluster.requests.reset()
    await c.patch_merge("ws1", {"spec": {"displayName": "Renamed"}})
    await c.patch_json("ws1", [{"op": "replace", "path": "/spec/description", "value": "New"}])
    updated = await c.patch_status("ws1", {"statusText": "Waiting"})

    assert spy.patches() == [("ws1", MERGE_PATCH), ("ws1", JSON_PATCH), ("status", MERGE_PATCH)]
    patches = [
        (r.method, r.path, r.resource, r.status)
        for r in local_cluster.requests.entries
        if r.verb == "patch"
    ]
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/analyticsworkspaces/ws1"
    assert patches == [
        ("PATCH", base, "analyticsworkspaces", 200),
        ("PATCH", base, "analyticsworkspaces", 200),
        ("PATCH", base + "/status", "analyticsworkspaces/status", 200),
    ]
    assert updated.spec.display_name == "Renamed" and updated.spec.description == "New"
    assert updated.status is not None and updated.status.status_text == "Waiting"


async def test_a_malformed_object_never_fails_the_list(api: ApiClient) -> None:
    co = custom_objects(api)
    good = raw(AnalyticsWorkspace.KIND, "good")
    # The API server accepts it, our model does not (an image reference has no spaces).
    bad = raw(AnalyticsWorkspace.KIND, "bad", jupyterWorkspace={"image": "not an image"})
    for obj in (good, bad):
        await co.create_namespaced_custom_object(GROUP, VERSION, NS, "analyticsworkspaces", obj)
    c = workspaces(api, NS)

    listed = await c.list()
    assert [w.name for w in listed.items] == ["good"]
    [error] = listed.errors
    assert (error.kind, error.namespace, error.name) == ("AnalyticsWorkspace", NS, "bad")
    assert "image" in error.reason
    with pytest.raises(MalformedObject) as info:
        await c.get("bad")
    assert info.value.error.name == "bad" and "malformed" in str(info.value)


async def test_unknown_fields_survive_a_read_modify_write(api: ApiClient) -> None:
    co = custom_objects(api)
    where = (GROUP, VERSION, NS, "analyticsworkspacebindings")
    # A field our model does not know (kept if the CRD's schema keeps it) and replicas.
    obj = raw(AnalyticsWorkspaceBinding.KIND, "b1", replicas=2, futureField={"x": 1})
    await co.create_namespaced_custom_object(*where, obj)
    before = await co.get_namespaced_custom_object(*where, "b1")
    c = workspace_bindings(api, NS)
    binding = await c.get("b1")
    binding.spec.comments = "renewed"
    await c.replace(binding)
    after = await co.get_namespaced_custom_object(*where, "b1")
    assert after["spec"] == {**before["spec"], "comments": "renewed"}
    assert after["spec"]["replicas"] == 2
    scale = await co.get_namespaced_custom_object_scale(*where, "b1")
    assert scale["spec"]["replicas"] == 2


async def test_request_timeout_is_passed_on(api: ApiClient, local_cluster: LocalCluster) -> None:
    local_cluster.faults.delay(2.0, verb="get", path="analyticsworkspaces/slow", times=1)
    c = workspaces(api, NS, request_timeout=0.2)
    with pytest.raises(asyncio.TimeoutError):
        await c.get("slow")


# -- PVCs ---------------------------------------------------------------------------------------

PVC_ARGS: dict[str, Any] = {
    "storage_class": "fast",
    "access_modes": ["ReadWriteMany"],
    "size": "10Gi",
    "labels": {"xlscsde.nhs.uk/workspace": "ws1"},
}


async def ensure(api: ApiClient, name: str = "shared") -> str:
    return await ensure_pvc(client.CoreV1Api(api), NS, name, **PVC_ARGS)


async def test_ensure_pvc_creates_then_reuses(
    kube_client: ApiClient, local_cluster: LocalCluster
) -> None:
    assert await ensure(kube_client) == "created"
    pvc = await client.CoreV1Api(kube_client).read_namespaced_persistent_volume_claim("shared", NS)
    assert pvc.metadata.labels == {
        "xlscsde.nhs.uk/workspace": "ws1",
        "app.kubernetes.io/managed-by": "lscsde-spawner",
    }
    assert pvc.spec.storage_class_name == "fast"
    assert pvc.spec.access_modes == ["ReadWriteMany"]
    assert pvc.spec.resources.requests == {"storage": "10Gi"}

    local_cluster.requests.reset()
    assert await ensure(kube_client) == "exists"
    assert local_cluster.requests.count(verb="create") == 0
    assert local_cluster.requests.count(verb="get", resource="persistentvolumeclaims") == 1


async def test_ensure_pvc_without_a_class_uses_the_default(kube_client: ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    args = {**PVC_ARGS, "storage_class": None}
    assert await ensure_pvc(core, NS, "plain", **args) == "created"
    pvc = await core.read_namespaced_persistent_volume_claim("plain", NS)
    assert pvc.spec.storage_class_name  # the cluster's default, filled in by the server


async def test_concurrent_creators_both_succeed(
    kube_client: ApiClient, local_cluster: LocalCluster
) -> None:
    # Hold both POSTs back until both GETs have seen no claim: one POST then loses with 409.
    local_cluster.faults.delay(0.3, verb="create", path="persistentvolumeclaims")
    results = await asyncio.gather(ensure(kube_client), ensure(kube_client))
    assert sorted(results) == ["created", "exists"]
    assert local_cluster.requests.count(verb="create", resource="persistentvolumeclaims") == 2


async def test_already_exists_after_a_missed_get_counts_as_exists(
    kube_client: ApiClient, local_cluster: LocalCluster
) -> None:
    assert await ensure(kube_client) == "created"
    # Our GET misses it (created in between), so the POST answers 409 AlreadyExists.
    local_cluster.faults.fail(status=404, verb="get", path="persistentvolumeclaims/shared")
    local_cluster.faults.fail(status=409, verb="create", path="persistentvolumeclaims")
    assert await ensure(kube_client) == "exists"


async def test_a_409_for_a_claim_that_is_not_there_is_an_error(
    kube_client: ApiClient, local_cluster: LocalCluster
) -> None:
    local_cluster.faults.fail(status=409, verb="create", path="persistentvolumeclaims")
    with pytest.raises(StorageError) as info:
        await ensure(kube_client)
    assert info.value.status == 409
    assert "'shared'" in str(info.value) and "409" in str(info.value)


async def test_quota_refusal_names_the_claim(
    kube_client: ApiClient, local_cluster: LocalCluster
) -> None:
    local_cluster.faults.fail(
        status=403,
        verb="create",
        path="persistentvolumeclaims",
        message='persistentvolumeclaims "shared" is forbidden: exceeded quota: storage',
    )
    with pytest.raises(StorageError) as info:
        await ensure(kube_client)
    message = str(info.value)
    assert "'shared'" in message and f"'{NS}'" in message
    assert "quota" in message and "permission" in message and "exceeded quota" in message
    assert (info.value.name, info.value.namespace, info.value.status) == ("shared", NS, 403)


@pytest.mark.parametrize("verb", ["get", "create"])
async def test_server_errors_name_the_status(
    kube_client: ApiClient, local_cluster: LocalCluster, verb: str
) -> None:
    local_cluster.faults.fail(status=500, verb=verb, path="persistentvolumeclaims")
    with pytest.raises(StorageError) as info:
        await ensure(kube_client)
    assert "500" in str(info.value) and "'shared'" in str(info.value)
    assert info.value.status == 500


async def test_a_claim_being_deleted_is_not_reused(kube_client: ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    held = {
        "metadata": {"name": "shared", "finalizers": ["example.org/hold"]},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await core.create_namespaced_persistent_volume_claim(NS, cast(Any, held))
    await core.delete_namespaced_persistent_volume_claim("shared", NS)
    with pytest.raises(StorageError, match="being deleted"):
        await ensure(kube_client)


async def test_an_unreachable_api_is_a_storage_error(local_cluster: LocalCluster) -> None:
    config = client_configuration(local_cluster)
    config.host = "http://127.0.0.1:9"  # discard port: nothing listens
    async with ApiClient(config) as dead:
        with pytest.raises(StorageError, match="Could not reach"):
            await ensure(dead)


# -- events -------------------------------------------------------------------------------------

MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
REGARDING = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "AnalyticsWorkspace",
    "name": "ws1",
    "namespace": NS,
    "uid": "0b6c2f8e-0000-4000-8000-000000000001",
}


async def test_event_is_recorded_in_both_views(kube_client: ApiClient) -> None:
    recorder = EventRecorder(kube_client, NS, instance="hub-0")
    await recorder.record(
        REGARDING, SERVER_STARTED, "Started for ada", action="Spawn", type="Normal"
    )

    events = client.EventsV1Api(kube_client)
    listed: Any = await events.list_namespaced_event(NS, _preload_content=False)
    [event] = (await listed.json())["items"]
    assert re.fullmatch(r"ws1\.[0-9a-f]{16}", event["metadata"]["name"])
    assert MICRO_TIME.match(event["eventTime"]), event["eventTime"]
    assert event["reportingController"] == "lscsde-spawner"
    assert event["reportingInstance"] == "hub-0"
    assert (event["action"], event["reason"], event["type"]) == ("Spawn", "ServerStarted", "Normal")
    assert event["note"] == "Started for ada"
    assert event["regarding"] == REGARDING

    core = await client.CoreV1Api(kube_client).list_namespaced_event(NS)
    [old] = core.items
    involved = old.involved_object
    assert (involved.kind, involved.name, involved.namespace, involved.uid) == (
        "AnalyticsWorkspace",
        "ws1",
        NS,
        REGARDING["uid"],
    )
    assert old.message == "Started for ada" and old.reason == "ServerStarted"
    assert old.reporting_component == "lscsde-spawner" and old.reporting_instance == "hub-0"
    assert old.event_time is not None


async def test_event_about_a_model_in_another_namespace(kube_client: ApiClient) -> None:
    namespace = {"metadata": {"name": "research"}}
    await client.CoreV1Api(kube_client).create_namespace(cast(Any, namespace))
    ws = AnalyticsWorkspace.model_validate(
        {
            "metadata": {"name": "ws2", "namespace": "research", "uid": "u-2"},
            "spec": SPECS[AnalyticsWorkspace.KIND],
        }
    )
    recorder = EventRecorder(kube_client, NS)
    await recorder.record(
        object_reference(ws), ACCESS_REFUSED, "Expired", action="Spawn", type="Warning"
    )
    events = await client.CoreV1Api(kube_client).list_namespaced_event("research")
    [event] = events.items
    assert event.type == "Warning" and event.involved_object.uid == "u-2"
    assert event.involved_object.api_version == f"{GROUP}/{VERSION}"


async def test_long_notes_are_cut_to_one_kib(kube_client: ApiClient) -> None:
    note = "é" * 2000  # 4000 bytes of UTF-8
    await EventRecorder(kube_client, NS).record(REGARDING, ACCESS_REFUSED, note, action="Spawn")
    [event] = (await client.CoreV1Api(kube_client).list_namespaced_event(NS)).items
    assert event.message == "é" * 512
    assert truncate_utf8("aé", 2) == "a"  # never half a character


async def test_event_failures_only_log(
    kube_client: ApiClient, local_cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    local_cluster.faults.fail(status=500, verb="create", path="events")
    recorder = EventRecorder(kube_client, NS)
    with caplog.at_level(logging.WARNING, logger="lscsde_spawner.kube.events"):
        await recorder.record(REGARDING, SERVER_STARTED, "note", action="Spawn")
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "ServerStarted" in warning.getMessage() and "500" in warning.getMessage()
    assert (await client.CoreV1Api(kube_client).list_namespaced_event(NS)).items == []

    # Refused by validation (a reason that is far too long is cut, an invalid type is not).
    await recorder.record(REGARDING, "R" * 500, "note", action="Spawn", type="Bogus")  # type: ignore[arg-type]
    assert (await client.CoreV1Api(kube_client).list_namespaced_event(NS)).items == []
