"""A small CRD used by the embedded-API tests (the product CRDs come with the workspace models)."""

from typing import Any

GROUP = "example.lscsde.test"


def crd_manifest(
    group: str, plural: str, kind: str, versions: list[dict[str, Any]], **names: Any
) -> dict[str, Any]:
    """A namespaced CustomResourceDefinition; `names` adds shortNames, categories, listKind."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, **names},
            "versions": versions,
        },
    }


WIDGET_CRD: dict[str, Any] = crd_manifest(
    GROUP,
    "widgets",
    "Widget",
    [
        {
            "name": "v1",
            "served": True,
            "storage": True,
            "subresources": {
                "status": {},
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                },
            },
            "additionalPrinterColumns": [
                {"name": "Colour", "type": "string", "jsonPath": ".spec.colour"},
                {"name": "Until", "type": "string", "jsonPath": ".spec.until"},
                {"name": "State", "type": "string", "jsonPath": ".status.state"},
            ],
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["colour", "until"],
                            "properties": {
                                "colour": {"type": "string", "enum": ["red", "green"]},
                                "until": {"type": "string", "format": "date"},
                                "replicas": {"type": "integer", "default": 0},
                                "size": {"x-kubernetes-int-or-string": True},
                                "extra": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        },
                        "status": {
                            "type": "object",
                            "properties": {
                                "state": {"type": "string"},
                                "replicas": {"type": "integer"},
                            },
                        },
                    },
                }
            },
        }
    ],
    shortNames=["wdg"],
    categories=["gadgets"],
)


def widget(name: str, colour: str = "red", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"colour": colour, "until": "2030-01-31", **spec},
    }
