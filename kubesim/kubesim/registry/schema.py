"""Custom objects through their CRD's structural schema, as apiextensions-apiserver admits them.

The order is the real server's: unknown fields are pruned (and reported, for fieldValidation
Strict/Warn), non-nullable nulls without a default are dropped, defaults are applied, and only
then is the object validated. The passes live in schema_defaults.py and schema_validation.py;
the checks of a CRD itself in crd.py (`validate_crd`, re-exported here for the API layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubesim.registry import deepjson
from kubesim.registry.crd import validate_crd
from kubesim.registry.errors import FieldError
from kubesim.registry.schema_defaults import apply_defaults, prune, prune_nulls
from kubesim.registry.schema_validation import validation_errors
from kubesim.registry.schema_walk import Schema

__all__ = ["Admission", "Schema", "admit_custom_object", "validate_crd"]


@dataclass
class Admission:
    """The object as it would be stored, and what the server has to say about it."""

    obj: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    # Dotted paths of pruned fields ("spec.foo", "spec.items[0].bar"), sorted like the server.
    unknown_fields: list[str] = field(default_factory=list)


def admit_custom_object(schema: Schema | None, obj: dict[str, Any]) -> Admission:
    """Prune, default and validate a custom object against its version's openAPIV3Schema."""
    out = deepjson.deepcopy(obj)
    if schema is None:
        return Admission(out)
    pruned: list[str] = []
    prune(out, schema, "", pruned, embedded=True)  # the root keeps apiVersion/kind/metadata
    prune_nulls(out, schema)
    apply_defaults(out, schema)
    return Admission(out, validation_errors(out, schema), sorted(pruned))
