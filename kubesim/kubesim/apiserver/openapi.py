"""OpenAPI v3 documents: the /openapi/v3 index and one document per group-version.

What kubectl reads from them (checked against kubectl 1.29-1.33; 1.27/1.28 still fetch /openapi/v2
up front for `apply` and fail without it):

* `kubectl apply/create/replace` with the default `--validate=strict` asks
  `resource.NewQueryParamVerifierV3` whether the kind supports `fieldValidation`: it fetches the
  group-version's document and looks, among PATCH operations whose `x-kubernetes-group-version-kind`
  (an object, on the operation) names the kind, for a *query* parameter `fieldValidation`
  declared on the operation itself (not on the path). Every PATCH here declares it, so kubectl sends
  `?fieldValidation=Strict` and skips client-side validation (which would need /openapi/v2). For a
  kind whose group is missing from the index but is a CRD, it checks Namespace in `api/v1` instead.
* The client-side-apply patcher asks whether the kind's PATCH accepts
  `application/strategic-merge-patch+json`; if so it computes the patch from the components schema.
  The built-in schemas here are only permissive sketches, so no operation offers it: kubectl then
  falls back to its compiled-in types (strategic merge patch for built-ins, JSON merge patch for
  CRDs and custom resources). It tries /openapi/v2 on the way: answer 404 there (and at
  /swagger-2.0.0.pb-v1) and it moves on; a 500 fails the apply.
* `kubectl explain` finds the kind through an operation's `x-kubernetes-group-version-kind` under
  `/{prefix}/{plural}[/{name}]` or the namespaced variants, then the components schema whose
  `x-kubernetes-group-version-kind` *list* contains it.

Serving: the real server answers `?hash=` that is not current with a 301 to the current URL, and a
current one with `Cache-Control: public, immutable`; serve `openapi_v3_json(doc)` so the bytes match
the hash.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from kubesim.apiserver.discovery import KUBE_VERSION, kube_version_key
from kubesim.registry.resources import Registry, ResourceType

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
SCALE = "io.k8s.api.autoscaling.v1.Scale"
_OBJ = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_INT64 = {"type": "integer", "format": "int64"}
_INT32 = {"type": "integer", "format": "int32"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": "#/components/schemas/" + name}


def _wrapped(name: str, description: str = "", default: Any = None) -> dict[str, Any]:
    # How kube-openapi publishes a described $ref in v3.
    out: dict[str, Any] = {"allOf": [_ref(name)]}
    if default is not None:
        out["default"] = default
    if description:
        out["description"] = description
    return out


def _map(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": value}


def _array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _obj(description: str, props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": description, "type": "object", "properties": props, **extra}


_TYPE_META = {
    "apiVersion": {**_STR, "description": "APIVersion defines the versioned schema of this "
                   "representation of an object."},
    "kind": {**_STR, "description": "Kind is a string value representing the REST resource this "
             "object represents."},
}  # fmt: skip

_META_SCHEMAS: dict[str, dict[str, Any]] = {
    META + "Time": {"type": "string", "format": "date-time",
                    "description": "Time is a wrapper around time.Time, serialized as RFC 3339."},
    META + "FieldsV1": {"type": "object", "description": "FieldsV1 stores a set of fields."},
    META + "Patch": {"type": "object", "description": "Patch is provided to give a concrete name "
                     "and type to the Kubernetes PATCH request body."},
    META + "OwnerReference": _obj(
        "OwnerReference contains enough information to let you identify an owning object.",
        {"apiVersion": _STR, "blockOwnerDeletion": _BOOL, "controller": _BOOL, "kind": _STR,
         "name": _STR, "uid": _STR},
        required=["apiVersion", "kind", "name", "uid"], **{"x-kubernetes-map-type": "atomic"}),
    META + "ManagedFieldsEntry": _obj(
        "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
        "that the fieldset applies to.",
        {"apiVersion": _STR, "fieldsType": _STR, "fieldsV1": _wrapped(META + "FieldsV1"),
         "manager": _STR, "operation": _STR, "subresource": _STR, "time": _wrapped(META + "Time")}),
    META + "ObjectMeta": _obj(
        "ObjectMeta is metadata that all persisted resources must have, which includes all "
        "objects users must create.",
        {"annotations": _map({**_STR, "default": ""}),
         "creationTimestamp": _wrapped(META + "Time"),
         "deletionGracePeriodSeconds": _INT64,
         "deletionTimestamp": _wrapped(META + "Time"),
         "finalizers": {**_array({**_STR, "default": ""}), "x-kubernetes-list-type": "set",
                        "x-kubernetes-patch-strategy": "merge"},
         "generateName": _STR,
         "generation": _INT64,
         "labels": _map({**_STR, "default": ""}),
         "managedFields": {**_array(_wrapped(META + "ManagedFieldsEntry", default={})),
                           "x-kubernetes-list-type": "atomic"},
         "name": _STR,
         "namespace": _STR,
         "ownerReferences": {**_array(_wrapped(META + "OwnerReference", default={})),
                             "x-kubernetes-list-map-keys": ["uid"],
                             "x-kubernetes-list-type": "map",
                             "x-kubernetes-patch-merge-key": "uid",
                             "x-kubernetes-patch-strategy": "merge"},
         "resourceVersion": _STR,
         "selfLink": _STR,
         "uid": _STR}),
    META + "ListMeta": _obj(
        "ListMeta describes metadata that synthetic resources must have.",
        {"continue": _STR, "remainingItemCount": _INT64, "resourceVersion": _STR,
         "selfLink": _STR}),
    META + "StatusCause": _obj(
        "StatusCause provides more information about an api.Status failure.",
        {"field": _STR, "message": _STR, "reason": _STR}),
    META + "StatusDetails": _obj(
        "StatusDetails is a set of additional properties that MAY be set by the server.",
        {"causes": {**_array(_wrapped(META + "StatusCause", default={})),
                    "x-kubernetes-list-type": "atomic"},
         "group": _STR, "kind": _STR, "name": _STR, "retryAfterSeconds": _INT32, "uid": _STR}),
    META + "Status": _obj(
        "Status is a return value for calls that don't return other objects.",
        {**_TYPE_META, "code": _INT32, "details": _wrapped(META + "StatusDetails"),
         "message": _STR, "metadata": _wrapped(META + "ListMeta", default={}), "reason": _STR,
         "status": _STR},
        **{"x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}]}),
    META + "Preconditions": _obj(
        "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried "
        "out.", {"resourceVersion": _STR, "uid": _STR}),
    META + "DeleteOptions": _obj(
        "DeleteOptions may be provided when deleting an API object.",
        {**_TYPE_META, "dryRun": {**_array({**_STR, "default": ""}),
                                  "x-kubernetes-list-type": "atomic"},
         "gracePeriodSeconds": _INT64, "orphanDependents": _BOOL,
         "preconditions": _wrapped(META + "Preconditions"), "propagationPolicy": _STR}),
}  # fmt: skip

_SCALE_SCHEMAS: dict[str, dict[str, Any]] = {
    SCALE + "Spec": _obj("ScaleSpec describes the attributes of a scale subresource.",
                         {"replicas": _INT32}),
    SCALE + "Status": _obj("ScaleStatus represents the current status of a scale subresource.",
                           {"replicas": {**_INT32, "default": 0}, "selector": _STR},
                           required=["replicas"]),
    SCALE: _obj("Scale represents a scaling request for a resource.",
                {**_TYPE_META, "metadata": _wrapped(META + "ObjectMeta", default={}),
                 "spec": _wrapped(SCALE + "Spec", default={}),
                 "status": _wrapped(SCALE + "Status", default={})},
                **{"x-kubernetes-group-version-kind": [
                    {"group": "autoscaling", "kind": "Scale", "version": "v1"}]}),
}  # fmt: skip

# Top-level fields of the built-in kinds, enough for `kubectl explain` to list them. Their content
# is left open (x-kubernetes-preserve-unknown-fields): the server validates, not kubectl.
_SPEC_STATUS = {"spec": _OBJ, "status": _OBJ}
_BUILTIN_FIELDS: dict[tuple[str, str], dict[str, Any]] = {
    ("", "ConfigMap"): {"binaryData": _map({**_STR, "format": "byte"}), "data": _map(_STR),
                        "immutable": _BOOL},
    ("", "Secret"): {"data": _map({**_STR, "format": "byte"}), "immutable": _BOOL,
                     "stringData": _map(_STR), "type": _STR},
    ("", "ServiceAccount"): {"automountServiceAccountToken": _BOOL,
                             "imagePullSecrets": _array(_OBJ), "secrets": _array(_OBJ)},
    ("", "Event"): {"action": _STR, "count": _INT32, "eventTime": _STR,
                    "firstTimestamp": _wrapped(META + "Time"), "involvedObject": _OBJ,
                    "lastTimestamp": _wrapped(META + "Time"), "message": _STR, "reason": _STR,
                    "related": _OBJ, "reportingComponent": _STR, "reportingInstance": _STR,
                    "series": _OBJ, "source": _OBJ, "type": _STR},
    ("events.k8s.io", "Event"): {"action": _STR, "deprecatedCount": _INT32,
                                 "deprecatedFirstTimestamp": _wrapped(META + "Time"),
                                 "deprecatedLastTimestamp": _wrapped(META + "Time"),
                                 "deprecatedSource": _OBJ, "eventTime": _STR, "note": _STR,
                                 "reason": _STR, "regarding": _OBJ, "related": _OBJ,
                                 "reportingController": _STR, "reportingInstance": _STR,
                                 "series": _OBJ, "type": _STR},
    ("apps", "ControllerRevision"): {"data": _OBJ, "revision": _INT64},
    ("rbac.authorization.k8s.io", "Role"): {"rules": _array(_OBJ)},
    ("rbac.authorization.k8s.io", "ClusterRole"): {"aggregationRule": _OBJ,
                                                   "rules": _array(_OBJ)},
    ("rbac.authorization.k8s.io", "RoleBinding"): {"roleRef": _OBJ, "subjects": _array(_OBJ)},
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): {"roleRef": _OBJ,
                                                          "subjects": _array(_OBJ)},
}  # fmt: skip

# Query parameters of each operation, as the real server declares them.
_LIST_PARAMS = ["allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
                "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds",
                "watch"]  # fmt: skip
_WRITE_PARAMS = ["dryRun", "fieldManager", "fieldValidation"]
_PATCH_PARAMS = [*_WRITE_PARAMS, "force"]
_DELETE_PARAMS = ["dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy"]
_DELETECOLLECTION_PARAMS = ["continue", "dryRun", "fieldSelector", "gracePeriodSeconds",
                            "labelSelector", "limit", "orphanDependents", "propagationPolicy",
                            "resourceVersion", "resourceVersionMatch", "sendInitialEvents",
                            "timeoutSeconds"]  # fmt: skip
_LOG_PARAMS = ["container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "previous",
               "sinceSeconds", "tailLines", "timestamps"]  # fmt: skip
_BOOL_PARAMS = {"allowWatchBookmarks", "follow", "force", "insecureSkipTLSVerifyBackend",
                "orphanDependents", "previous", "sendInitialEvents", "timestamps",
                "watch"}  # fmt: skip
_INT_PARAMS = {"gracePeriodSeconds", "limit", "limitBytes", "sinceSeconds", "tailLines",
               "timeoutSeconds"}  # fmt: skip
_PARAM_DOCS = {
    "dryRun": "When present, indicates that modifications should not be persisted. Valid "
    "values are: - All: all dry run stages will be processed",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making "
    "these changes.",
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the "
    "request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore, "
    "- Warn, - Strict.",
    "force": 'Force is going to "force" Apply requests. It must be unset for non-apply patch '
    "requests.",
}  # fmt: skip
# No strategic-merge-patch: see the module docstring.
_PATCH_TYPES = ["application/apply-patch+yaml", "application/json-patch+json",
                "application/merge-patch+json"]  # fmt: skip


def _query(name: str) -> dict[str, Any]:
    kind = "boolean" if name in _BOOL_PARAMS else "integer" if name in _INT_PARAMS else "string"
    param: dict[str, Any] = {
        "name": name,
        "in": "query",
        "schema": {"type": kind, "uniqueItems": True},
    }
    if name in _PARAM_DOCS:
        param["description"] = _PARAM_DOCS[name]
    return param


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


def schema_name(rt: ResourceType, kind: str | None = None) -> str:
    """The components/schemas key of a kind, named as the real server names it."""
    kind = kind or rt.kind
    if rt.custom:
        return ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{kind}"
    if rt.group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{rt.version}.{kind}"
    package = rt.group.removesuffix(".k8s.io") or "core"
    return f"io.k8s.api.{package}.{rt.version}.{kind}"


def _gvk(rt: ResourceType, kind: str | None = None) -> dict[str, str]:
    return {"group": rt.group, "kind": kind or rt.kind, "version": rt.version}


def _kind_schema(rt: ResourceType) -> dict[str, Any]:
    if rt.custom:
        # As apiextensions' builder: the CRD's schema with TypeMeta and a reference to ObjectMeta.
        schema: dict[str, Any] = copy.deepcopy(rt.schema) if rt.schema else {"type": "object"}
        if rt.schema:
            props = schema.setdefault("properties", {})
            props.update(copy.deepcopy(_TYPE_META))
            props["metadata"] = _wrapped(META + "ObjectMeta", "Standard object's metadata.")
    else:
        props = {
            **_TYPE_META,
            "metadata": _wrapped(
                META + "ObjectMeta", default={}, description="Standard object's metadata."
            ),
        }
        props.update(_BUILTIN_FIELDS.get((rt.group, rt.kind), _SPEC_STATUS))
        schema = {
            "description": f"{rt.kind} ({rt.api_version}).",
            "type": "object",
            "properties": props,
        }
    schema["x-kubernetes-group-version-kind"] = [_gvk(rt)]
    return schema


def _list_schema(rt: ResourceType) -> dict[str, Any]:
    return {
        "description": f"{rt.list_kind} is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            **_TYPE_META,
            "items": _array(_ref(schema_name(rt))),
            "metadata": _wrapped(META + "ListMeta", "Standard list metadata.", default={}),
        },
        "x-kubernetes-group-version-kind": [_gvk(rt, rt.list_kind)],
    }


def _camel(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in text.replace("-", ".").split(".") if p)


def _content(ref: dict[str, Any], *, watch: bool = False) -> dict[str, Any]:
    types = ["application/json", "application/yaml"]
    if watch:
        types.append("application/json;stream=watch")
    return {t: {"schema": ref} for t in types}


_VERBS = {"get": "read", "list": "list", "post": "create", "put": "replace", "patch": "patch",
          "delete": "delete", "deletecollection": "deletecollection"}  # fmt: skip
_CODES = {"201": "Created", "202": "Accepted"}


class _Ops:
    """Builds the operations of one resource, named and tagged like the real server's."""

    def __init__(self, rt: ResourceType) -> None:
        self.rt = rt
        group = rt.group.removesuffix(".k8s.io") if not rt.custom else rt.group
        self.gv = _camel(group or "core") + _camel(rt.version)
        self.tag = (group or "core").replace(".", "") + "_" + rt.version
        self.kind_ref = _ref(schema_name(rt))
        self.whole = {"content": {"*/*": {"schema": self.kind_ref}}, "required": True}

    def op(
        self,
        action: str,
        params: list[str],
        response: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        codes: str = "",
        sub: str = "",
        all_namespaces: bool = False,
    ) -> dict[str, Any]:
        rt, verb = self.rt, _VERBS[action]
        response = response or self.kind_ref
        content = _content(response, watch=action == "list")
        responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
        for code in codes.split():
            responses[code] = {"description": _CODES[code], "content": _content(response)}
        responses["401"] = {"description": "Unauthorized"}
        scope = "Namespaced" if rt.namespaced and not all_namespaces else ""
        suffix = "ForAllNamespaces" if all_namespaces else ""
        op: dict[str, Any] = {
            "tags": [self.tag],
            "description": f"{verb} {sub + ' of ' if sub else ''}{rt.kind}",
            "operationId": f"{verb}{self.gv}{scope}{rt.kind}{_camel(sub)}{suffix}",
            "parameters": [_query(p) for p in params],
            "responses": responses,
            "x-kubernetes-action": action,
            # Where kubectl looks for the kind (an object here, a list on schemas).
            "x-kubernetes-group-version-kind": _gvk(rt),
        }
        if body is not None:
            op["requestBody"] = body
        return op

    def item(self, sub: str = "", ref: dict[str, Any] | None = None) -> dict[str, Any]:
        ref = ref or self.kind_ref
        whole = {"content": {"*/*": {"schema": ref}}, "required": True}
        patch = {"content": {t: {"schema": _ref(META + "Patch")} for t in _PATCH_TYPES},
                 "required": True}  # fmt: skip
        ops = {
            "get": self.op("get", [], ref, sub=sub),
            "put": self.op("put", _WRITE_PARAMS, ref, whole, "201", sub),
            # fieldValidation here is what makes kubectl validate server-side.
            "patch": self.op("patch", _PATCH_PARAMS, ref, patch, "201", sub),
        }
        if not sub:
            options = {"content": {"*/*": {"schema": _ref(META + "DeleteOptions")}}}
            ops["delete"] = self.op("delete", _DELETE_PARAMS, _ref(META + "Status"), options, "202")
        return ops


