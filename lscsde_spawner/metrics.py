"""Prometheus metrics of the spawner (and of the workspaces service, which shares its clients).

They are registered in prometheus_client's default registry, which JupyterHub serves at
``/hub/metrics`` beside its own ``jupyterhub_*`` metrics; the workspaces service serves the
same registry of its own process at ``/services/workspaces/metrics``. Labels never carry a user,
workspace or object name: counts by kind only, so a scrape reveals nobody's access.

    lscsde_spawner_starts_refused_total{reason}    starts refused before anything was created
    lscsde_spawner_servers_revoked_total           running servers stopped because a grant ended
    lscsde_spawner_cache_synced{namespace}         1 once the watch-fed cache has synced
    lscsde_spawner_watch_restarts_total{resource,cause}
                                                   watches begun again: ``resumed`` (the stream
                                                   ended), ``expired`` (410: relisted),
                                                   ``error`` (backing off)
    lscsde_spawner_kube_requests_total{verb,resource}
                                                   Kubernetes API requests made by this
                                                   package's clients (not KubeSpawner's)
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

STARTS_REFUSED: Final = Counter(
    "lscsde_spawner_starts_refused",
    "Starts refused by the workspace spawner before anything was created, by reason",
    ["reason"],
)
SERVERS_REVOKED: Final = Counter(
    "lscsde_spawner_servers_revoked",
    "Running servers stopped because their grant ended (AccessRevoked)",
)
CACHE_SYNCED: Final = Gauge(
    "lscsde_spawner_cache_synced",
    "1 once the workspace cache of a namespace has listed every kind, else 0",
    ["namespace"],
)
WATCH_RESTARTS: Final = Counter(
    "lscsde_spawner_watch_restarts",
    "Watches of the workspace cache begun again, by resource and cause "
    "(resumed: the stream ended; expired: 410, relisted; error: backing off)",
    ["resource", "cause"],
)
KUBE_REQUESTS: Final = Counter(
    "lscsde_spawner_kube_requests",
    "Kubernetes API requests made by lscsde_spawner's own clients, by verb and resource",
    ["verb", "resource"],
)

_VERBS: Final = {"read": "get", "replace": "update"}


def kube_request(verb: str, resource: str) -> None:
    """Count one Kubernetes API request (``verb`` as RBAC names it, or a client method's first
    word: ``read`` is ``get``, ``replace`` is ``update``)."""
    KUBE_REQUESTS.labels(verb=_VERBS.get(verb, verb), resource=resource).inc()


def refused(reason: str) -> None:
    STARTS_REFUSED.labels(reason=reason).inc()


__all__ = [
    "CACHE_SYNCED",
    "KUBE_REQUESTS",
    "SERVERS_REVOKED",
    "STARTS_REFUSED",
    "WATCH_RESTARTS",
    "kube_request",
    "refused",
]
