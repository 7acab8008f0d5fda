"""AnalyticsDataSource and AnalyticsDataSourceBinding: approved data, and where it may go."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pydantic import Field

from .base import CRModel, Resource


class Approval(CRModel):
    type: str | None = None
    name: str | None = None
    email: str | None = None
    job_title: str | None = None
    approval_given: str | None = None  # date-time; kept as written so round trips are exact


class SecretRef(CRModel):
    secret_name: str | None = None
    secret_key: str | None = None


class ConnectionString(CRModel):
    secret_name: str | None = None
    value: str | None = None


class DatabricksConnection(CRModel):
    host_name: str | None = None
    http_path: str | None = None
    personal_access_token: SecretRef | None = None
    oauth2_token: SecretRef | None = None
    service_principle: SecretRef | None = None


class CrateRepo(CRModel):
    url: str | None = None
    path: str | None = None
    secret_name: str | None = None
    secret_key: str | None = None


class RoCrate(CRModel):
    repo: CrateRepo | None = None
    # The crate itself (RO-Crate JSON-LD): an object in the published CRD, kept as written. A
    # string is what an older version of our CRD declared; such objects may still be stored.
    spec: dict[str, Any] | str | None = None


class Connection(CRModel):
    type: str | None = None
    name: str | None = None
    connection_string: ConnectionString | None = None
    databricks_connection: DatabricksConnection | None = None
    ro_crate: RoCrate | None = None


class Contact(CRModel):
    name: str | None = None
    role: str | None = None


class Publisher(CRModel):
    organisation: str | None = None
    contact: Contact | None = None


class Project(CRModel):
    id: str | None = None


class AnalyticsDataSourceSpec(CRModel):
    type: str | None = None
    display_name: str | None = None
    description: str | None = None
    license: str | None = None
    publisher: Publisher | None = None
    project: Project | None = None
    connections: list[Connection] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)


class StatusText(CRModel):
    status_text: str | None = None
    last_active_check: str | None = None


class AnalyticsDataSource(Resource):
    KIND: ClassVar[str] = "AnalyticsDataSource"
    PLURAL: ClassVar[str] = "analyticsdatasources"

    kind: str = "AnalyticsDataSource"
    spec: AnalyticsDataSourceSpec = Field(default_factory=AnalyticsDataSourceSpec)
    status: StatusText | None = None


class AnalyticsDataSourceBindingSpec(CRModel):
    workspace: str
    datasource: str
    expires: date | None = None
    comments: str | None = None
    approvals: list[Approval] = Field(default_factory=list)


class AnalyticsDataSourceBinding(Resource):
    KIND: ClassVar[str] = "AnalyticsDataSourceBinding"
    PLURAL: ClassVar[str] = "analyticsdatasourcebindings"

    kind: str = "AnalyticsDataSourceBinding"
    spec: AnalyticsDataSourceBindingSpec
    status: StatusText | None = None