def _paths(rt: ResourceType) -> dict[str, dict[str, Any]]:
    ops = _Ops(rt)
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    pretty = _query("pretty")
    list_ref = _ref(schema_name(rt, rt.list_kind))
    status_ref = _ref(META + "Status")
    paths: dict[str, dict[str, Any]] = {}
    scope: list[dict[str, Any]] = []
    base = f"{prefix}/{rt.plural}"
    if rt.verbs == ("create",):  # the reviews: a POST and nothing else
        if rt.namespaced:
            base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}"
            scope = [_path_param("namespace", "object name and auth scope, such as for teams")]
        post = ops.op("post", _WRITE_PARAMS, None, ops.whole, "201 202")
        return {base: {"parameters": [*scope, pretty], "post": post}}
    if rt.namespaced:
        every = ops.op("list", _LIST_PARAMS, list_ref, all_namespaces=True)
        paths[base] = {"parameters": [pretty], "get": every}
        base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}"
        scope = [_path_param("namespace", "object name and auth scope, such as for teams")]
    paths[base] = {
        "parameters": [*scope, pretty],
        "get": ops.op("list", _LIST_PARAMS, list_ref),
        "post": ops.op("post", _WRITE_PARAMS, None, ops.whole, "201 202"),
        "delete": ops.op("deletecollection", _DELETECOLLECTION_PARAMS, status_ref),
    }
    item_params = [_path_param("name", f"name of the {rt.kind}"), *scope, pretty]
    paths[base + "/{name}"] = {"parameters": item_params, **ops.item()}
    for sub in ("status", "scale"):
        if sub in rt.subresources:
            ref = _ref(SCALE) if sub == "scale" else None
            paths[f"{base}/{{name}}/{sub}"] = {"parameters": item_params, **ops.item(sub, ref)}
    if "log" in rt.subresources:
        log = ops.op("get", _LOG_PARAMS, _STR, sub="log")
        log["responses"]["200"]["content"] = {"text/plain": {"schema": _STR}}
        paths[base + "/{name}/log"] = {"parameters": item_params, "get": log}
    return paths


