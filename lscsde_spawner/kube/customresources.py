"""Typed, async access to the xlscsde.nhs.uk/v1 custom resources of one namespace.

Responses are read as bytes and decoded by `safejson` (not by kubernetes_asyncio's json.loads),
so an object nested too deeply or too large is that object's MalformedObject or ParseError.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, cast

from kubernetes_asyncio.client import CustomObjectsApi
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.client.rest import RESTResponse

from .. import metrics
from ..models import (
    API_VERSION,
    GROUP,
    VERSION,
    AnalyticsCrate,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    Parsed,
    ParseError,
    parse_many,
    parse_one,
)
from ..models.base import R
from .safejson import loads_list, loads_object

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class MalformedObject(ValueError):
    """The API server returned an object our model rejects (written by another tool)."""

    def __init__(self, error: ParseError) -> None:
        super().__init__(str(error))
        self.error = error


async def read_body(resp: Any) -> bytes:
    """The body of a response requested with `_preload_content=False`. A status other than 2xx
    raises the ApiException kubernetes_asyncio raises when it reads the body itself."""
    try:
        data: bytes = await resp.read()
    finally:
        resp.release()
    if not 200 <= resp.status <= 299:
        raise ApiException(http_resp=cast(Any, RESTResponse(resp, data)))  # stubs: ClientResponse
    return data


class CustomResourceClient(Generic[R]):
    """CRUD for one kind in one namespace. API errors surface as kubernetes_asyncio's
    `ApiException` (404 NotFound, 409 Conflict on a stale resourceVersion, ...); an object
    that does not parse raises `MalformedObject`, except in `list`, which reports it in
    `Parsed.errors` and carries on."""

    def __init__(
        self,
        api_client: ApiClient,
        model: type[R],
        namespace: str,
        *,
        request_timeout: float | None = None,
    ) -> None:
        self.api = CustomObjectsApi(api_client)
        self.model = model
        self.namespace = namespace
        self._opts: dict[str, Any] = (
            {"_request_timeout": request_timeout} if request_timeout is not None else {}
        )

    @property
    def plural(self) -> str:
        return self.model.PLURAL

    def _patch_opts(self, content_type: str) -> dict[str, Any]:
        # kubernetes_asyncio's stubs omit `_content_type`; the generated code honours it.
        return {**self._opts, "_content_type": content_type}

    async def _call(self, method: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> bytes:
        """Call an API method for its body as bytes (kubernetes_asyncio would json.loads it)."""
        name = getattr(method, "__name__", "")
        sub = "/status" if name.endswith("_status") else ""
        metrics.kube_request(name.partition("_")[0], self.plural + sub)
        return await read_body(await method(*args, _preload_content=False, **kw))

    def _parse(self, body: bytes, name: str | None = None) -> R:
        parsed = parse_one(self.model, loads_object(body))
        if isinstance(parsed, ParseError):
            if name is not None and parsed.name == "?":  # nothing of it could be read
                parsed = dataclasses.replace(parsed, name=name)
            raise MalformedObject(parsed)
        return parsed

    def _body(self, obj: R) -> dict[str, Any]:
        body = obj.to_dict()
        # to_dict() leaves out unset defaults, and the server needs both of these.
        body["apiVersion"] = API_VERSION
        body["kind"] = self.model.KIND
        body.setdefault("metadata", {}).setdefault("namespace", self.namespace)
        return body

    async def get(self, name: str) -> R:
        got = await self._call(
            self.api.get_namespaced_custom_object,
            GROUP, VERSION, self.namespace, self.plural, name, **self._opts,
        )  # fmt: skip
        return self._parse(got, name)

    async def list_raw(
        self,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """The List as the server sent it (metadata.resourceVersion for a watch to resume from),
        except that an item safejson refuses is an `Unreadable` (what could be read of it)."""
        params: dict[str, Any] = {
            "label_selector": label_selector,
            "field_selector": field_selector,
            "resource_version": resource_version,
            "limit": limit,
            "_continue": continue_token,
        }
        kwargs = {k: v for k, v in params.items() if v is not None}
        body = await self._call(
            self.api.list_namespaced_custom_object,
            GROUP, VERSION, self.namespace, self.plural, **kwargs, **self._opts,
        )  # fmt: skip
        return loads_list(body)

    async def list(
        self, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> Parsed[R]:
        """Every matching object, parsed one by one: a bad object never fails the list."""
        listed = await self.list_raw(label_selector=label_selector, field_selector=field_selector)
        return parse_many(self.model, listed.get("items") or [])

    async def create(self, obj: R) -> R:
        made = await self._call(
            self.api.create_namespaced_custom_object,
            GROUP, VERSION, self.namespace, self.plural, self._body(obj), **self._opts,
        )  # fmt: skip
        return self._parse(made, obj.name or None)

    async def replace(self, obj: R) -> R:
        """PUT the whole object; its metadata.resourceVersion must be current (else 409)."""
        replaced = await self._call(
            self.api.replace_namespaced_custom_object,
            GROUP, VERSION, self.namespace, self.plural, obj.name, self._body(obj), **self._opts,
        )  # fmt: skip
        return self._parse(replaced, obj.name)

    async def patch_merge(self, name: str, patch: dict[str, Any]) -> R:
        """An RFC 7386 merge patch (null deletes a key)."""
        patched = await self._call(
            self.api.patch_namespaced_custom_object,
            GROUP, VERSION, self.namespace, self.plural, name, patch,
            **self._patch_opts(MERGE_PATCH),
        )  # fmt: skip
        return self._parse(patched, name)

    async def patch_json(self, name: str, ops: Sequence[dict[str, Any]]) -> R:
        """An RFC 6902 JSON patch; a failing `test` op makes the whole patch fail."""
        patched = await self._call(
            self.api.patch_namespaced_custom_object,
            GROUP, VERSION, self.namespace, self.plural, name, list(ops),
            **self._patch_opts(JSON_PATCH),
        )  # fmt: skip
        return self._parse(patched, name)

    async def patch_status(self, name: str, status: dict[str, Any]) -> R:
        """Merge `status` into the status subresource (spec changes there are ignored)."""
        patched = await self._call(
            self.api.patch_namespaced_custom_object_status,
            GROUP, VERSION, self.namespace, self.plural, name, {"status": status},
            **self._patch_opts(MERGE_PATCH),
        )  # fmt: skip
        return self._parse(patched, name)

    async def delete(self, name: str) -> None:
        # Read as bytes and never decoded: the deleted object may be one json.loads chokes on.
        await self._call(
            self.api.delete_namespaced_custom_object,
            GROUP, VERSION, self.namespace, self.plural, name, **self._opts,
        )  # fmt: skip


def workspaces(
    api_client: ApiClient, namespace: str, **kw: Any
) -> CustomResourceClient[AnalyticsWorkspace]:
    return CustomResourceClient(api_client, AnalyticsWorkspace, namespace, **kw)


def workspace_bindings(
    api_client: ApiClient, namespace: str, **kw: Any
) -> CustomResourceClient[AnalyticsWorkspaceBinding]:
    return CustomResourceClient(api_client, AnalyticsWorkspaceBinding, namespace, **kw)


def datasources(
    api_client: ApiClient, namespace: str, **kw: Any
) -> CustomResourceClient[AnalyticsDataSource]:
    return CustomResourceClient(api_client, AnalyticsDataSource, namespace, **kw)


def datasource_bindings(
    api_client: ApiClient, namespace: str, **kw: Any
) -> CustomResourceClient[AnalyticsDataSourceBinding]:
    return CustomResourceClient(api_client, AnalyticsDataSourceBinding, namespace, **kw)


def crates(
    api_client: ApiClient, namespace: str, **kw: Any
) -> CustomResourceClient[AnalyticsCrate]:
    return CustomResourceClient(api_client, AnalyticsCrate, namespace, **kw)
