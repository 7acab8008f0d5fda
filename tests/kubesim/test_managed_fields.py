"""metadata.managedFields as kube-apiserver records them on creates, updates and patches: who
(the fieldManager parameter, else the User-Agent's product), which fields (FieldsV1), how an
update takes fields over, how entries merge and are capped, what a client may send back, and the
status and scale subresources.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import kubernetes
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import LocalCluster
from tests.support.sample_crds import GROUP, WIDGET_CRD, widget

CM = "/api/v1/namespaces/default/configmaps"
MERGE = {"Content-Type": "application/merge-patch+json"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def send(
    cluster: LocalCluster, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=cluster.headers, skip_auto_headers=["User-Agent"]) as s,
        s.request(
            method,
            cluster.url + path,
            data=json.dumps(body),
            headers={"Content-Type": "application/json", **headers},
        ) as resp,
    ):
        return resp.status, json.loads(await resp.text())


def by_manager(obj: Any) -> dict[str, dict[str, Any]]:
    """managedFields by manager, of an object or a client's model of one (as JSON)."""
    if not isinstance(obj, dict):
        obj = ApiClient().sanitize_for_serialization(obj)
    return {e["manager"]: e for e in obj["metadata"].get("managedFields") or []}


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": data}


# -- what a write records -------------------------------------------------------------------------


async def test_a_create_records_its_client_as_an_update(local_cluster: LocalCluster) -> None:
    body = {"metadata": {"name": "made", "labels": {"app": "x"}}, "data": {"a": "1"}}
    async with (
        aiohttp.ClientSession(headers=local_cluster.headers) as s,
        s.post(local_cluster.url + CM, json=body, headers={"User-Agent": "my-tool/1.2 (linux)"})
        as resp,
    ):  # fmt: skip
        text = await resp.text()
    (entry,) = json.loads(text)["metadata"]["managedFields"]
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert entry["manager"] == "my-tool"  # the User-Agent up to its first '/'
    assert (entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "Update", "v1", "FieldsV1"
    )  # fmt: skip
    assert TIME.match(entry["time"])
    assert entry["fieldsV1"] == {
        "f:data": {".": {}, "f:a": {}},
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    }
    # The set is written in the server's order: "." first, then the elements sorted.
    assert '"fieldsV1":{"f:data":{".":{},"f:a":{}},"f:metadata"' in text