_SECURITY = {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                              "description": "Bearer Token authentication"}}  # fmt: skip


def _document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    # Deep-copied: the parts are shared module constants and callers may mutate the result.
    return copy.deepcopy(
        {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": KUBE_VERSION},
            "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": _SECURITY},
        }
    )


def openapi_v3_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The document for /openapi/v3/api/v1 or /openapi/v3/apis/{group}/{version}."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(_META_SCHEMAS)
    for rt in sorted(types, key=lambda t: t.plural):
        paths.update(_paths(rt))
        schemas[schema_name(rt)] = _kind_schema(rt)
        schemas[schema_name(rt, rt.list_kind)] = _list_schema(rt)
        if "scale" in rt.subresources:
            schemas.update(_SCALE_SCHEMAS)
    return _document(paths, schemas)


def _discovery_document(path: str, operation_id: str) -> dict[str, Any]:
    get = {
        "tags": ["core" if path == "/api/" else "apis"],
        "description": "get available API versions",
        "operationId": operation_id,
        "responses": {
            "200": {"description": "OK", "content": _content({"type": "object"})},
            "401": {"description": "Unauthorized"},
        },
    }
    return _document({path: {"get": get}}, {})


def openapi_v3_path_document(registry: Registry, path: str) -> dict[str, Any] | None:
    """The document for /openapi/v3/{path}, for every key `openapi_v3_index` lists."""
    parts = path.strip("/").split("/")
    if parts == ["api"]:
        return _discovery_document("/api/", "getCoreAPIVersions")
    if parts == ["apis"]:
        return _discovery_document("/apis/", "getAPIVersions")
    if len(parts) == 2 and parts[0] == "api":
        return openapi_v3_document(registry, "", parts[1])
    if len(parts) == 3 and parts[0] == "apis":
        return openapi_v3_document(registry, parts[1], parts[2])
    return None


def openapi_v3_json(doc: dict[str, Any]) -> bytes:
    """The canonical bytes of a document: serve these so ETag and hash agree."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def openapi_v3_hash(doc: dict[str, Any]) -> str:
    """The `hash` the index advertises: SHA-512 of the served bytes, upper-case hex, as real."""
    return hashlib.sha512(openapi_v3_json(doc)).hexdigest().upper()


def openapi_v3_index(registry: Registry) -> dict[str, Any]:
    """The body of GET /openapi/v3."""
    keys = ["api", "apis"]
    for group, versions in registry.groups().items():
        for version in sorted(versions, key=kube_version_key):
            keys.append(f"apis/{group}/{version}" if group else f"api/{version}")
    paths = {}
    for key in sorted(keys):
        doc = openapi_v3_path_document(registry, key)
        assert doc is not None
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={openapi_v3_hash(doc)}"}
    return {"paths": paths}
