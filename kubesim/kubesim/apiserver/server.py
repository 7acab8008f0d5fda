"""HTTP serving of the embedded Kubernetes API (aiohttp): paths, queries, bodies, streams."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from kubesim.apiserver import discovery, openapi, tables
from kubesim.apiserver.api import APPLY_PATCH, Api, ListOptions, WriteOptions
from kubesim.apiserver.faults import Faults, RequestLog, RequestRecord, now
from kubesim.apiserver.scale import get_scale, update_scale
from kubesim.apiserver.selectors import FieldSelector, LabelSelector
from kubesim.apiserver.watch import WatchOptions, WatchStream
from kubesim.node.kubelet import Kubelet
from kubesim.registry import deepjson
from kubesim.registry.errors import ApiError, bad_request, method_not_allowed, resource_not_found
from kubesim.registry.resources import ResourceType

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # etcd's object limit is 1.5 MiB; leave room for a patch of one
TRUE = {"1", "t", "T", "true", "True", "TRUE"}
FALSE = {"0", "f", "F", "false", "False", "FALSE"}
NAMESPACE_SUBRESOURCES = {"status", "finalize"}


@dataclass
class Target:
    rt: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None

    @property
    def resource(self) -> str:
        return f"{self.rt.plural}/{self.sub}" if self.sub else self.rt.plural


class ApiServer:
    def __init__(
        self,
        api: Api,
        *,
        kubelet: Kubelet | None = None,
        faults: Faults | None = None,
        requests: RequestLog | None = None,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.api = api
        self.kubelet = kubelet
        self.faults = faults or Faults()
        self.requests = requests or RequestLog()
        self.bookmark_interval = bookmark_interval
        self.address = "127.0.0.1:0"
        self._watches: dict[WatchStream, str] = {}
        self.faults._cutter = self._cut_watches
        self.app = web.Application(client_max_size=MAX_BODY)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    # -- dispatch ----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        verb, resource, namespace = "", "", None
        status = 500
        try:
            target = self._resolve(request.path)
            if target is not None:
                verb = _verb(request, target)
                resource, namespace = target.resource, target.namespace
            latency, fault = self.faults.check(verb, request.path)
            if latency:
                await asyncio.sleep(latency)
            if fault is not None:
                raise fault
            if target is None:
                response = self._non_resource(request)
            else:
                response = await self._resource(request, target, verb)
            status = response.status
            return response
        except ApiError as err:
            status = err.code
            return _status_response(err)
        except (ConnectionResetError, asyncio.CancelledError):
            status = 499  # the client went away; nothing to answer
            raise
        except Exception:  # a bug here must not take the server down
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            status = 500
            return _status_response(ApiError(500, "InternalError", "internal server error"))
        finally:
            self.requests.record(
                RequestRecord(
                    now(),
                    request.method,
                    request.path,
                    request.query_string,
                    verb,
                    resource,
                    namespace,
                    status,
                )
            )

    def _resolve(self, path: str) -> Target | None:
        """The resource a path names; None for non-resource paths (discovery, health)."""
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        if not self.api.registry.in_group_version(group, version):
            raise resource_not_found()
        namespace = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (not group and len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES)
        ):
            namespace, rest = rest[1], rest[2:]
        rt = self.api.registry.get(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise resource_not_found()
        if namespace is not None and not rt.namespaced:
            raise resource_not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            raise resource_not_found()
        return Target(rt, namespace, name, sub)

    def _non_resource(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise method_not_allowed()
        path = request.path.rstrip("/") or "/"
        registry = self.api.registry
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        doc: dict[str, Any] | None = None
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            doc = discovery.version_info()
        elif path == "/api":
            doc = discovery.api_versions(self.address)
        elif path == "/apis":
            doc = discovery.api_group_list(registry)
        elif path == "/api/v1":
            doc = discovery.api_resource_list(registry, "", "v1")
        elif len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(registry, parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = discovery.api_resource_list(registry, parts[1], parts[2])
        elif path == "/openapi/v3":
            doc = openapi.openapi_v3_index(registry)
        elif path.startswith("/openapi/v3/"):
            spec = openapi.openapi_v3_path_document(registry, path[len("/openapi/v3/") :])
            if spec is None:
                raise resource_not_found()
            return web.Response(body=openapi.openapi_v3_json(spec), content_type="application/json")
        if doc is None:
            raise resource_not_found()
        content_type = discovery.discovery_content_type(request.headers.get("Accept", ""))
        if content_type is None:
            raise ApiError(406, "NotAcceptable", "only application/json is served")
        return _json_response(doc, content_type=content_type)

    # -- resources ---------------------------------------------------------------------------

    async def _resource(self, request: web.Request, t: Target, verb: str) -> web.StreamResponse:
        api, q = self.api, request.query
        if t.rt.namespaced and t.namespace is None and verb not in ("list", "watch"):
            raise method_not_allowed()
        if t.sub == "log":
            return await self._log(request, t)
        if t.sub == "scale":
            assert t.name is not None
            if verb == "get":
                return _json_response(get_scale(api, t.rt, t.namespace, t.name))
            if verb in ("update", "patch"):
                body = await _body(request) if verb == "update" else await _raw_patch(request)
                scale = update_scale(
                    api, t.rt, t.namespace, t.name, body,
                    request.content_type if verb == "patch" else None,
                )  # fmt: skip
                return _json_response(scale)
            raise method_not_allowed()
        if verb == "list":
            return self._render(request, t.rt, api.list(t.rt, t.namespace, _list_options(q, t.rt)))
        if verb == "watch":
            return await self._watch(request, t)
        if verb == "get":
            assert t.name is not None
            return self._render(request, t.rt, api.get(t.rt, t.namespace, t.name))
        opts = _write_options(q)
        if verb == "create":
            obj = api.create(t.rt, t.namespace, await _body(request), opts)
            return _json_response(obj, status=201, warnings=opts.warnings)
        if verb == "update":
            assert t.name is not None
            obj = api.update(
                t.rt, t.namespace, t.name, await _body(request), opts, subresource=t.sub
            )
            return _json_response(obj, warnings=opts.warnings)
        if verb == "patch":
            assert t.name is not None
            if request.content_type == APPLY_PATCH:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "server-side apply (application/apply-patch+yaml) is not supported by the "
                    "embedded API server; use client-side apply",
                )
            patch = await _raw_patch(request)
            obj = api.patch(
                t.rt, t.namespace, t.name, patch, request.content_type, opts, subresource=t.sub
            )
            return _json_response(obj, warnings=opts.warnings)
        if verb in ("delete", "deletecollection"):
            options = await _delete_options(request)
            kwargs: dict[str, Any] = {
                "grace_period": options.get("gracePeriodSeconds"),
                "preconditions": options.get("preconditions"),
                "propagation": options.get("propagationPolicy"),
                "dry_run": options.get("dryRun") == ["All"] or opts.dry_run,
            }
            if verb == "delete":
                assert t.name is not None
                return _json_response(api.delete(t.rt, t.namespace, t.name, **kwargs))
            return _json_response(
                api.delete_collection(t.rt, t.namespace, _list_options(q, t.rt), **kwargs)
            )
        raise method_not_allowed()

    def _render(self, request: web.Request, rt: ResourceType, doc: dict[str, Any]) -> web.Response:
        table_version = tables.wants_table(request.headers.get("Accept", ""))
        if table_version is None:
            return _json_response(doc)
        include = request.query.get("includeObject", "Metadata")
        if "items" not in doc:
            return _json_response(
                tables.object_table(rt, doc, include_object=include, table_version=table_version)
            )
        items = doc["items"]
        if not rt.custom:
            items = [{"apiVersion": rt.api_version, "kind": rt.kind, **o} for o in items]
        table = tables.to_table(
            rt, items, list_meta=doc["metadata"], include_object=include,
            table_version=table_version,
        )  # fmt: skip
        return _json_response(table)

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        timeout = (
            float(_int(q, "timeoutSeconds") or 0)
            or random.uniform(1800, 3600)  # as the real server spreads reconnects
        )
        opts = WatchOptions(
            labels=LabelSelector.parse(q.get("labelSelector")),
            fields=_field_selector(q, t.rt, t.name),
            resource_version=q.get("resourceVersion"),
            timeout=timeout,
            bookmarks=_bool(q, "allowWatchBookmarks"),
            bookmark_interval=self.bookmark_interval,
            send_initial_events=_bool(q, "sendInitialEvents") if "sendInitialEvents" in q else None,
        )
        stream = WatchStream(self.api, t.rt, t.namespace, opts)
        table_version = tables.wants_table(request.headers.get("Accept", ""))
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )
        await response.prepare(request)
        self._watches[stream] = request.path
        first = True
        try:
            async for kind, obj in stream.events():
                if table_version and kind not in ("ERROR", "BOOKMARK"):
                    obj = tables.object_table(
                        t.rt, obj, table_version=table_version,
                        include_object=q.get("includeObject", "Metadata"),
                        include_columns=first,
                    )  # fmt: skip
                    first = False
                await response.write(deepjson.dumps({"type": kind, "object": obj}).encode() + b"\n")
        except ConnectionResetError:
            pass  # the client left
        finally:
            self._watches.pop(stream, None)
            stream.subscription.close()
        return response

    def _cut_watches(self, pattern: re.Pattern[str]) -> int:
        cut = [s for s, path in list(self._watches.items()) if pattern.search(path)]
        for stream in cut:
            stream.subscription.close("cut by fault injection")
        return len(cut)

    async def _log(self, request: web.Request, t: Target) -> web.StreamResponse:
        if request.method != "GET":
            raise method_not_allowed()
        assert t.name is not None
        pod = self.api.get(t.rt, t.namespace, t.name)
        if self.kubelet is None:
            raise bad_request(f'pod "{t.name}" has no kubelet to serve its logs')
        q = request.query
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = q.get("container")
        if container is None:
            if len(containers) != 1:
                raise bad_request(
                    f"a container name must be specified for pod {t.name}, choose one of: "
                    f"[{' '.join(str(c) for c in containers)}]"
                )
            container = containers[0]
        elif container not in containers:
            raise bad_request(f"container {container} is not valid for pod {t.name}")
        follow = _bool(q, "follow")
        lines = self.kubelet.logs(
            pod, str(container), follow=follow, tail_lines=_int(q, "tailLines"),
            timestamps=_bool(q, "timestamps"), previous=_bool(q, "previous"),
        )  # fmt: skip
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        try:
            async for line in lines:
                await response.write(line.encode())
        except ConnectionResetError:
            pass
        return response


# -- request parsing ------------------------------------------------------------------------


def _verb(request: web.Request, t: Target) -> str:
    method = request.method
    if method in ("GET", "HEAD"):
        if t.name is None or t.sub == "log":
            if t.name is None and _bool(request.query, "watch"):
                return "watch"
            return "list" if t.name is None else "get"
        return "watch" if _bool(request.query, "watch") else "get"
    if method == "POST":
        if t.name is not None:
            raise method_not_allowed()
        return "create"
    if method == "PUT":
        if t.name is None:
            raise method_not_allowed()
        return "update"
    if method == "PATCH":
        if t.name is None:
            raise method_not_allowed()
        return "patch"
    if method == "DELETE":
        if t.sub is not None:
            raise method_not_allowed()
        return "delete" if t.name is not None else "deletecollection"
    raise method_not_allowed()


def _bool(q: Any, key: str) -> bool:
    value = q.get(key)
    if value is None or value == "":
        return False
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise bad_request(f'invalid boolean value for {key}: "{value}"')


def _int(q: Any, key: str) -> int | None:
    value = q.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f'{key}: invalid value "{value}": must be an integer') from None


def _field_selector(q: Any, rt: ResourceType, name: str | None = None) -> FieldSelector:
    text = q.get("fieldSelector") or ""
    if name is not None:
        # A watch on one object is a watch on the collection with a name selector.
        text = ",".join(filter(None, [f"metadata.name={name}", text]))
    return FieldSelector.parse(text, rt.selectable_fields, rt.plural)


def _list_options(q: Any, rt: ResourceType) -> ListOptions:
    return ListOptions(
        labels=LabelSelector.parse(q.get("labelSelector")),
        fields=_field_selector(q, rt),
        limit=_int(q, "limit") or 0,
        continue_token=q.get("continue") or None,
        resource_version=q.get("resourceVersion"),
        resource_version_match=q.get("resourceVersionMatch") or None,
    )


def _write_options(q: Any) -> WriteOptions:
    dry_run = q.getall("dryRun", [])
    for value in dry_run:
        if value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    validation = q.get("fieldValidation") or "Warn"
    if validation not in ("Strict", "Warn", "Ignore"):
        raise bad_request(
            f'fieldValidation: Unsupported value: "{validation}": supported values: '
            '"Ignore", "Strict", "Warn"'
        )
    return WriteOptions(dry_run=bool(dry_run), field_validation=validation)


async def _read_text(request: web.Request) -> str:
    try:
        return await request.text()
    except UnicodeDecodeError:
        raise bad_request("the request body is not valid UTF-8") from None


async def _body(request: web.Request) -> Any:
    """A create/update body: JSON (or YAML, which a real server also accepts)."""
    ctype = request.content_type
    text = await _read_text(request)
    if ctype in ("application/json", "application/octet-stream", ""):
        try:
            return deepjson.loads(text)
        except ValueError as err:  # JSONDecodeError, or an integer of over 4,300 digits
            raise bad_request(f"json parse error: {err}") from None
    if ctype in ("application/yaml", "application/x-yaml"):
        try:
            body = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise bad_request(f"yaml parse error: {err}") from None
        except RecursionError:  # PyYAML recurses (Go's YAML decoder would allow 10,000 levels)
            raise bad_request("yaml parse error: nested too deeply") from None
        return deepjson.replace_lone_surrogates(body) if "\\" in text else body
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f'application/json, application/yaml (got "{ctype}")',
    )


async def _raw_patch(request: web.Request) -> Any:
    text = await _read_text(request)
    try:
        return deepjson.loads(text)
    except ValueError as err:
        raise bad_request(f"json parse error in patch: {err}") from None


async def _delete_options(request: web.Request) -> dict[str, Any]:
    """DeleteOptions from the body and the query (the query wins, as on a real server)."""
    options: dict[str, Any] = {}
    if request.can_read_body:
        text = await _read_text(request)
        if text.strip():
            try:
                body = deepjson.loads(text)
            except ValueError as err:
                raise bad_request(f"json parse error in DeleteOptions: {err}") from None
            if not isinstance(body, dict):
                raise bad_request("DeleteOptions must be a JSON object")
            options.update(body)
    q = request.query
    grace = _int(q, "gracePeriodSeconds")
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    if q.get("propagationPolicy"):
        options["propagationPolicy"] = q["propagationPolicy"]
    if q.getall("dryRun", []):
        options["dryRun"] = q.getall("dryRun")
    if options.get("propagationPolicy") not in (None, "Orphan", "Background", "Foreground"):
        raise bad_request(f"propagationPolicy: Unsupported value: {options['propagationPolicy']!r}")
    return options


def _json_response(
    doc: Any,
    *,
    status: int = 200,
    content_type: str = "application/json",
    warnings: list[str] | None = None,
) -> web.Response:
    headers = {"Content-Type": content_type}
    response = web.Response(body=deepjson.dumps(doc).encode(), status=status, headers=headers)
    for warning in warnings or ():
        response.headers.add("Warning", f'299 - "{warning}"'.replace("\n", " "))
    return response


def _status_response(err: ApiError) -> web.Response:
    return _json_response(err.status(), status=err.code)
