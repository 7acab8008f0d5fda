"""The `scale` subresource of the built-in workload kinds (deployments, replica sets, stateful
sets, replication controllers): their replicas paths, the selector a Scale reports, and
ValidateScale, as pkg/registry/apps/*/storage ScaleREST and autoscaling validation have them.
"""

from __future__ import annotations

from typing import Any

from kubesim.registry.errors import FieldError
from kubesim.registry.labelselector import selector_string
from kubesim.registry.pod_template import nonnegative
from kubesim.registry.strategy import as_dict

PATHS = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}


def selector_text(plural: str, obj: dict[str, Any]) -> str:
    """ScaleStatus.selector: the selector as a string (a replication controller's is a map)."""
    selector = as_dict(obj.get("spec")).get("selector")
    if plural == "replicationcontrollers":
        labels = as_dict(selector)
        return ",".join(f"{k}={labels[k]}" for k in sorted(labels))
    return selector_string(selector) or ""


def scale_errors(replicas: int) -> list[FieldError]:
    """autoscaling ValidateScale."""
    return nonnegative(replicas, "spec.replicas")
