"""The pods/log subresource: the server picks the container, a `LogSource` gives the lines.

The source is the node's kubelet, passed in by whoever assembles the cluster: the API server
only relays the stream, so it does not depend on the node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from aiohttp import web

from kubesim.apiserver.api import Api
from kubesim.apiserver.httpio import query_bool, query_int
from kubesim.apiserver.routing import Target
from kubesim.registry.errors import bad_request, method_not_allowed


class LogSource(Protocol):
    """Container output of pods, as a kubelet serves it."""

    def logs(
        self,
        pod: dict[str, Any],
        container: str,
        *,
        follow: bool,
        tail_lines: int | None,
        timestamps: bool,
        previous: bool,
    ) -> AsyncIterator[str]:
        """Lines ending in "\\n"; raises ApiError before the first one where it refuses."""
        ...


async def serve_logs(
    request: web.Request, api: Api, t: Target, source: LogSource | None
) -> web.StreamResponse:
    """GET .../pods/NAME/log: the container's lines as text/plain, streamed with follow."""
    if request.method != "GET":
        raise method_not_allowed()
    assert t.name is not None
    pod = api.get(t.rt, t.namespace, t.name)
    if source is None:
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
    lines = source.logs(
        pod, str(container), follow=query_bool(q, "follow"), tail_lines=query_int(q, "tailLines"),
        timestamps=query_bool(q, "timestamps"), previous=query_bool(q, "previous"),
    )  # fmt: skip
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    try:
        async for line in lines:
            await response.write(line.encode())
    except ConnectionResetError:
        pass  # the client left
    return response
