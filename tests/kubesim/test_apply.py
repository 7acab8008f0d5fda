"""Server-side apply (PATCH application/apply-patch+yaml) as kube-apiserver serves it: creation,
merging by list and map types, removal of what a manager stops applying, conflicts with other
managers and `force`, the request's checks and errors, dry runs, RBAC and concurrent appliers.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import pytest
import pytest_asyncio
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from tests.support.sample_crds import GROUP, WIDGET_CRD, crd_manifest, widget

APPLY = {"Content-Type": "application/apply-patch+yaml"}
CM = "/api/v1/namespaces/default/configmaps"
WIDGETS = f"/apis/{GROUP}/v1/namespaces/default/widgets"
GADGETS = f"/apis/{GROUP}/v1/namespaces/default/gadgets"

# Every list and map type apply knows, on one custom resource.
GADGET_CRD = crd_manifest(
    GROUP,
    "gadgets",
    "Gadget",
    [
        {
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "properties": {
                                "ports": {
                                    "type": "array",
                                    "x-kubernetes-list-type": "map",
                                    "x-kubernetes-list-map-keys": ["port", "protocol"],
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "port": {"type": "integer"},
                                            "protocol": {"type": "string", "default": "TCP"},
                                            "name": {"type": "string"},
                                        },
                                    },
                                },
                                "tags": {
                                    "type": "array",
                                    "x-kubernetes-list-type": "set",
                                    "items": {"type": "string"},
                                },
                                "args": {"type": "array", "items": {"type": "string"}},
                                "selector": {
                                    "type": "object",
                                    "x-kubernetes-map-type": "atomic",
                                    "additionalProperties": {"type": "string"},
                                },
                                "limits": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "size": {"type": "integer"},
                            },
                        }
                    },
                }
            },
        }
    ],
)


def gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


class Http:
    """Raw requests as the cluster's admin: status and decoded body."""

    def __init__(self, cluster: LocalCluster, session: aiohttp.ClientSession) -> None:
        self.cluster, self.session = cluster, session

    async def send(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        async with self.session.request(
            method, self.cluster.url + path, data=data, headers=headers or {}
        ) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text.startswith("{") else text, resp

    async def apply(
        self, path: str, config: Any, manager: str | None = "test", **query: str
    ) -> tuple[int, Any]:
        params = dict(query)
        if manager is not None:
            params["fieldManager"] = manager
        qs = "&".join(f"{k}={v}" for k, v in params.items())
        status, doc, _ = await self.send("PATCH", f"{path}?{qs}" if qs else path, config, APPLY)
        return status, doc

    async def get(self, path: str) -> Any:
        status, doc, _ = await self.send("GET", path)
        assert status == 200, doc
        return doc


@pytest.fixture(scope="module")
def crds(module_cluster: LocalCluster) -> LocalCluster:
    """The module's cluster with the Widget and Gadget CRDs."""
    for crd in (WIDGET_CRD, GADGET_CRD):
        request = urllib.request.Request(
            module_cluster.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            data=json.dumps(crd).encode(),
            headers={**module_cluster.headers, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as resp:
            assert resp.status == 201
    return module_cluster


@pytest_asyncio.fixture
async def http(crds: LocalCluster) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession(headers=crds.headers) as session:
        yield Http(crds, session)


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def entries(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """managedFields by manager."""
    return {e["manager"]: e for e in obj["metadata"].get("managedFields", [])}


# -- creating and updating ------------------------------------------------------------------------


async def test_apply_creates_then_updates(http: Http) -> None:
    status, made = await http.apply(CM + "/one", config_map("one", a="1", b="2"))
    assert status == 201, made
    assert made["data"] == {"a": "1", "b": "2"}
    assert list(made)[:3] == ["apiVersion", "kind", "metadata"]
    (entry,) = made["metadata"]["managedFields"]
    assert entry["manager"] == "test" and entry["operation"] == "Apply"
    assert entry["apiVersion"] == "v1" and entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    assert "subresource" not in entry

    status, again = await http.apply(CM + "/one", config_map("one", a="1", b="3"))
    assert status == 200
    assert again["data"] == {"a": "1", "b": "3"}
    assert again["metadata"]["uid"] == made["metadata"]["uid"]
    assert int(again["metadata"]["resourceVersion"]) > int(made["metadata"]["resourceVersion"])

    # The same configuration again changes nothing: no new resourceVersion.
    status, same = await http.apply(CM + "/one", config_map("one", a="1", b="3"))
    assert (status, same["metadata"]["resourceVersion"]) == (
        200,
        again["metadata"]["resourceVersion"],
    )


async def test_yaml_bodies_are_applied_as_json_would_be(http: Http) -> None:
    text = yaml.safe_dump(config_map("yam", when="2030-01-31", n="7"))
    status, made = await http.apply(CM + "/yam", text)
    assert status == 201, made
    assert made["data"] == {"when": "2030-01-31", "n": "7"}  # a date stays a string


async def test_a_field_no_longer_applied_is_removed(http: Http) -> None:
    await http.apply(CM + "/prune", config_map("prune", a="1", b="2", c="3"))
    status, now = await http.apply(CM + "/prune", config_map("prune", a="1"))
    assert status == 200 and now["data"] == {"a": "1"}
    assert entries(now)["test"]["fieldsV1"] == {"f:data": {"f:a": {}}}


async def test_a_field_another_manager_also_applied_stays(http: Http) -> None:
    await http.apply(CM + "/shared", config_map("shared", a="1", b="2"), "first")
    status, both = await http.apply(CM + "/shared", config_map("shared", b="2"), "second")
    assert status == 200  # the same value: no conflict, shared ownership
    assert entries(both)["first"]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    assert entries(both)["second"]["fieldsV1"] == {"f:data": {"f:b": {}}}
    _, after = await http.apply(CM + "/shared", config_map("shared", a="1"), "first")
    assert after["data"] == {"a": "1", "b": "2"}  # b is still second's


async def test_fields_set_by_an_update_are_not_removed_by_an_applier(http: Http) -> None:
    await http.apply(CM + "/mixed", config_map("mixed", a="1"))
    patch = {"data": {"b": "2"}}
    status, _, _ = await http.send(
        "PATCH", CM + "/mixed?fieldManager=editor", patch,
        {"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip
    assert status == 200
    _, now = await http.apply(CM + "/mixed", config_map("mixed", a="2"))
    assert now["data"] == {"a": "2", "b": "2"}
    assert entries(now)["editor"]["fieldsV1"] == {"f:data": {"f:b": {}}}


# -- conflicts ------------------------------------------------------------------------------------


async def test_a_conflict_is_the_real_409(http: Http) -> None:
    made = widget("conflicted", replicas=1)
    status, _, _ = await http.send(
        "POST", WIDGETS + "?fieldManager=kubectl-client-side-apply", made,
        {"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 201
    status, body = await http.apply(WIDGETS + "/conflicted", widget("conflicted", replicas=2))
    assert status == 409
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
                   f"using {GROUP}/v1: .spec.replicas",
        "reason": "Conflict",
        "details": {"causes": [{
            "reason": "FieldManagerConflict",
            "message": f'conflict with "kubectl-client-side-apply" using {GROUP}/v1',
            "field": ".spec.replicas",
        }]},
        "code": 409,
    }  # fmt: skip
    got = await http.get(WIDGETS + "/conflicted")
    assert got["spec"]["replicas"] == 1  # nothing was written

    status, forced = await http.apply(
        WIDGETS + "/conflicted", widget("conflicted", replicas=2), force="true"
    )
    assert status == 200 and forced["spec"]["replicas"] == 2
    owners = entries(forced)
    assert owners["test"]["fieldsV1"] == {
        "f:spec": {"f:colour": {}, "f:replicas": {}, "f:until": {}}
    }
    # The previous owner lost only the field taken from it.
    assert owners["kubectl-client-side-apply"]["fieldsV1"] == {
        "f:spec": {".": {}, "f:colour": {}, "f:until": {}}
    }


async def test_several_conflicts_are_listed_by_manager(http: Http) -> None:
    await http.apply(CM + "/many", config_map("many", a="1", b="1"), "alpha")
    await http.apply(CM + "/many", config_map("many", c="1"), "beta")
    status, body = await http.apply(CM + "/many", config_map("many", a="2", b="2", c="2"))
    assert status == 409
    assert body["message"] == (
        'Apply failed with 3 conflicts: conflicts with "alpha":\n- .data.a\n- .data.b\n'
        'conflicts with "beta":\n- .data.c'
    )
    assert [c["field"] for c in body["details"]["causes"]] == [".data.a", ".data.b", ".data.c"]


# -- merging by the schema ------------------------------------------------------------------------


async def test_list_maps_sets_and_atomic_types_of_a_custom_resource(http: Http) -> None:
    first = gadget(
        "g", ports=[{"port": 80, "name": "http"}], tags=["a"], args=["x", "y"],
        selector={"app": "one"}, limits={"cpu": "1"},
    )  # fmt: skip
    status, made = await http.apply(GADGETS + "/g", first, "one")
    assert status == 201, made
    assert entries(made)["one"]["fieldsV1"] == {
        "f:spec": {
            "f:args": {}, "f:limits": {"f:cpu": {}},
            "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}},
            "f:selector": {}, "f:tags": {'v:"a"': {}},
        }
    }  # fmt: skip
    second = gadget(
        "g", ports=[{"port": 443, "name": "https"}], tags=["b"], args=["z"],
        selector={"tier": "two"}, limits={"memory": "1Gi"},
    )  # fmt: skip
    status, body = await http.apply(GADGETS + "/g", second, "two")
    # args and selector are atomic: replacing them is changing one's fields.
    assert status == 409
    assert sorted(c["field"] for c in body["details"]["causes"]) == [".spec.args", ".spec.selector"]
    del second["spec"]["args"], second["spec"]["selector"]
    status, merged = await http.apply(GADGETS + "/g", second, "two")
    assert status == 200, merged
    spec = merged["spec"]
    assert spec["ports"] == [
        {"port": 80, "name": "http", "protocol": "TCP"},
        {"port": 443, "name": "https", "protocol": "TCP"},
    ]
    assert spec["tags"] == ["a", "b"]
    assert spec["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert (spec["args"], spec["selector"]) == (["x", "y"], {"app": "one"})

    # One drops its port: only that item goes; the other's stays where it was.
    first["spec"]["ports"] = []
    first["spec"]["tags"] = []
    status, after = await http.apply(GADGETS + "/g", first, "one")
    assert status == 200, after
    assert after["spec"]["ports"] == [{"port": 443, "name": "https", "protocol": "TCP"}]
    assert after["spec"]["tags"] == ["b"]


async def test_a_list_map_item_keeps_the_configuration_order(http: Http) -> None:
    ports = [{"port": p} for p in (1, 2, 3)]
    await http.apply(GADGETS + "/order", gadget("order", ports=ports), "one")
    config = gadget("order", ports=[{"port": 3}, {"port": 4}, {"port": 1}])
    status, merged = await http.apply(GADGETS + "/order", config, "two")
    assert status == 200, merged
    assert [p["port"] for p in merged["spec"]["ports"]] == [2, 3, 4, 1]


async def test_built_in_lists_merge_by_their_keys(http: Http) -> None:
    path = "/api/v1/namespaces/default/services"
    svc = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "name": "http"}]},
    }  # fmt: skip
    status, made = await http.apply(path + "/svc", svc, "one")
    assert status == 201, made
    owned = entries(made)["one"]["fieldsV1"]["f:spec"]
    assert owned["f:ports"] == {
        'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}
    }
    other = {**svc, "spec": {"ports": [{"port": 53, "protocol": "UDP", "name": "dns"}]}}
    status, merged = await http.apply(path + "/svc", other, "two")
    assert status == 200, merged
    assert [(p["port"], p["protocol"]) for p in merged["spec"]["ports"]] == [
        (80, "TCP"),
        (53, "UDP"),
    ]


async def test_duplicate_keys_and_wrong_types_are_the_real_500s(http: Http) -> None:
    dup = gadget("bad", ports=[{"port": 1}, {"port": 1, "protocol": "TCP"}])
    status, body = await http.apply(GADGETS + "/bad", dup)
    assert status == 500
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"failed to create typed patch object (/bad; {GROUP}/v1, Kind=Gadget): "
                   '.spec.ports: duplicate entries for key [port=1,protocol="TCP"]',
        "code": 500,
    }  # fmt: skip
    status, body = await http.apply(GADGETS + "/bad", gadget("bad", size="big"))
    assert status == 500
    assert body["message"].endswith(".spec.size: expected numeric (int or float), got string")
    status, body = await http.apply(GADGETS + "/bad", gadget("bad", tags=[{"a": 1}]))
    assert status == 500
    assert body["message"].endswith(
        ".spec.tags: element 0: associative list without keys has an element that's a map type"
    )
    status, body = await http.apply(GADGETS + "/bad", gadget("bad", unknown=1))
    assert status == 500
    assert body["message"].endswith(".spec.unknown: field not declared in schema")
    status, _, _ = await http.send("GET", GADGETS + "/bad")
    assert status == 404  # nothing was created


# -- the request ----------------------------------------------------------------------------------


async def test_field_manager_is_required_and_force_is_for_apply_only(http: Http) -> None:
    status, body = await http.apply(CM + "/nomanager", config_map("nomanager"), manager=None)
    assert status == 422
    assert body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for '
        "apply patch"
    )
    assert body["details"] == {
        "group": "meta.k8s.io", "kind": "PatchOptions",
        "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required "
                    "for apply patch", "field": "fieldManager"}],
    }  # fmt: skip
    await http.apply(CM + "/forced", config_map("forced", a="1"))
    status, body, _ = await http.send(
        "PATCH", CM + "/forced?force=true", {"data": {"a": "2"}},
        {"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip
    assert status == 422
    assert body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for '
        "non-apply patch"
    )
    status, body = await http.apply(CM + "/forced", config_map("forced"), manager="x" * 129)
    assert status == 422
    assert "fieldManager: Too long: may not be more than 128 bytes" in body["message"]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ("[1, 2]", 400, "error decoding patch: json: cannot unmarshal array into Go value of "
                        "type map[string]interface {}"),
        ("a: [", 400, "error decoding patch: yaml"),
        ("", 400, "invalid object type: /, Kind="),
        (json.dumps({**config_map("req"), "kind": "Secret"}), 400,
         "invalid object type: /v1, Kind=Secret"),
        (json.dumps({**config_map("req"), "apiVersion": "apps/v1"}), 400,
         "invalid object type: apps/v1, Kind=ConfigMap"),
        (json.dumps(config_map("other")), 400,
         "the name of the object (other) does not match the name on the URL (req)"),
        (json.dumps({**config_map("req"), "metadata": {"name": "req", "namespace": "kube-system"}}),
         400, "the namespace of the provided object does not match the namespace sent on the "
              "request"),
        (json.dumps({**config_map("req"), "metadata": {"name": "req", "managedFields": []}}),
         400, "metadata.managedFields must be nil"),
        (json.dumps({**config_map("req"), "metadata": {"name": "req", "uid": "u-1"}}), 409,
         "uid mismatch: the provided object specified uid u-1, and no existing object was found"),
        (json.dumps({**config_map("req"), "metadata": {"name": "req", "bogus": 1}}), 500,
         ".metadata.bogus: field not declared in schema"),
        (json.dumps({**config_map("req"), "data": {"a": 1}}), 500,
         ".data.a: expected string, got"),
    ],
)  # fmt: skip
async def test_bad_configurations_get_the_real_errors(
    http: Http, body: str, code: int, words: str
) -> None:
    status, doc = await http.apply(CM + "/req", body)
    assert status == code, doc
    assert words in doc["message"], doc["message"]
    status, _, _ = await http.send("GET", CM + "/req")
    assert status == 404