async def test_clients_are_named_by_their_user_agent(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    v1: Any = client.CoreV1Api(kube_client)
    made = await v1.create_namespaced_config_map("default", config_map("asyncio", a="1"))
    assert list(by_manager(made)) == ["OpenAPI-Generator"]
    named = await v1.create_namespaced_config_map(
        "default", config_map("named", a="1"), field_manager="lscsde-spawner"
    )
    assert list(by_manager(named)) == ["lscsde-spawner"]
    status, anonymous = await send(local_cluster, "POST", CM, config_map("anon", a="1"))
    assert status == 201 and list(by_manager(anonymous)) == ["unknown"]

    sync_config = kubernetes.client.Configuration()
    sync_config.host = local_cluster.url
    sync_config.api_key = {"BearerToken": f"Bearer {local_cluster.token}"}
    with kubernetes.client.ApiClient(sync_config) as sync_api:
        core: Any = kubernetes.client.CoreV1Api(sync_api)
        sync_made = core.create_namespaced_config_map("default", config_map("sync", a="1"))
        assert [e.manager for e in sync_made.metadata.managed_fields] == ["OpenAPI-Generator"]


@pytest.mark.parametrize(
    ("manager", "detail"),
    [
        ("x" * 129, "fieldManager: Too long: may not be more than 128 bytes"),
        ("bad\x07name", 'fieldManager: Invalid value: "bad\\aname": invalid character U+0007 '
                        "(at position 3)"),
    ],
)  # fmt: skip
async def test_a_bad_field_manager_parameter_is_refused(
    local_cluster: LocalCluster, manager: str, detail: str
) -> None:
    status, body = await send(
        local_cluster, "POST", f"{CM}?fieldManager={quote(manager)}", config_map("m")
    )
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["message"] == f'CreateOptions.meta.k8s.io "" is invalid: {detail}'


async def test_an_update_takes_over_the_fields_it_changes(local_cluster: LocalCluster) -> None:
    await send(local_cluster, "POST", CM + "?fieldManager=creator", config_map("t", a="1", b="2"))
    status, got = await send(
        local_cluster, "PATCH", CM + "/t?fieldManager=editor", {"data": {"a": "9"}}, **MERGE
    )
    assert status == 200
    owners = by_manager(got)
    assert owners["creator"]["fieldsV1"] == {"f:data": {".": {}, "f:b": {}}}
    assert owners["editor"]["fieldsV1"] == {"f:data": {"f:a": {}}}
    # The same manager's entries merge; a removed field leaves every set.
    ops = [{"op": "add", "path": "/data/c", "value": "3"}, {"op": "remove", "path": "/data/b"}]
    status, got = await send(
        local_cluster, "PATCH", CM + "/t?fieldManager=editor", ops,
        **{"Content-Type": "application/json-patch+json"},
    )  # fmt: skip
    assert status == 200, got
    owners = by_manager(got)
    assert owners["editor"]["fieldsV1"] == {"f:data": {"f:a": {}, "f:c": {}}}
    assert owners["creator"]["fieldsV1"] == {"f:data": {}}  # only the map itself is left
    assert [e["manager"] for e in got["metadata"]["managedFields"]] == ["creator", "editor"]


async def test_a_write_that_changes_nothing_records_nothing(kube_client: ApiClient) -> None:
    v1: Any = client.CoreV1Api(kube_client)
    made = await v1.create_namespaced_config_map("default", config_map("same", a="1"))
    again = await v1.patch_namespaced_config_map(
        "same", "default", {"data": {"a": "1"}}, field_manager="someone"
    )
    assert again.metadata.resource_version == made.metadata.resource_version
    assert list(by_manager(again)) == ["OpenAPI-Generator"]


async def test_a_pod_creator_owns_the_defaults_not_what_admission_adds(
    kube_client: ApiClient,
) -> None:
    v1: Any = client.CoreV1Api(kube_client)
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}]
        },
    }  # fmt: skip
    made = await v1.create_namespaced_pod("default", pod)
    fields = by_manager(made)["OpenAPI-Generator"]["fieldsV1"]
    spec = fields["f:spec"]
    container = spec["f:containers"]['k:{"name":"c"}']
    assert {"f:image", "f:imagePullPolicy", "f:terminationMessagePath"} <= set(container)
    assert container["f:ports"] == {
        ".": {},
        'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {},
                                                     "f:protocol": {}},
    }  # fmt: skip
    assert {"f:dnsPolicy", "f:restartPolicy", "f:schedulerName"} <= set(spec)
    # The service-account and toleration admission plugins' additions, and the status, are
    # nobody's.
    assert not {"f:serviceAccountName", "f:volumes", "f:tolerations"} & set(spec)
    assert "f:status" not in fields and "f:volumeMounts" not in container


