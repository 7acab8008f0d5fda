"""AnalyticsWorkspaceBinding: a grant of one workspace to one user, until an expiry date."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .base import CRModel, Resource


class Claim(CRModel):
    """A claim-based grant (not used yet); a malformed claim is reported to its user."""

    name: str
    operator: Literal["EQUALS", "NOT EQUALS", "IN", "NOT IN"]
    value: str


class AnalyticsWorkspaceBindingSpec(CRModel):
    workspace: str
    expires: date
    username: str | None = None
    comments: str | None = None
    replicas: int | None = None
    claims: list[Claim] = Field(default_factory=list)

    @model_validator(mode="after")
    def _grantee(self) -> AnalyticsWorkspaceBindingSpec:
        if not self.username and not self.claims:
            raise ValueError("one of username or claims is required")
        return self


class AnalyticsWorkspaceBindingStatus(CRModel):
    status_text: str | None = None
    deployment_name: str | None = None
    last_active_check: str | None = None
    replicas: int | None = None


class AnalyticsWorkspaceBinding(Resource):
    KIND: ClassVar[str] = "AnalyticsWorkspaceBinding"
    PLURAL: ClassVar[str] = "analyticsworkspacebindings"

    kind: str = "AnalyticsWorkspaceBinding"
    spec: AnalyticsWorkspaceBindingSpec
    status: AnalyticsWorkspaceBindingStatus | None = None