async def test_strict_field_validation_refuses_repeated_keys(http: Http) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\ndata:\n  a: '1'\n  a: '2'\n"
    status, body = await http.apply(CM + "/dup", text, fieldValidation="Strict")
    assert status == 400
    assert body["message"] == (
        'error strict decoding patch: yaml: unmarshal errors:\n  line 7: key "a" already set in map'
    )
    status, made, resp = await http.send("PATCH", CM + "/dup?fieldManager=test", text, APPLY)
    assert status == 201 and made["data"] == {"a": "2"}  # Warn (the default) warns
    assert "already set in map" in resp.headers.get("Warning", "")


async def test_a_dry_run_apply_stores_nothing(http: Http) -> None:
    status, made = await http.apply(CM + "/dry", config_map("dry", a="1"), dryRun="All")
    assert status == 201 and made["data"] == {"a": "1"}
    assert made["metadata"]["managedFields"][0]["manager"] == "test"
    status, _, _ = await http.send("GET", CM + "/dry")
    assert status == 404
    await http.apply(CM + "/dry", config_map("dry", a="1"))
    status, changed = await http.apply(CM + "/dry", config_map("dry", a="2"), dryRun="All")
    assert status == 200 and changed["data"] == {"a": "2"}
    assert (await http.get(CM + "/dry"))["data"] == {"a": "1"}