async def test_custom_resources_and_their_status_and_scale(kube_client: ApiClient) -> None:
    await client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(
        cast(Any, WIDGET_CRD)
    )
    co: Any = client.CustomObjectsApi(kube_client)
    made = await co.create_namespaced_custom_object(
        GROUP, "v1", "default", "widgets", widget("w"), field_manager="maker"
    )
    assert by_manager(made)["maker"]["fieldsV1"] == {
        "f:spec": {".": {}, "f:colour": {}, "f:replicas": {}, "f:until": {}}
    }
    status = await co.patch_namespaced_custom_object_status(
        GROUP, "v1", "default", "widgets", "w",
        {"status": {"state": "ok"}, "spec": {"colour": "green"}}, field_manager="reporter",
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    entry = by_manager(status)["reporter"]
    assert (entry["subresource"], entry["fieldsV1"]) == (
        "status", {"f:status": {".": {}, "f:state": {}}}
    )  # fmt: skip
    scaled = await co.patch_namespaced_custom_object_scale(
        GROUP, "v1", "default", "widgets", "w", {"spec": {"replicas": 3}}, field_manager="scaler",
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    assert scaled["spec"]["replicas"] == 3
    got = await co.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "w")
    entry = by_manager(got)["scaler"]
    assert (entry["subresource"], entry["fieldsV1"]) == ("scale", {"f:spec": {"f:replicas": {}}})
    assert by_manager(got)["maker"]["fieldsV1"] == {
        "f:spec": {".": {}, "f:colour": {}, "f:until": {}}
    }


# -- what clients send back -----------------------------------------------------------------------


async def test_read_modify_write_keeps_the_entries(kube_client: ApiClient) -> None:
    v1: Any = client.CoreV1Api(kube_client)
    await v1.create_namespaced_config_map("default", config_map("rmw", a="1"))
    current = await v1.read_namespaced_config_map("rmw", "default")
    current.data["b"] = "2"  # sent back with managedFields as the client parsed them
    replaced = await v1.replace_namespaced_config_map("rmw", "default", current)
    owners = by_manager(replaced)
    assert list(owners) == ["OpenAPI-Generator"]
    assert owners["OpenAPI-Generator"]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}, "f:b": {}}}


async def test_empty_managed_fields_reset_them(local_cluster: LocalCluster) -> None:
    await send(local_cluster, "POST", CM, config_map("r1", a="1"))
    resets: list[tuple[str, list[Any]]] = [("r1", []), ("r2", [{}])]
    for name, reset in resets:
        if name == "r2":
            await send(local_cluster, "POST", CM, config_map("r2", a="1"))
        status, got = await send(
            local_cluster, "PATCH", f"{CM}/{name}", {"metadata": {"managedFields": reset}}, **MERGE
        )
        assert status == 200 and "managedFields" not in got["metadata"]
        # An object no longer tracked stays so through updates (only apply starts again).
        status, got = await send(
            local_cluster, "PATCH", f"{CM}/{name}?fieldManager=x", {"data": {"b": "2"}}, **MERGE
        )
        assert status == 200 and "managedFields" not in got["metadata"], got


async def test_entries_a_client_writes_are_kept_or_ignored_as_the_server_does(
    local_cluster: LocalCluster,
) -> None:
    status, made = await send(local_cluster, "POST", CM, config_map("mf", a="1"))
    entry = dict(made["metadata"]["managedFields"][0])
    rewritten = {**entry, "manager": "renamed", "time": "2024-01-02T03:04:05.678+01:00"}
    made["metadata"]["managedFields"] = [rewritten]
    status, got = await send(local_cluster, "PUT", CM + "/mf", made)
    assert status == 200
    (kept,) = got["metadata"]["managedFields"]
    assert (kept["manager"], kept["time"]) == ("renamed", "2024-01-02T02:04:05Z")

    got["metadata"]["managedFields"] = [{**rewritten, "operation": "Bogus"}]
    status, again = await send(local_cluster, "PUT", CM + "/mf", got)
    assert status == 200  # entries that do not decode are ignored: the stored ones stay
    assert [e["manager"] for e in again["metadata"]["managedFields"]] == ["renamed"]

    again["metadata"]["managedFields"] = [{**kept, "manager": "m" * 129}]
    status, body = await send(local_cluster, "PUT", CM + "/mf", again)
    assert (status, body["message"]) == (
        422,
        'ConfigMap "mf" is invalid: metadata.managedFields[0].manager: Too long: may not be '
        "more than 128 bytes",
    )


async def test_more_than_ten_updaters_are_merged_into_ancient_changes(
    local_cluster: LocalCluster,
) -> None:
    await send(local_cluster, "POST", CM + "?fieldManager=m00", config_map("many", k00="0"))
    for i in range(1, 11):
        status, got = await send(
            local_cluster, "PATCH", f"{CM}/many?fieldManager=m{i:02d}",
            {"data": {f"k{i:02d}": str(i)}}, **MERGE,
        )  # fmt: skip
        assert status == 200
    owners = by_manager(got)
    assert len(owners) == 10
    assert "m00" not in owners and "m01" not in owners
    assert owners["ancient-changes"]["fieldsV1"] == {"f:data": {".": {}, "f:k00": {}, "f:k01": {}}}


