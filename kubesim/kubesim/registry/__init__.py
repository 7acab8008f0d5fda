"""The registry: what the served kinds are and how each built-in kind behaves.

It knows names, field errors, quantities, CRD schemas and one strategy per built-in kind (or
family of kinds), and imports nothing from the API server, the node or the runtimes above it.
The strategies are assembled here, one module per kind; `kinds.py` applies them.
"""

from __future__ import annotations

from kubesim.registry import (
    apiservices,
    apps,
    apps_sets,
    batch,
    datamaps,
    events,
    namespaces,
    nodes,
    pod,
    pvc,
    rbac,
    replication,
    services,
)
from kubesim.registry.strategy import Strategies

STRATEGIES: Strategies = {
    **pod.STRATEGIES,
    **pvc.STRATEGIES,
    **namespaces.STRATEGIES,
    **nodes.STRATEGIES,
    **services.STRATEGIES,
    **datamaps.STRATEGIES,
    **events.STRATEGIES,
    **rbac.STRATEGIES,
    **replication.STRATEGIES,
    **apps.STRATEGIES,
    **apps_sets.STRATEGIES,
    **batch.STRATEGIES,
    **apiservices.STRATEGIES,
}
