"""AnalyticsWorkspace: what a researcher may be granted, with its image, resources and storage."""

from __future__ import annotations

import posixpath
import re
import unicodedata
from datetime import date
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from .base import CRModel, Resource

# The label naming a workspace on the pods and PVCs made for it.
WORKSPACE_LABEL = "xlscsde.nhs.uk/workspace"

# A PVC name is a DNS-1123 subdomain.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_pvc_name(value: str | None) -> str | None:
    if value and (len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value)):
        raise ValueError(f"{value!r} is not a valid PersistentVolumeClaim name")
    return value


def unsafe_characters(value: str) -> list[str]:
    """The characters of ``value`` no path should hold: control, format, surrogate, private and
    unassigned ones (Unicode category C*), and the line/paragraph separators U+2028/U+2029 (Zl,
    Zp), which split lines in logs and in Python's ``splitlines`` as a newline does."""
    return [c for c in value if unicodedata.category(c)[0] == "C" or c in "\u2028\u2029"]


def check_mount_path(value: str) -> str:
    """Absolute, normalised, and not the root: a workspace must not mount over the filesystem."""
    bad = unsafe_characters(value)
    if bad:
        raise ValueError(f"{value!r} contains a control or invisible character ({bad[0]!r})")
    if (
        not value.startswith("/")
        or value.startswith("//")
        or posixpath.normpath(value) != value.rstrip("/")
        or value == "/"
    ):
        raise ValueError(f"{value!r} is not an absolute, normalised mount path")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} is not an allowed mount path")
    return value


class Validity(CRModel):
    available_from: date
    expires: date


class ResourceRequirements(CRModel):
    """Kubernetes ResourceRequirements: requests and limits, either may be absent."""

    # Either may be absent or null in objects in the field.
    requests: dict[str, str | int | float] | None = None
    limits: dict[str, str | int | float] | None = None


class WorkspaceClaim(CRModel):
    name: str | None = None
    storage_class_name: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return check_pvc_name(v)


class AdditionalStorage(CRModel):
    mount_path: str
    persistent_volume_claim: str
    storage_class_name: str | None = None

    @field_validator("mount_path")
    @classmethod
    def _mount_path(cls, v: str) -> str:
        return check_mount_path(v)

    @field_validator("persistent_volume_claim")
    @classmethod
    def _claim(cls, v: str) -> str:
        if not v:
            raise ValueError("a persistentVolumeClaim name is required")
        return check_pvc_name(v) or v


class JupyterWorkspace(CRModel):
    image: str
    extra_labels: dict[str, str] = Field(default_factory=dict)
    default_uri: str | None = None
    node_selector: dict[str, Any] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    resources: ResourceRequirements | None = None
    persistent_volume_claim: WorkspaceClaim | None = None
    additional_storage: list[AdditionalStorage] = Field(default_factory=list)

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not v.strip() or any(c.isspace() for c in v):
            raise ValueError(f"{v!r} is not a container image reference")
        return v


class VirtualMachineWorkspace(CRModel):
    max_hosts: int | str | None = None


class AnalyticsWorkspaceSpec(CRModel):
    display_name: str
    description: str
    validity: Validity
    jupyter_workspace: JupyterWorkspace | None = None
    virtual_machine_workspace: VirtualMachineWorkspace | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AnalyticsWorkspaceSpec:
        if self.jupyter_workspace is None and self.virtual_machine_workspace is None:
            raise ValueError("one of jupyterWorkspace or virtualMachineWorkspace is required")
        return self


class AnalyticsWorkspaceStatus(CRModel):
    status_text: str | None = None
    persistent_volume_claim: str | None = None
    additional_storage: dict[str, str] = Field(default_factory=dict)


class AnalyticsWorkspace(Resource):
    KIND: ClassVar[str] = "AnalyticsWorkspace"
    PLURAL: ClassVar[str] = "analyticsworkspaces"

    kind: str = "AnalyticsWorkspace"
    spec: AnalyticsWorkspaceSpec
    status: AnalyticsWorkspaceStatus | None = None
