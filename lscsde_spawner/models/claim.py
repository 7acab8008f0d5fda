"""What the spawner needs to know of a PersistentVolumeClaim: whose it says it is."""

from __future__ import annotations

from typing import ClassVar

from .base import Resource


class PersistentVolumeClaim(Resource):
    """A core/v1 PVC; only its metadata (labels, deletionTimestamp) is read, the rest kept."""

    KIND: ClassVar[str] = "PersistentVolumeClaim"
    PLURAL: ClassVar[str] = "persistentvolumeclaims"

    api_version: str = "v1"
    kind: str = "PersistentVolumeClaim"

    @property
    def being_deleted(self) -> bool:
        return bool((self.metadata.model_extra or {}).get("deletionTimestamp"))