async def test_objects_too_deep_to_compare_keep_their_entries(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    await client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(
        cast(Any, WIDGET_CRD)
    )
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"a": deep}
    path = f"/apis/{GROUP}/v1/namespaces/default/widgets"
    status, made = await send(local_cluster, "POST", path, widget("deep", extra=deep))
    assert status == 201 and "managedFields" not in made["metadata"]
    status, shallow = await send(local_cluster, "POST", path, widget("shallow"))
    assert status == 201
    status, patched = await send(
        local_cluster, "PATCH", path + "/shallow", {"spec": {"extra": deep}}, **MERGE
    )
    assert status == 200
    assert patched["metadata"]["managedFields"] == shallow["metadata"]["managedFields"]


async def test_a_dry_run_shows_the_entries_it_would_record(kube_client: ApiClient) -> None:
    v1: Any = client.CoreV1Api(kube_client)
    dry = await v1.create_namespaced_config_map(
        "default", config_map("dry", a="1"), dry_run="All", field_manager="planner"
    )
    assert list(by_manager(dry)) == ["planner"]
    with pytest.raises(ApiException) as info:
        await v1.read_namespaced_config_map("dry", "default")
    assert info.value.status == 404


def test_a_controller_write_records_its_manager_when_it_names_one() -> None:
    """Api.system_write (the node's controllers) with a manager: the kubelet's status update."""
    with LocalCluster(kubelet=False) as cluster:
        api = cluster.api
        assert api is not None
        rt = api.registry.get("", "v1", "persistentvolumeclaims")
        assert rt is not None
        claim = {
            "metadata": {"name": "c"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}},
        }  # fmt: skip
        made = cluster.call(api.create, rt, "default", claim)
        bound = {**made, "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}}

        def write() -> Any:
            return api.system_write(rt, bound, manager="binder", subresource="status")

        stored = cluster.call(write)
        entry = by_manager(stored)["binder"]
        assert (entry["operation"], entry["subresource"]) == ("Update", "status")
        assert entry["fieldsV1"] == {"f:status": {"f:capacity": {".": {}, "f:storage": {}},
                                                  "f:phase": {}}}  # fmt: skip
        silent = {**stored, "status": {**stored["status"], "phase": "Lost"}}
        quiet = cluster.call(lambda: api.system_write(rt, silent))
        assert quiet["metadata"]["managedFields"] == stored["metadata"]["managedFields"]


async def test_controllers_and_the_kubelet_write_as_their_own_managers(
    kube_client: ApiClient,
) -> None:
    """On a real cluster a Deployment's ReplicaSet is kube-controller-manager's, its status
    too (subresource status), and a pod's status is the kubelet's."""
    from tests.support.workloads import body_of, deployment, wait_for

    apps = client.AppsV1Api(kube_client)
    await apps.create_namespaced_deployment("default", cast(Any, deployment("d", replicas=1)))

    async def replicasets() -> dict[str, Any]:
        return await body_of(apps.list_namespaced_replica_set("default", _preload_content=False))

    listed = await wait_for(
        replicasets, lambda rs: rs["items"] and rs["items"][0].get("status", {}).get("replicas")
    )
    entries = {
        (e["manager"], e["operation"], e.get("subresource"))
        for e in listed["items"][0]["metadata"]["managedFields"]
    }
    assert ("kube-controller-manager", "Update", None) in entries
    assert ("kube-controller-manager", "Update", "status") in entries

    v1 = client.CoreV1Api(kube_client)

    async def pods() -> dict[str, Any]:
        return await body_of(v1.list_namespaced_pod("default", _preload_content=False))

    running = await wait_for(
        pods, lambda p: p["items"] and p["items"][0]["status"].get("phase") == "Running"
    )
    status_writers = {
        e["manager"]
        for e in running["items"][0]["metadata"]["managedFields"]
        if e.get("subresource") == "status"
    }
    assert "kubelet" in status_writers
