"""pydantic models of the xlscsde.nhs.uk/v1 custom resources."""

from .base import (
    API_VERSION,
    GROUP,
    VERSION,
    CRModel,
    ObjectMeta,
    Parsed,
    ParseError,
    Unreadable,
    parse_many,
    parse_one,
)
from .binding import AnalyticsWorkspaceBinding, AnalyticsWorkspaceBindingSpec, Claim
from .claim import PersistentVolumeClaim
from .crate import AnalyticsCrate
from .datasource import AnalyticsDataSource, AnalyticsDataSourceBinding
from .workspace import (
    AdditionalStorage,
    AnalyticsWorkspace,
    AnalyticsWorkspaceSpec,
    JupyterWorkspace,
    ResourceRequirements,
    Validity,
    WorkspaceClaim,
)

ALL_KINDS = (
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsCrate,
)

__all__ = [
    "ALL_KINDS",
    "API_VERSION",
    "GROUP",
    "VERSION",
    "AdditionalStorage",
    "AnalyticsCrate",
    "AnalyticsDataSource",
    "AnalyticsDataSourceBinding",
    "AnalyticsWorkspace",
    "AnalyticsWorkspaceBinding",
    "AnalyticsWorkspaceBindingSpec",
    "AnalyticsWorkspaceSpec",
    "CRModel",
    "Claim",
    "JupyterWorkspace",
    "ObjectMeta",
    "ParseError",
    "Parsed",
    "PersistentVolumeClaim",
    "ResourceRequirements",
    "Unreadable",
    "Validity",
    "WorkspaceClaim",
    "parse_many",
    "parse_one",
]
