"""HTTP serving of the embedded Kubernetes API (aiohttp): dispatch of paths to the verbs.

Routing is in routing.py, parameters and bodies in httpio.py, the verbs themselves in api.py;
container logs come from a `LogSource` (logs.py) and exec, attach and portforward from a
`StreamSource` (streams.py, served by streaming.py) that the cluster passes in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kubesim.apiserver import aggregator, discovery, encoding, openapi, protobuf, tables
from kubesim.apiserver.access import AccessControl
from kubesim.apiserver.admission import WriteOptions
from kubesim.apiserver.api import Api
from kubesim.apiserver.apply import check_options, parse_config
from kubesim.apiserver.authn import MASTERS
from kubesim.apiserver.deletion import JOB_ORPHAN_WARNING, propagation_policy
from kubesim.apiserver.escalation import BINDING_KINDS, ROLE_KINDS, check_grant
from kubesim.apiserver.faults import Faults, RequestLog, RequestRecord, now
from kubesim.apiserver.httpio import (
    delete_options,
    field_selector,
    json_response,
    list_options,
    query_bool,
    query_int,
    read_body,
    read_patch,
    status_response,
    write_options,
)
from kubesim.apiserver.logs import LogSource, serve_logs
from kubesim.apiserver.managed_fields import request_manager
from kubesim.apiserver.patches import APPLY_PATCH
from kubesim.apiserver.requestinfo import Attributes, UserInfo, request_attributes
from kubesim.apiserver.routing import Target, request_verb, resolve
from kubesim.apiserver.scale import get_scale, update_scale
from kubesim.apiserver.selectors import LabelSelector
from kubesim.apiserver.streaming import STREAM_SUBRESOURCES, serve_stream
from kubesim.apiserver.streams import StreamSource
from kubesim.apiserver.watch import WatchOptions, WatchStream
from kubesim.registry.apiservices import KEY as APISERVICES_KEY
from kubesim.registry.errors import (
    ApiError,
    bad_request,
    method_not_allowed,
    resource_not_found,
)
from kubesim.registry.resources import ResourceType

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # etcd's object limit is 1.5 MiB; leave room for a patch of one


USER_KEY = web.RequestKey("user", UserInfo)  # the user a request acts as
RBAC_GROUP = "rbac.authorization.k8s.io"
GRANTING = ROLE_KINDS + BINDING_KINDS  # the kinds a write of may escalate privileges
# What the token and scale subresources read and write.
TOKEN_REQUEST = ("authentication.k8s.io/v1", "TokenRequest")
SCALE = ("autoscaling/v1", "Scale")


async def read_any_body(
    request: web.Request, rt: ResourceType, expected: tuple[str, str] | None = None
) -> Any:
    """A create/update body for `rt` (or for an `expected` (apiVersion, kind), a subresource's):
    JSON or YAML, or protobuf for a built-in kind (protobuf.py)."""
    if request.content_type == protobuf.PROTOBUF:
        api_version, kind = expected or (rt.api_version, rt.kind)
        # A custom resource is JSON only, but its scale subresource is a typed Scale.
        custom = rt.custom and expected is None
        return protobuf.decode(await request.read(), api_version, kind, custom=custom)
    return await read_body(request)


class ApiServer:
    """The aiohttp application serving `api`; `logs` serves pods/log and `streams` pods/exec,
    pods/attach and pods/portforward (None: no node).

    `access` authenticates and authorizes every request (access.py); without one, the server
    runs without access control.
    """

    def __init__(
        self,
        api: Api,
        *,
        logs: LogSource | None = None,
        streams: StreamSource | None = None,
        faults: Faults | None = None,
        requests: RequestLog | None = None,
        bookmark_interval: float = 60.0,
        access: AccessControl | None = None,
    ) -> None:
        self.api = api
        self.access = access or AccessControl(api.store, enforce=False)
        self.logs = logs
        self.streams = streams
        self.faults = faults or Faults()
        self.requests = requests or RequestLog()
        self.bookmark_interval = bookmark_interval
        self.address = "127.0.0.1:0"
        self._watches: dict[WatchStream, str] = {}
        self.faults.cutter = self.cut_watches
        self.app = web.Application(client_max_size=MAX_BODY)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    # -- dispatch ----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        verb, resource, namespace, user = "", "", None, ""
        status = 500
        try:
            # Authentication and authorization come before routing, as on a real server.
            info = request_attributes(UserInfo(""), request.method, request.path, request.query)
            if info.resource_request:
                verb, resource, namespace = info.verb, info.combined_resource, info.namespace
                namespace = namespace or None
            requester = self.access.authenticate_headers(request.headers.items())
            user = requester.name  # a refused impersonation is logged as its requester's
            acting = self.access.impersonate(requester, request.headers.items())
            user = acting.name
            request[USER_KEY] = acting
            self.access.authorize(dataclasses.replace(info, user=acting))
            if aggregator.proxied(self.api.store, request.path):
                # An aggregated API's: the aggregator's proxy finds its service unavailable.
                status = 503
                return web.Response(
                    status=503, text="service unavailable\n", content_type="text/plain",
                    charset="utf-8", headers={"X-Content-Type-Options": "nosniff"},
                )  # fmt: skip
            target = self.resolve(request.path)
            if target is not None:
                verb = request_verb(request, target)
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
            return status_response(err)
        except (ConnectionResetError, asyncio.CancelledError):
            status = 499  # the client went away; nothing to answer
            raise
        except Exception:  # a bug here must not take the server down
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            status = 500
            return status_response(ApiError(500, "InternalError", "internal server error"))
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
                    user,
                )
            )

    def resolve(self, path: str) -> Target | None:
        """The resource a path names; None for non-resource paths (discovery, health)."""
        return resolve(self.api.registry, path)

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
            doc = discovery.api_group_list(registry, self.api.store.items(APISERVICES_KEY))
        elif path == "/api/v1":
            doc = discovery.api_resource_list(registry, "", "v1")
        elif len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(registry, parts[1], self.api.store.items(APISERVICES_KEY))
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
        return json_response(doc, content_type=content_type)

    # -- resources ---------------------------------------------------------------------------

    async def _resource(self, request: web.Request, t: Target, verb: str) -> web.StreamResponse:
        api, q = self.api, request.query
        if t.rt.namespaced and t.namespace is None and verb not in ("list", "watch"):
            raise method_not_allowed()
        if t.rt.verbs == ("create",):  # the reviews: answered, never stored
            body = await read_any_body(request, t.rt) if verb == "create" else None
            doc = self.access.serve(
                request[USER_KEY], t.rt.group, t.rt.plural, verb, t.namespace, body
            )
            return json_response(doc, status=201)
        if t.sub == "token":
            if verb != "create" or t.name is None or t.namespace is None:
                raise method_not_allowed()
            body = await read_any_body(request, t.rt, TOKEN_REQUEST)
            doc = self.access.token_request(t.namespace, t.name, body)
            return json_response(doc, status=201)
        if t.sub == "log":
            return await serve_logs(request, self.api, t, self.logs)
        if t.sub in STREAM_SUBRESOURCES:
            return await serve_stream(request, self.api, t, self.streams)
        if t.sub == "scale":
            assert t.name is not None
            if verb == "get":
                return json_response(get_scale(api, t.rt, t.namespace, t.name))
            if verb in ("update", "patch"):
                body = (
                    await read_any_body(request, t.rt, SCALE)
                    if verb == "update"
                    else await read_patch(request)
                )
                manager = request_manager(
                    verb, q.get("fieldManager", ""), request.headers.get("User-Agent", "")
                )
                scale = update_scale(
                    api, t.rt, t.namespace, t.name, body,
                    request.content_type if verb == "patch" else None, manager,
                )  # fmt: skip
                return json_response(scale)
            raise method_not_allowed()
        if verb == "list":
            return self._render(request, t.rt, api.list(t.rt, t.namespace, list_options(q, t.rt)))
        if verb == "watch":
            return await self._watch(request, t)
        if verb == "get":
            assert t.name is not None
            return self._render(request, t.rt, api.get(t.rt, t.namespace, t.name))
        opts = write_options(q)
        if verb in ("create", "update", "patch"):
            user_agent = request.headers.get("User-Agent", "")
            opts.manager = request_manager(verb, q.get("fieldManager", ""), user_agent)
        if verb == "create":
            body = await read_any_body(request, t.rt)
            self._check_grant(request, t, lambda o: api.create(t.rt, t.namespace, body, o))
            obj = api.create(t.rt, t.namespace, body, opts)
            return json_response(obj, status=201, warnings=opts.warnings)
        if verb == "update":
            assert t.name is not None
            name, body = t.name, await read_any_body(request, t.rt)
            self._check_grant(
                request,
                t,
                lambda o: api.update(t.rt, t.namespace, name, body, o, subresource=t.sub),
            )
            obj = api.update(t.rt, t.namespace, t.name, body, opts, subresource=t.sub)
            return json_response(obj, warnings=opts.warnings)
        if verb == "patch":
            assert t.name is not None
            force = query_bool(q, "force") if "force" in q else None
            check_options(q.get("fieldManager", ""), force, request.content_type == APPLY_PATCH)
            if request.content_type == APPLY_PATCH:
                return await self._apply(request, t, opts, bool(force))
            patch, ctype, name = await read_patch(request), request.content_type, t.name
            self._check_grant(
                request,
                t,
                lambda o: api.patch(t.rt, t.namespace, name, patch, ctype, o, subresource=t.sub),
            )
            obj = api.patch(
                t.rt, t.namespace, t.name, patch, request.content_type, opts, subresource=t.sub
            )
            return json_response(obj, warnings=opts.warnings)
        if verb in ("delete", "deletecollection"):
            options = await delete_options(request)
            orphan_dependents = options.get("orphanDependents")
            if "orphanDependents" in q:
                orphan_dependents = query_bool(q, "orphanDependents")
            kwargs: dict[str, Any] = {
                "grace_period": options.get("gracePeriodSeconds"),
                "preconditions": options.get("preconditions"),
                "propagation": propagation_policy(
                    t.rt, options.get("propagationPolicy"), orphan_dependents
                ),
                "dry_run": options.get("dryRun") == ["All"] or opts.dry_run,
            }
            if verb == "delete":
                assert t.name is not None
                if (t.rt.group, t.rt.plural) == ("batch", "jobs") and not (
                    options.get("propagationPolicy") or isinstance(orphan_dependents, bool)
                ):
                    opts.warnings.append(JOB_ORPHAN_WARNING)
                return json_response(
                    api.delete(t.rt, t.namespace, t.name, **kwargs), warnings=opts.warnings
                )
            return json_response(
                api.delete_collection(t.rt, t.namespace, list_options(q, t.rt), **kwargs)
            )
        raise method_not_allowed()

    async def _apply(
        self, request: web.Request, t: Target, opts: WriteOptions, force: bool
    ) -> web.Response:
        """Server-side apply (apply.py); 201 when it creates the object."""
        assert t.name is not None
        api, name = self.api, t.name
        try:
            text = await request.text()
        except UnicodeDecodeError:
            raise bad_request("the request body is not valid UTF-8") from None
        config = parse_config(text, opts.warnings, opts.field_validation)
        key = t.namespace if t.rt.namespaced else None
        if self.access.enforce and api.store.get(t.rt.storage_key, key, name) is None:
            # An apply that creates needs the create verb too (patcher's createAuthorizer).
            self.access.authorize(
                Attributes(
                    request[USER_KEY], "create", True, request.path, t.rt.group, t.rt.version,
                    t.rt.plural, t.sub or "", t.namespace or "", name,
                )
            )  # fmt: skip
        self._check_grant(
            request,
            t,
            lambda o: api.apply(
                t.rt, t.namespace, name, config, dataclasses.replace(o, manager=opts.manager),
                force=force, subresource=t.sub,
            )[0],
        )  # fmt: skip
        obj, created = api.apply(
            t.rt, t.namespace, name, config, opts, force=force, subresource=t.sub
        )
        return json_response(obj, status=201 if created else 200, warnings=opts.warnings)

    def _check_grant(
        self,
        request: web.Request,
        t: Target,
        write: Callable[[WriteOptions], dict[str, Any]],
    ) -> None:
        """A role or binding may grant no more than its writer holds (escalation.py): the
        object the write would store, found by a dry run of it, is checked first."""
        if t.rt.group != RBAC_GROUP or t.rt.plural not in GRANTING or not self.access.enforce:
            return
        user = request[USER_KEY]
        if MASTERS in user.groups:
            return
        preview = write(WriteOptions(dry_run=True))
        check_grant(self.access.authorizer, user, t.rt.plural, preview, t.name or "")

    def _render(self, request: web.Request, rt: ResourceType, doc: dict[str, Any]) -> web.Response:
        table_version = tables.wants_table(request.headers.get("Accept", ""))
        if table_version is None:
            return json_response(doc)
        include = request.query.get("includeObject", "Metadata")
        if "items" not in doc:
            return json_response(
                tables.object_table(rt, doc, include_object=include, table_version=table_version)
            )
        items = doc["items"]
        if not rt.custom:
            items = [{"apiVersion": rt.api_version, "kind": rt.kind, **o} for o in items]
        table = tables.to_table(
            rt, items, list_meta=doc["metadata"], include_object=include,
            table_version=table_version,
        )  # fmt: skip
        return json_response(table)

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        timeout = (
            float(query_int(q, "timeoutSeconds") or 0)
            or random.uniform(1800, 3600)  # as the real server spreads reconnects
        )
        opts = WatchOptions(
            labels=LabelSelector.parse(q.get("labelSelector")),
            fields=field_selector(q, t.rt, t.name),
            resource_version=q.get("resourceVersion"),
            timeout=timeout,
            bookmarks=query_bool(q, "allowWatchBookmarks"),
            bookmark_interval=self.bookmark_interval,
            send_initial_events=(
                query_bool(q, "sendInitialEvents") if "sendInitialEvents" in q else None
            ),
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
                await response.write(encoding.dumps({"type": kind, "object": obj}).encode() + b"\n")
        except ConnectionResetError:
            pass  # the client left
        finally:
            self._watches.pop(stream, None)
            stream.subscription.close()
        return response

    def cut_watches(self, pattern: re.Pattern[str]) -> int:
        """Close the open watches whose path matches (fault injection); returns how many."""
        cut = [s for s, path in list(self._watches.items()) if pattern.search(path)]
        for stream in cut:
            stream.subscription.close("cut by fault injection")
        return len(cut)
