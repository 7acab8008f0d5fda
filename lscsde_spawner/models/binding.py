"""AnalyticsWorkspaceBinding: a grant of one workspace to a user, or to every user whose claims
hold (``claims``), until an expiry date."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field, model_validator

from .base import CRModel, Resource


class Claim(CRModel):
    """One condition of a claim-based grant. Any operator string parses (the published CRD's
    pattern admits e.g. ``NOT_EQUALS``); ``claims.problem`` makes such a binding malformed."""

    name: str
    operator: str
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
