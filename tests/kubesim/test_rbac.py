"""Authentication and RBAC authorization, as a real API server enforces them.

Bearer tokens (the admin's, ServiceAccount tokens from TokenRequest), the 401 and 403 bodies, the
RBAC kinds and their validation, the authorizer's rule matching, the bootstrap policy, access
reviews and impersonation, over HTTP with real clients.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import LocalCluster
from kubesim.apiserver.rbac import rule_allows
from kubesim.apiserver.requestinfo import UserInfo, request_attributes
from kubesim.testing import client_configuration

NS = "default"
RBAC = "rbac.authorization.k8s.io"
SA_USER = f"system:serviceaccount:{NS}:robot"


def body_of(err: ApiException) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(err.body or b"{}")
    return doc


# -- fixtures -----------------------------------------------------------------------------------


async def make_account(api: ApiClient, name: str = "robot", namespace: str = NS) -> str:
    """A ServiceAccount and a token for it (TokenRequest)."""
    core: Any = client.CoreV1Api(api)
    await core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    made = await core.create_namespaced_service_account_token(name, namespace, {"spec": {}})
    token: str = made.status.token
    return token


def as_token(cluster: LocalCluster, token: str) -> ApiClient:
    config = client.Configuration()
    config.host = cluster.url
    config.api_key = {"BearerToken": f"Bearer {token}"}
    return ApiClient(config)


@pytest_asyncio.fixture
async def robot(local_cluster: LocalCluster, kube_client: ApiClient) -> AsyncIterator[ApiClient]:
    """A client as the ServiceAccount `robot`, which nothing is granted to yet."""
    async with as_token(local_cluster, await make_account(kube_client)) as api:
        yield api


async def grant(
    api: ApiClient, rules: list[dict[str, Any]], *, subject: str = "robot", name: str = "r"
) -> None:
    """A Role with `rules`, bound to the ServiceAccount `subject` in NS."""
    rbac: Any = client.RbacAuthorizationV1Api(api)
    await rbac.create_namespaced_role(NS, {"metadata": {"name": name}, "rules": rules})
    await rbac.create_namespaced_role_binding(
        NS,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": subject}],
        },
    )


async def raw(
    cluster: LocalCluster, method: str, path: str, token: str | None = None, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, cluster.url + path, headers=headers, **kw) as r,
    ):
        text = await r.text()
        return r.status, json.loads(text) if text.startswith("{") else text


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer ", "Basic YTpi", "bearer"])
async def test_no_or_unknown_token_is_401(local_cluster: LocalCluster, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for path in ("/api/v1/namespaces/default/pods", "/version", "/healthz", "/apis/nope/v1/x"):
        async with (
            aiohttp.ClientSession() as http,
            http.get(local_cluster.url + path, headers=headers) as r,
        ):
            assert r.status == 401
            assert await r.json() == {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "Unauthorized",
                "reason": "Unauthorized",
                "code": 401,
            }
    assert {r.status for r in local_cluster.requests.entries} == {401}
    assert {r.user for r in local_cluster.requests.entries} == {""}


async def test_the_admin_token_is_in_the_kubeconfig_and_may_do_anything(
    local_cluster: LocalCluster,
) -> None:
    import yaml

    config = yaml.safe_load(local_cluster.kubeconfig.read_text())
    [user] = config["users"]
    assert user["name"] == "kubernetes-admin"
    assert user["user"]["token"] == local_cluster.token
    [cluster] = config["clusters"]
    assert cluster["cluster"]["server"] == local_cluster.secure_url
    assert cluster["cluster"]["certificate-authority-data"]
    assert oct(local_cluster.kubeconfig.stat().st_mode & 0o777) == "0o600"
    status, doc = await raw(local_cluster, "GET", "/api/v1/namespaces/kube-system/secrets",
                            local_cluster.token)  # fmt: skip
    assert status == 200, doc


async def test_the_https_port_serves_the_same_api(local_cluster: LocalCluster) -> None:
    assert local_cluster.tls is not None
    ssl = local_cluster.tls.client_context()
    async with (
        aiohttp.ClientSession(headers=local_cluster.headers) as http,
        http.get(local_cluster.secure_url + "/api/v1/namespaces", ssl=ssl) as r,
    ):
        assert r.status == 200
        names = {n["metadata"]["name"] for n in (await r.json())["items"]}
        assert "default" in names


async def test_a_service_account_token_names_the_account(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    token = await make_account(kube_client)
    status, review = await raw(
        local_cluster,
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        token,
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    assert status == 201, review
    info = review["status"]["userInfo"]
    assert info["username"] == SA_USER
    assert info["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ]
    sa = await client.CoreV1Api(kube_client).read_namespaced_service_account("robot", NS)
    assert info["uid"] == sa.metadata.uid
    assert info["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")


async def test_token_request_answers_as_the_real_one(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    core: Any = client.CoreV1Api(kube_client)
    await core.create_namespaced_service_account(NS, {"metadata": {"name": "robot"}})
    path = f"/api/v1/namespaces/{NS}/serviceaccounts/robot/token"
    status, made = await raw(local_cluster, "POST", path, local_cluster.token, json={})
    assert status == 201, made
    assert made["kind"] == "TokenRequest"
    assert made["apiVersion"] == "authentication.k8s.io/v1"
    assert made["metadata"]["name"] == "robot" and made["metadata"]["namespace"] == NS
    assert made["spec"] == {
        "audiences": ["https://kubernetes.default.svc.cluster.local"],
        "expirationSeconds": 3600,
        "boundObjectRef": None,
    }
    assert made["status"]["token"].count(".") == 2  # a JWT
    assert made["status"]["expirationTimestamp"].endswith("Z")
    # Too short, another account's name, a missing account.
    status, bad = await raw(local_cluster, "POST", path, local_cluster.token,
                            json={"spec": {"expirationSeconds": 60}})  # fmt: skip
    assert status == 422
    assert bad["message"] == (
        'TokenRequest.authentication.k8s.io "robot" is invalid: spec.expirationSeconds: '
        "Invalid value: 60: may not specify a duration less than 10 minutes"
    )
    missing = f"/api/v1/namespaces/{NS}/serviceaccounts/ghost/token"
    status, gone = await raw(local_cluster, "POST", missing, local_cluster.token, json={})
    assert (status, gone["message"]) == (404, 'serviceaccounts "ghost" not found')
    status, _ = await raw(local_cluster, "GET", path, local_cluster.token)
    assert status == 405


async def test_a_token_dies_with_its_account(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    token = await make_account(kube_client)
    await grant(kube_client, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    pods = f"/api/v1/namespaces/{NS}/pods"
    assert (await raw(local_cluster, "GET", pods, token))[0] == 200
    core = client.CoreV1Api(kube_client)
    await core.delete_namespaced_service_account("robot", NS)
    assert (await raw(local_cluster, "GET", pods, token))[0] == 401
    # A new account of the same name is another account: the old token stays dead.
    await core.create_namespaced_service_account(NS, cast(Any, {"metadata": {"name": "robot"}}))
    assert (await raw(local_cluster, "GET", pods, token))[0] == 401


async def test_a_token_bound_to_a_pod_dies_with_the_pod(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    core: Any = client.CoreV1Api(kube_client)
    await core.create_namespaced_service_account(NS, {"metadata": {"name": "robot"}})
    pod: dict[str, Any] = {
        "metadata": {"name": "p"},
        "spec": {
            "serviceAccountName": "robot",
            "containers": [{"name": "c", "image": "quay.io/jupyter/base-notebook:latest"}],
        },
    }
    made = await core.create_namespaced_pod(NS, pod)
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": made.metadata.uid}
    got = await core.create_namespaced_service_account_token(
        "robot", NS, {"spec": {"boundObjectRef": ref}}
    )
    token = got.status.token
    status, _ = await raw(local_cluster, "GET", "/version", token)
    assert status == 200
    await core.delete_namespaced_pod("p", NS, grace_period_seconds=0)
    assert (await raw(local_cluster, "GET", "/version", token))[0] == 401
    # A pod running as another account cannot carry this account's token.
    pod["metadata"]["name"], pod["spec"]["serviceAccountName"] = "q", "default"
    await core.create_namespaced_pod(NS, pod)
    path = f"/api/v1/namespaces/{NS}/serviceaccounts/robot/token"
    body = {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "q"}}}
    status, bad = await raw(local_cluster, "POST", path, local_cluster.token, json=body)
    assert (status, bad["message"]) == (
        400,
        'cannot bind token for serviceaccount "robot" to pod running with serviceaccount "default"',
    )


# -- authorization: the 403 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "message", "details"),
    [
        ("GET", "/api/v1/namespaces/default/pods",
         'pods is forbidden: User "system:serviceaccount:default:robot" cannot list resource '
         '"pods" in API group "" in the namespace "default"', {"kind": "pods"}),
        ("GET", "/api/v1/namespaces/default/pods/p1/log",
         'pods "p1" is forbidden: User "system:serviceaccount:default:robot" cannot get '
         'resource "pods/log" in API group "" in the namespace "default"',
         {"name": "p1", "kind": "pods"}),
        ("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
         'clusterroles.rbac.authorization.k8s.io "admin" is forbidden: User '
         '"system:serviceaccount:default:robot" cannot delete resource "clusterroles" in API '
         'group "rbac.authorization.k8s.io" at the cluster scope',
         {"name": "admin", "group": RBAC, "kind": "clusterroles"}),
        ("GET", "/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dp2",
         'pods "p2" is forbidden: User "system:serviceaccount:default:robot" cannot watch '
         'resource "pods" in API group "" in the namespace "default"',
         {"name": "p2", "kind": "pods"}),
        ("GET", "/apis/nothing.example/v1/namespaces/default/things",
         'things.nothing.example is forbidden: User "system:serviceaccount:default:robot" '
         'cannot list resource "things" in API group "nothing.example" in the namespace '
         '"default"', {"group": "nothing.example", "kind": "things"}),
        ("POST", "/logs", 'forbidden: User "system:serviceaccount:default:robot" cannot post '
         'path "/logs"', {}),
    ],
)  # fmt: skip
async def test_a_refusal_is_the_real_403(
    local_cluster: LocalCluster,
    kube_client: ApiClient,
    method: str,
    path: str,
    message: str,
    details: dict[str, str],
) -> None:
    token = await make_account(kube_client)
    status, doc = await raw(local_cluster, method, path, token)
    assert status == 403
    assert doc == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": details,
        "code": 403,
    }
    [refused] = [r for r in local_cluster.requests.entries if r.status == 403]
    assert refused.user == SA_USER


async def test_every_authenticated_user_may_discover(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    token = await make_account(kube_client)
    for path in ("/version", "/api", "/apis", "/api/v1", "/apis/rbac.authorization.k8s.io/v1",
                 "/openapi/v3", "/healthz", "/livez", "/readyz"):  # fmt: skip
        status, doc = await raw(local_cluster, "GET", path, token)
        assert status == 200, (path, doc)


async def test_rules_match_verbs_groups_resources_names_and_subresources(
    local_cluster: LocalCluster, kube_client: ApiClient, robot: ApiClient
) -> None:
    await grant(
        kube_client,
        [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"],
             "resourceNames": ["mine"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["get"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["*"], "verbs": ["*"]},
        ],
    )  # fmt: skip
    core: Any = client.CoreV1Api(kube_client)
    for name in ("mine", "theirs"):
        await core.create_namespaced_config_map(NS, {"metadata": {"name": name}})
    as_robot: Any = client.CoreV1Api(robot)
    assert (await as_robot.read_namespaced_config_map("mine", NS)).metadata.name == "mine"
    for call in (
        as_robot.read_namespaced_config_map("theirs", NS),
        as_robot.list_namespaced_config_map(NS),  # resourceNames never allow a list
        as_robot.read_namespaced_pod("p", NS),  # pods/log and */status, not pods
        client.CoreV1Api(robot).list_namespaced_event(NS),  # events.k8s.io, not core
    ):
        with pytest.raises(ApiException) as info:
            await call
        assert info.value.status == 403
    # Allowed, so the answer is the object's own: not there.
    with pytest.raises(ApiException) as info:
        await as_robot.read_namespaced_pod_status("p", NS)
    assert info.value.status == 404
    events = await client.EventsV1Api(robot).list_namespaced_event(NS)
    assert events.items is not None


async def test_a_cluster_role_bound_in_a_namespace_grants_only_there(
    local_cluster: LocalCluster, kube_client: ApiClient, robot: ApiClient
) -> None:
    core: Any = client.CoreV1Api(kube_client)
    await core.create_namespace({"metadata": {"name": "other"}})
    rbac: Any = client.RbacAuthorizationV1Api(kube_client)
    await rbac.create_namespaced_role_binding(
        NS,
        {
            "metadata": {"name": "view"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": NS}],
        },
    )
    as_robot = client.CoreV1Api(robot)
    assert (await as_robot.list_namespaced_pod(NS)).items == []
    for call in (as_robot.list_namespaced_pod("other"), as_robot.list_pod_for_all_namespaces()):
        with pytest.raises(ApiException) as info:
            await call
        assert info.value.status == 403
    with pytest.raises(ApiException) as info:  # view reads no secrets
        await as_robot.list_namespaced_secret(NS)
    assert info.value.status == 403
    # A ClusterRoleBinding grants everywhere.
    await rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "robot-view"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": NS}],
        }
    )
    assert (await as_robot.list_namespaced_pod("other")).items == []
    assert (await as_robot.list_pod_for_all_namespaces()).items == []


async def test_a_binding_to_a_missing_role_says_so(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    token = await make_account(kube_client)
    rbac: Any = client.RbacAuthorizationV1Api(kube_client)
    await rbac.create_namespaced_role_binding(
        NS,
        {
            "metadata": {"name": "dangling"},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "not-yet"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot"}],
        },
    )
    status, doc = await raw(local_cluster, "GET", f"/api/v1/namespaces/{NS}/pods", token)
    assert status == 403
    assert doc["message"].endswith(
        'in the namespace "default": RBAC: role.rbac.authorization.k8s.io "not-yet" not found'
    )


# -- reviews ------------------------------------------------------------------------------------


async def test_self_subject_access_review(
    local_cluster: LocalCluster, kube_client: ApiClient, robot: ApiClient
) -> None:
    await grant(kube_client, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    authz: Any = client.AuthorizationV1Api(robot)

    async def review(**attrs: str) -> Any:
        body = {"spec": {"resourceAttributes": {"namespace": NS, **attrs}}}
        return (await authz.create_self_subject_access_review(body)).status

    yes = await review(verb="list", resource="pods")
    assert yes.allowed is True
    assert yes.reason == (
        'RBAC: allowed by RoleBinding "r/default" of Role "r" to ServiceAccount "robot/default"'
    )
    no = await review(verb="delete", resource="pods")
    assert (no.allowed, no.reason) == (False, None)
    path = await authz.create_self_subject_access_review(
        {"spec": {"nonResourceAttributes": {"path": "/apis", "verb": "get"}}}
    )
    assert path.status.allowed is True
    with pytest.raises(ApiException) as info:
        await authz.create_self_subject_access_review({"spec": {}})
    assert info.value.status == 422
    assert body_of(info.value)["message"] == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
        "Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must "
        "be specified"
    )


async def test_self_subject_rules_review(robot: ApiClient, kube_client: ApiClient) -> None:
    await grant(kube_client, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    authz: Any = client.AuthorizationV1Api(robot)
    review = await authz.create_self_subject_rules_review({"spec": {"namespace": NS}})
    rules = [(r.verbs, r.api_groups, r.resources) for r in review.status.resource_rules]
    assert (["list"], [""], ["pods"]) in rules
    assert (["create"], ["authorization.k8s.io"],
            ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]) in rules  # fmt: skip
    urls = {u for r in review.status.non_resource_rules for u in r.non_resource_urls}
    assert {"/api", "/apis/*", "/version", "/healthz"} <= urls
    assert review.status.incomplete is False


async def test_subject_access_review_for_another_user(kube_client: ApiClient) -> None:
    await make_account(kube_client)
    await grant(kube_client, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    authz: Any = client.AuthorizationV1Api(kube_client)
    groups = ["system:serviceaccounts", "system:authenticated"]
    attrs = {"namespace": NS, "verb": "get", "resource": "pods"}
    sar = {"spec": {"user": SA_USER, "groups": groups, "resourceAttributes": attrs}}
    assert (await authz.create_subject_access_review(sar)).status.allowed is True
    sar["spec"]["user"] = "someone"
    assert (await authz.create_subject_access_review(sar)).status.allowed is False
    local = {"spec": {"user": SA_USER, "resourceAttributes": attrs}}
    made = await authz.create_namespaced_local_subject_access_review(NS, local)
    assert made.status.allowed is True


# -- impersonation ------------------------------------------------------------------------------


async def test_the_admin_may_impersonate_and_others_may_not(
    local_cluster: LocalCluster, kube_client: ApiClient
) -> None:
    token = await make_account(kube_client)
    await grant(kube_client, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    pods = f"/api/v1/namespaces/{NS}/pods"
    as_robot = {"Impersonate-User": SA_USER}
    status, _ = await raw(local_cluster, "GET", pods, local_cluster.token, headers=as_robot)
    assert status == 200
    status, doc = await raw(
        local_cluster, "GET", f"/api/v1/namespaces/{NS}/secrets", local_cluster.token,
        headers=as_robot,
    )  # fmt: skip
    assert status == 403 and doc["message"].startswith(f'secrets is forbidden: User "{SA_USER}"')
    status, doc = await raw(local_cluster, "GET", pods, token,
                            headers={"Impersonate-User": "kubernetes-admin"})  # fmt: skip
    assert status == 403
    assert doc["message"] == (
        f'users "kubernetes-admin" is forbidden: User "{SA_USER}" cannot impersonate resource '
        '"users" in API group "" at the cluster scope'
    )
    assert local_cluster.requests.entries[-1].user == SA_USER  # the requester is logged


# -- the RBAC kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("Role", {"rules": [{"apiGroups": [""], "resources": ["pods"]}]},
         'Role.rbac.authorization.k8s.io "x" is invalid: rules[0].verbs: Required value: '
         "verbs must contain at least one value"),
        ("Role", {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]},
         'Role.rbac.authorization.k8s.io "x" is invalid: rules[0].nonResourceURLs: Invalid '
         'value: "array": namespaced rules cannot apply to non-resource URLs'),
        ("ClusterRole", {"rules": [{"verbs": ["get"]}]},
         'ClusterRole.rbac.authorization.k8s.io "x" is invalid: [rules[0].apiGroups: Required '
         "value: resource rules must supply at least one api group, rules[0].resources: "
         "Required value: resource rules must supply at least one resource]"),
        ("RoleBinding", {"roleRef": {"kind": "Pod", "name": "r"}},
         'RoleBinding.rbac.authorization.k8s.io "x" is invalid: roleRef.kind: Unsupported '
         'value: "Pod": supported values: "Role", "ClusterRole"'),
        ("ClusterRoleBinding", {"roleRef": {"kind": "ClusterRole", "name": "r"},
                                "subjects": [{"kind": "ServiceAccount", "name": "sa"}]},
         'ClusterRoleBinding.rbac.authorization.k8s.io "x" is invalid: subjects[0].namespace: '
         "Required value"),
        ("RoleBinding", {"roleRef": {"kind": "Role", "name": "r"},
                         "subjects": [{"kind": "Robot", "name": "sa"}]},
         'RoleBinding.rbac.authorization.k8s.io "x" is invalid: subjects[0].kind: Unsupported '
         'value: "Robot": supported values: "ServiceAccount", "User", "Group"'),
    ],
)  # fmt: skip
async def test_rbac_validation(
    local_cluster: LocalCluster, kind: str, body: dict[str, Any], message: str
) -> None:
    plural = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
              "ClusterRoleBinding": "clusterrolebindings"}[kind]  # fmt: skip
    scope = f"namespaces/{NS}/" if not kind.startswith("Cluster") else ""
    path = f"/apis/{RBAC}/v1/{scope}{plural}"
    doc = {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": {"name": "x"}, **body}
    status, out = await raw(local_cluster, "POST", path, local_cluster.token, json=doc)
    assert (status, out["message"]) == (422, message)


async def test_bindings_are_defaulted_and_keep_their_role(kube_client: ApiClient) -> None:
    rbac: Any = client.RbacAuthorizationV1Api(kube_client)
    made = await rbac.create_namespaced_role_binding(
        NS,
        {
            "metadata": {"name": "b"},
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}],
        },
    )
    assert made.role_ref.api_group == RBAC
    assert [s.api_group for s in made.subjects] == [RBAC, None]
    with pytest.raises(ApiException) as info:
        await rbac.patch_namespaced_role_binding("b", NS, {"roleRef": {"name": "other"}})
    assert info.value.status == 422
    assert "roleRef: Invalid value" in body_of(info.value)["message"]
    assert body_of(info.value)["message"].endswith("cannot change roleRef")


async def test_aggregated_roles_follow_their_parts(kube_client: ApiClient) -> None:
    rbac: Any = client.RbacAuthorizationV1Api(kube_client)
    rule = {"apiGroups": ["example.org"], "resources": ["widgets"], "verbs": ["get"]}
    label = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
    await rbac.create_cluster_role({"metadata": {"name": "widgets", "labels": label},
                                    "rules": [rule]})  # fmt: skip
    view = await rbac.read_cluster_role("view")
    edit = await rbac.read_cluster_role("edit")
    for role in (view, edit):
        assert {"apiGroups": ["example.org"], "resources": ["widgets"], "verbs": ["get"]} in [
            {"apiGroups": r.api_groups, "resources": r.resources, "verbs": r.verbs}
            for r in role.rules
        ]


async def test_the_bootstrap_policy(kube_client: ApiClient) -> None:
    rbac: Any = client.RbacAuthorizationV1Api(kube_client)
    roles = {r.metadata.name: r for r in (await rbac.list_cluster_role()).items}
    assert {"cluster-admin", "system:discovery", "system:public-info-viewer",
            "system:basic-user", "admin", "edit", "view"} <= set(roles)  # fmt: skip
    bindings = {b.metadata.name: b for b in (await rbac.list_cluster_role_binding()).items}
    assert [(s.kind, s.name) for s in bindings["cluster-admin"].subjects] == [
        ("Group", "system:masters")
    ]
    assert [s.name for s in bindings["system:discovery"].subjects] == ["system:authenticated"]
    labels = roles["view"].metadata.labels
    assert labels["kubernetes.io/bootstrapping"] == "rbac-defaults"


async def test_the_binding_table(local_cluster: LocalCluster, kube_client: ApiClient) -> None:
    rbac: Any = client.RbacAuthorizationV1Api(kube_client)
    await rbac.create_namespaced_role_binding(
        NS,
        {
            "metadata": {"name": "b"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "u"},
                {"kind": "Group", "name": "g"},
                {"kind": "ServiceAccount", "name": "s", "namespace": NS},
            ],
        },
    )
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    async with (
        aiohttp.ClientSession(headers={**local_cluster.headers, "Accept": accept}) as http,
        http.get(f"{local_cluster.url}/apis/{RBAC}/v1/namespaces/{NS}/rolebindings") as r,
    ):
        table = await r.json()
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"]
    [row] = table["rows"]
    assert row["cells"][:2] == ["b", "ClusterRole/view"]
    assert row["cells"][3:] == ["u", "g", "default/s"]


async def test_discovery_lists_the_kinds_and_the_token_subresource(
    local_cluster: LocalCluster,
) -> None:
    status, rbac = await raw(local_cluster, "GET", f"/apis/{RBAC}/v1", local_cluster.token)
    assert status == 200
    assert {r["name"] for r in rbac["resources"]} == {
        "roles", "clusterroles", "rolebindings", "clusterrolebindings"
    }  # fmt: skip
    _, core = await raw(local_cluster, "GET", "/api/v1", local_cluster.token)
    [token] = [r for r in core["resources"] if r["name"] == "serviceaccounts/token"]
    assert token == {
        "name": "serviceaccounts/token",
        "singularName": "",
        "namespaced": True,
        "group": "authentication.k8s.io",
        "version": "v1",
        "kind": "TokenRequest",
        "verbs": ["create"],
    }
    _, authz = await raw(local_cluster, "GET", "/apis/authorization.k8s.io/v1",
                         local_cluster.token)  # fmt: skip
    [ssar] = [r for r in authz["resources"] if r["name"] == "selfsubjectaccessreviews"]
    assert ssar["verbs"] == ["create"] and "storageVersionHash" not in ssar


# -- without access control ---------------------------------------------------------------------


async def test_a_cluster_without_auth_needs_no_token() -> None:
    async with LocalCluster(auth=False) as cluster:
        assert cluster.token == "" and cluster.headers == {} and cluster.secure_url == ""
        status, doc = await raw(cluster, "GET", "/api/v1/namespaces/default/pods")
        assert status == 200, doc
        async with ApiClient(client_configuration(cluster)) as api:
            authz: Any = client.AuthorizationV1Api(api)
            body = {"spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}}
            assert (await authz.create_self_subject_access_review(body)).status.allowed


async def test_tokens_outlive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "cluster"
    with LocalCluster(data_dir=data, kubelet=False) as first:
        async with ApiClient(client_configuration(first)) as api:
            token = await make_account(api)
        admin = first.token
    with LocalCluster(data_dir=data, kubelet=False) as second:
        assert second.token == admin
        status, _ = await raw(second, "GET", "/version", token)
        assert status == 200


# -- the request attributes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "want"),
    [
        ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "1"}, ("watch", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/pods", {"fieldSelector": "metadata.name=a,x=y"},
         ("list", "", "pods", "", "", "a")),
        ("GET", "/api/v1/namespaces/ns/pods/p/log", {}, ("get", "", "pods", "log", "ns", "p")),
        ("DELETE", "/api/v1/namespaces/ns/pods", {},
         ("deletecollection", "", "pods", "", "ns", "")),
        ("PATCH", "/apis/g.io/v1/namespaces/ns/ws/w/status", {},
         ("patch", "g.io", "ws", "status", "ns", "w")),
        ("GET", "/api/v1/namespaces/ns", {}, ("get", "", "namespaces", "", "ns", "ns")),
        ("PUT", "/api/v1/namespaces/ns/finalize", {},
         ("update", "", "namespaces", "finalize", "ns", "ns")),
        ("GET", "/api/v1/watch/namespaces/ns/pods", {}, ("watch", "", "pods", "", "ns", "")),
        ("POST", "/api/v1/namespaces/ns/serviceaccounts/s/token", {},
         ("create", "", "serviceaccounts", "token", "ns", "s")),
    ],
)  # fmt: skip
def test_request_attributes(
    method: str, path: str, query: dict[str, str], want: tuple[str, ...]
) -> None:
    a = request_attributes(UserInfo("u"), method, path, query)
    assert a.resource_request
    assert (a.verb, a.group, a.resource, a.subresource, a.namespace, a.name) == want


@pytest.mark.parametrize("path", ["/", "/version", "/apis", "/apis/g.io", "/apis/g.io/v1",
                                  "/api/v1", "/openapi/v3/apis/g.io/v1"])  # fmt: skip
def test_non_resource_paths(path: str) -> None:
    a = request_attributes(UserInfo("u"), "HEAD", path, {})
    assert (a.resource_request, a.verb, a.path) == (False, "head", path)


@pytest.mark.parametrize(
    ("rule", "allowed"),
    [
        ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}, True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, False),
        ({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods/log"]}, False),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"],
          "resourceNames": ["p"]}, True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"],
          "resourceNames": ["q"]}, False),
        ({"verbs": ["list"], "apiGroups": [""], "resources": ["pods/log"]}, False),
    ],
)  # fmt: skip
def test_rule_matching(rule: dict[str, Any], allowed: bool) -> None:
    attrs = request_attributes(UserInfo("u"), "GET", "/api/v1/namespaces/ns/pods/p/log", {})
    assert rule_allows(attrs, rule) is allowed


@pytest.mark.parametrize(
    ("urls", "path", "allowed"),
    [(["/healthz"], "/healthz", True), (["/healthz"], "/healthz/ping", False),
     (["/apis/*"], "/apis/g/v1", True), (["/apis/*"], "/apis", False), (["*"], "/x", True)],
)  # fmt: skip
def test_non_resource_url_matching(urls: list[str], path: str, allowed: bool) -> None:
    attrs = request_attributes(UserInfo("u"), "GET", path, {})
    assert rule_allows(attrs, {"verbs": ["get"], "nonResourceURLs": urls}) is allowed


# -- escalation ---------------------------------------------------------------------------------


async def test_nobody_grants_what_they_do_not_hold(
    local_cluster: LocalCluster, kube_client: ApiClient, robot: ApiClient
) -> None:
    # robot may manage Roles and RoleBindings here, and read pods; nothing else. (With "*",
    # its verbs would include `escalate` and `bind`, which skip the check.)
    manage = ["get", "list", "create", "update", "patch", "delete"]
    await grant(
        kube_client,
        [
            {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": manage},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        ],
    )
    rbac: Any = client.RbacAuthorizationV1Api(robot)
    # A Role within robot's own rights is fine; one beyond them is refused, naming the rest.
    held = {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}
    await rbac.create_namespaced_role(NS, {"metadata": {"name": "ok"}, "rules": [held]})
    more = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete", "create"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    ]
    with pytest.raises(ApiException) as info:
        await rbac.create_namespaced_role(NS, {"metadata": {"name": "big"}, "rules": more})
    assert info.value.status == 403
    body = body_of(info.value)
    assert body["reason"] == "Forbidden"
    assert body["details"] == {"name": "big", "group": RBAC, "kind": "roles"}
    assert body["message"] == (
        f'roles.{RBAC} "big" is forbidden: user "{SA_USER}" (groups=["system:serviceaccounts" '
        '"system:serviceaccounts:default" "system:authenticated"]) is attempting to grant RBAC '
        "permissions not currently held:\n"
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "create"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}'
    )
    # Binding cluster-admin to itself: refused, as it holds far less.
    binding = {
        "metadata": {"name": "me-admin"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot"}],
    }
    with pytest.raises(ApiException) as info:
        await rbac.create_namespaced_role_binding(NS, binding)
    assert info.value.status == 403
    assert body_of(info.value)["message"].startswith(
        f'rolebindings.{RBAC} "me-admin" is forbidden: user "{SA_USER}"'
    )
    # ... unless it may `bind` that role.
    await grant(
        kube_client,
        [{"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["bind"],
          "resourceNames": ["cluster-admin"]}],
        name="binder",
    )  # fmt: skip
    await rbac.create_namespaced_role_binding(NS, binding)
    # A binding to a role robot's rules cover needs no `bind`.
    binding = {**binding, "metadata": {"name": "ok"}}
    binding["roleRef"] = {"apiGroup": RBAC, "kind": "Role", "name": "ok"}
    await rbac.create_namespaced_role_binding(NS, binding)


async def test_an_aggregation_rule_needs_cluster_admin(
    kube_client: ApiClient, robot: ApiClient
) -> None:
    rbac: Any = client.RbacAuthorizationV1Api(kube_client)
    manage = {"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["create"]}
    await rbac.create_cluster_role({"metadata": {"name": "role-maker"}, "rules": [manage]})
    await rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "role-maker"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "role-maker"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": NS}],
        }
    )
    selector = {"clusterRoleSelectors": [{"matchLabels": {"any": "thing"}}]}
    as_robot: Any = client.RbacAuthorizationV1Api(robot)
    with pytest.raises(ApiException) as info:
        await as_robot.create_cluster_role(
            {"metadata": {"name": "gatherer"}, "aggregationRule": selector}
        )
    assert body_of(info.value)["message"] == (
        f'clusterroles.{RBAC} "gatherer" is forbidden: must have cluster-admin privileges to '
        "use the aggregationRule"
    )
    await as_robot.create_cluster_role({"metadata": {"name": "plain"}, "rules": [manage]})