async def test_apply_to_status_writes_status_only(http: Http) -> None:
    await http.apply(WIDGETS + "/st", widget("st"))
    config = {**widget("st", colour="green"), "status": {"state": "ready"}}
    status, got = await http.apply(WIDGETS + "/st/status", config, "reporter")
    assert status == 200, got
    assert (got["spec"]["colour"], got["status"]) == ("red", {"state": "ready"})
    entry = entries(got)["reporter"]
    assert (entry["subresource"], entry["fieldsV1"]) == ("status", {"f:status": {"f:state": {}}})
    status, body = await http.apply(WIDGETS + "/ghost/status", config, "reporter")
    assert status == 404 and body["reason"] == "NotFound"


async def test_managed_fields_reset_then_apply_starts_with_before_first_apply(http: Http) -> None:
    await http.apply(CM + "/reset", config_map("reset", a="1"), "owner")
    status, cleared, _ = await http.send(
        "PATCH", CM + "/reset", {"metadata": {"managedFields": [{}]}},
        {"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip
    assert status == 200 and "managedFields" not in cleared["metadata"]
    status, body = await http.apply(CM + "/reset", config_map("reset", a="2"), "newcomer")
    assert status == 409
    assert body["message"].endswith('conflict with "before-first-apply" using v1: .data.a')


async def test_kubectl_takes_over_its_client_side_apply_fields_without_conflict(http: Http) -> None:
    """lastAppliedManager: the fields kubectl's client-side apply annotation names."""
    last = config_map("csa", a="1")
    annotated = {
        **last,
        "metadata": {"name": "csa", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last)}},
    }  # fmt: skip
    status, _, _ = await http.send(
        "POST", CM + "?fieldManager=kubectl-client-side-apply", annotated,
        {"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 201
    status, _ = await http.apply(CM + "/csa", config_map("csa", a="2"), "someone-else")
    assert status == 409
    status, got = await http.apply(CM + "/csa", config_map("csa", a="2"), "kubectl")
    assert status == 200 and got["data"] == {"a": "2"}
    annotation = got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(annotation) == config_map("csa", a="2")


# -- clients, access control, concurrency --------------------------------------------------------


async def test_kubernetes_asyncio_applies(module_cluster: LocalCluster, http: Http) -> None:
    async with ApiClient(client_configuration(module_cluster)) as api:
        v1: Any = client.CoreV1Api(api)
        body = cast(Any, {**config_map("asyncio", hello="world"),
                          "metadata": {"name": "asyncio", "namespace": "default"}})  # fmt: skip
        made = await v1.patch_namespaced_config_map(
            "asyncio", "default", body, field_manager="asyncio-test",
            _content_type="application/apply-patch+yaml",
        )  # fmt: skip
        assert made.data == {"hello": "world"}
        assert made.metadata.managed_fields[0].operation == "Apply"


async def test_an_apply_that_creates_needs_the_create_verb(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    core: Any = client.CoreV1Api(kube_client)
    await core.create_namespaced_service_account("default", {"metadata": {"name": "patcher"}})
    token = (
        await core.create_namespaced_service_account_token("patcher", "default", {})
    ).status.token
    rbac: Any = client.RbacAuthorizationV1Api(kube_client)
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}
    await rbac.create_namespaced_role("default", {"metadata": {"name": "p"}, "rules": [rule]})
    await rbac.create_namespaced_role_binding("default", {
        "metadata": {"name": "p"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "p"},
        "subjects": [{"kind": "ServiceAccount", "name": "patcher"}],
    })  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        as_patcher = Http(local_cluster, session)
        status, body = await as_patcher.apply(CM + "/new", config_map("new", a="1"))
        assert status == 403
        assert body["message"] == (
            'configmaps "new" is forbidden: User "system:serviceaccount:default:patcher" cannot '
            'create resource "configmaps" in API group "" in the namespace "default"'
        )
        await core.create_namespaced_config_map("default", {"metadata": {"name": "new"}})
        status, body = await as_patcher.apply(CM + "/new", config_map("new", a="1"))
        assert status == 200 and body["data"] == {"a": "1"}


async def test_concurrent_appliers(http: Http) -> None:
    await http.apply(CM + "/race", config_map("race"))
    results = await asyncio.gather(
        *(http.apply(CM + "/race", config_map("race", **{f"k{i}": str(i)}), f"m{i}")
          for i in range(10))
    )  # fmt: skip
    assert [status for status, _ in results] == [200] * 10
    got = await http.get(CM + "/race")
    assert got["data"] == {f"k{i}": str(i) for i in range(10)}
    assert {f"m{i}" for i in range(10)} <= set(entries(got))
    # Two appliers of one field: the first wins, the second conflicts with it.
    outcomes = await asyncio.gather(
        http.apply(CM + "/race", config_map("race", shared="a"), "left"),
        http.apply(CM + "/race", config_map("race", shared="b"), "right"),
    )
    assert sorted(status for status, _ in outcomes) == [200, 409]
