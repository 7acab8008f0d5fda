"""AnalyticsCrate: an RO-Crate in a git repository, described for a workspace."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .base import CRModel, Resource


class CrateRepository(CRModel):
    url: str | None = None
    branch: str = "main"
    secret_name: str | None = None
    secret_key: str | None = None


class AnalyticsCrateSpec(CRModel):
    display_name: str | None = None
    description: str | None = None
    path: str = "/ro-crate-metadata.json"
    repo: CrateRepository | None = None


class AnalyticsCrateStatus(CRModel):
    status_text: str | None = None
    commit_id: str | None = None
    workspace: str | None = None


class AnalyticsCrate(Resource):
    KIND: ClassVar[str] = "AnalyticsCrate"
    PLURAL: ClassVar[str] = "analyticscrates"

    kind: str = "AnalyticsCrate"
    spec: AnalyticsCrateSpec = Field(default_factory=AnalyticsCrateSpec)
    status: AnalyticsCrateStatus | None = None
