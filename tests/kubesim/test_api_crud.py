"""kubernetes_asyncio against the embedded API: CRUD, patches, conflicts, selectors, pagination."""

from __future__ import annotations

from typing import Any, cast

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.kube import expect_status


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> Any:
    """A ConfigMap body as a plain dict (Any: the client sends dicts as they are, but its stubs
    ask for a V1ConfigMap)."""
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


async def test_default_namespaces_and_service_account(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    names = {ns.metadata.name for ns in (await v1.list_namespace()).items}
    assert {"default", "kube-system"} <= names
    sa = await v1.read_namespaced_service_account("default", "default")
    assert sa.metadata.uid


async def test_create_get_update_delete(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    created = await v1.create_namespaced_config_map("default", cm("one", a="1"))
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and int(meta.resource_version) > 0
    got = await v1.read_namespaced_config_map("one", "default")
    assert got.data == {"a": "1"} and got.metadata.resource_version == meta.resource_version

    got.data["b"] = "2"
    updated = await v1.replace_namespaced_config_map("one", "default", got)
    assert int(updated.metadata.resource_version) > int(meta.resource_version)
    assert updated.metadata.uid == meta.uid

    # A stale resourceVersion is a 409 Conflict, and the object is unchanged.
    got.data["c"] = "3"
    await expect_status(v1.replace_namespaced_config_map("one", "default", got), 409, "Conflict")
    assert (await v1.read_namespaced_config_map("one", "default")).data == {"a": "1", "b": "2"}

    await expect_status(v1.create_namespaced_config_map("default", cm("one")), 409, "AlreadyExists")
    await v1.delete_namespaced_config_map("one", "default")
    body = await expect_status(v1.read_namespaced_config_map("one", "default"), 404, "NotFound")
    assert body["message"] == 'configmaps "one" not found'


async def test_resource_versions_increase_cluster_wide(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    a = await v1.create_namespaced_config_map("default", cm("a"))
    b = await v1.create_namespaced_secret("default", cast(Any, {"metadata": {"name": "b"}}))
    c = await v1.create_namespaced_config_map("kube-system", cm("c"))
    rvs = [int(x.metadata.resource_version) for x in (a, b, c)]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3


async def test_generate_name(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    made = await v1.create_namespaced_config_map(
        "default", cast(Any, {"metadata": {"generateName": "gen-"}})
    )
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == 9


async def test_names_and_labels_are_validated(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    body = await expect_status(
        v1.create_namespaced_config_map("default", cm("Not_Valid")), 422, "Invalid"
    )
    assert "metadata.name" in body["message"]
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    body = await expect_status(
        v1.create_namespaced_config_map("default", cm("ok", labels={"k": "x" * 64})),
        422,
        "Invalid",
    )
    assert "metadata.labels" in body["message"]
    body = await expect_status(
        v1.create_namespaced_config_map("default", cast(Any, {"metadata": {}})), 422, "Invalid"
    )
    assert "metadata.name: Required value" in body["message"]


async def test_namespace_must_exist(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    body = await expect_status(v1.create_namespaced_config_map("nowhere", cm("x")), 404, "NotFound")
    assert body["message"] == 'namespaces "nowhere" not found'


async def test_three_patch_types(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    await v1.create_namespaced_config_map("default", cm("p", labels={"keep": "1"}, a="1", b="2"))
    # A dict body is sent as a strategic merge patch for built-in kinds.
    out = await v1.patch_namespaced_config_map("p", "default", {"data": {"b": None, "c": "3"}})
    assert out.data == {"a": "1", "c": "3"} and out.metadata.labels == {"keep": "1"}
    # A list body is a JSON patch.
    out = await v1.patch_namespaced_config_map(
        "p", "default", [{"op": "replace", "path": "/data/a", "value": "9"}]
    )
    assert out.data == {"a": "9", "c": "3"}
    untyped: Any = v1  # takes _content_type, unlike its stubs
    out = await untyped.patch_namespaced_config_map(
        "p", "default", {"metadata": {"labels": {"new": "y"}}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    assert out.metadata.labels == {"keep": "1", "new": "y"}
    # A failing JSON-patch test leaves the object alone.
    await expect_status(
        v1.patch_namespaced_config_map(
            "p", "default", [{"op": "test", "path": "/data/a", "value": "nope"}]
        ),
        422,
        "Invalid",
    )
    # A patch carrying a stale resourceVersion is a conflict.
    await expect_status(
        v1.patch_namespaced_config_map(
            "p", "default", {"metadata": {"resourceVersion": "1"}, "data": {"z": "1"}}
        ),
        409,
        "Conflict",
    )


async def test_strategic_merge_of_pod_containers_and_volumes(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    pod: Any = {
        "metadata": {"name": "smp"},
        "spec": {
            "containers": [{"name": "main", "image": "busybox:1"}],
            "volumes": [{"name": "a", "emptyDir": {}}],
        },
    }
    await v1.create_namespaced_pod("default", pod)
    out = await v1.patch_namespaced_pod(
        "smp", "default", {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}
    )
    assert [c.image for c in out.spec.containers] == ["busybox:2"]
    # Changing anything else in a pod spec is forbidden, as on a real server.
    body = await expect_status(
        v1.patch_namespaced_pod(
            "smp", "default", {"spec": {"volumes": [{"name": "b", "emptyDir": {}}]}}
        ),
        422,
        "Invalid",
    )
    assert "spec: Forbidden" in body["message"]


async def test_label_selectors(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    await v1.create_namespaced_config_map("default", cm("l1", labels={"app": "a", "tier": "web"}))
    await v1.create_namespaced_config_map("default", cm("l2", labels={"app": "b", "tier": "db"}))
    await v1.create_namespaced_config_map("default", cm("l3", labels={"app": "c"}))

    async def names(selector: str) -> list[str]:
        items = (await v1.list_namespaced_config_map("default", label_selector=selector)).items
        return sorted(i.metadata.name for i in items if i.metadata.name.startswith("l"))

    assert await names("app=a") == ["l1"]
    assert await names("app==b") == ["l2"]
    assert await names("app!=a") == ["l2", "l3"]
    assert await names("app in (a,c)") == ["l1", "l3"]
    assert await names("app notin (a,c)") == ["l2"]
    assert await names("tier") == ["l1", "l2"]
    assert await names("!tier") == ["l3"]
    assert await names("app,tier=db") == ["l2"]
    await expect_status(
        v1.list_namespaced_config_map("default", label_selector="app in (a"), 400, "BadRequest"
    )


async def test_field_selectors(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    await v1.create_namespaced_config_map("default", cm("f1"))
    await v1.create_namespaced_config_map("kube-system", cm("f1"))
    items = (await v1.list_config_map_for_all_namespaces(field_selector="metadata.name=f1")).items
    assert sorted(i.metadata.namespace for i in items) == ["default", "kube-system"]
    items = (
        await v1.list_config_map_for_all_namespaces(
            field_selector="metadata.name=f1,metadata.namespace!=default"
        )
    ).items
    assert [i.metadata.namespace for i in items] == ["kube-system"]
    body = await expect_status(
        v1.list_namespaced_config_map("default", field_selector="data.x=1"), 400, "BadRequest"
    )
    # Kinds without field conversions answer this way on a real server.
    assert body["message"].startswith('"data.x" is not a known field selector')
    body = await expect_status(
        v1.list_namespaced_pod("default", field_selector="spec.foo=1"), 400, "BadRequest"
    )
    assert body["message"] == "field label not supported: spec.foo"


async def test_pagination_is_a_consistent_snapshot(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    for i in range(5):
        await v1.create_namespaced_config_map("kube-public", cm(f"page{i}"))
    first = await v1.list_namespaced_config_map("kube-public", limit=2)
    assert [i.metadata.name for i in first.items] == ["page0", "page1"]
    assert first.metadata.remaining_item_count == 3 and first.metadata._continue
    # Changes after the first page do not show in later pages.
    await v1.create_namespaced_config_map("kube-public", cm("page5"))
    await v1.delete_namespaced_config_map("page3", "kube-public")
    seen = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = await v1.list_namespaced_config_map("kube-public", limit=2, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert seen == [f"page{i}" for i in range(5)]
    await expect_status(
        v1.list_namespaced_config_map("kube-public", _continue="garbage!"), 400, "BadRequest"
    )


async def test_resource_version_match(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    await v1.create_namespaced_config_map("default", cm("rv1"))
    before = (await v1.list_namespaced_config_map("default")).metadata.resource_version
    await v1.create_namespaced_config_map("default", cm("rv2"))
    exact = await v1.list_namespaced_config_map(
        "default", resource_version=before, resource_version_match="Exact"
    )
    assert exact.metadata.resource_version == before
    assert "rv2" not in {i.metadata.name for i in exact.items}
    newer = await v1.list_namespaced_config_map(
        "default", resource_version=before, resource_version_match="NotOlderThan"
    )
    assert "rv2" in {i.metadata.name for i in newer.items}
    await expect_status(
        v1.list_namespaced_config_map("default", resource_version_match="Exact"), 400, "BadRequest"
    )
    await expect_status(
        v1.list_namespaced_config_map(
            "default", resource_version="999999", resource_version_match="NotOlderThan"
        ),
        504,
        "Timeout",
    )


async def test_delete_collection_with_selector(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    for i, app in enumerate(["x", "x", "y"]):
        await v1.create_namespaced_config_map("default", cm(f"dc{i}", labels={"app": app}))
    await v1.delete_collection_namespaced_config_map("default", label_selector="app=x")
    left = (await v1.list_namespaced_config_map("default", label_selector="app")).items
    assert [i.metadata.name for i in left] == ["dc2"]


async def test_dry_run_stores_nothing(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    out = await v1.create_namespaced_config_map("default", cm("dry"), dry_run="All")
    assert out.metadata.name == "dry"
    await expect_status(v1.read_namespaced_config_map("dry", "default"), 404, "NotFound")


async def test_namespace_delete_removes_its_objects(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    await v1.create_namespace(cast(Any, {"metadata": {"name": "scratch"}}))
    await v1.create_namespaced_config_map("scratch", cm("inside"))
    await v1.delete_namespace("scratch")
    await expect_status(v1.read_namespace("scratch"), 404, "NotFound")
    await expect_status(v1.read_namespaced_config_map("inside", "scratch"), 404, "NotFound")


async def test_owner_references_are_garbage_collected(kube_client: ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    owner = await v1.create_namespaced_config_map("default", cm("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    await v1.create_namespaced_secret(
        "default", cast(Any, {"metadata": {"name": "dependent", "ownerReferences": [ref]}})
    )
    await v1.delete_namespaced_config_map("owner", "default")
    await expect_status(v1.read_namespaced_secret("dependent", "default"), 404, "NotFound")
