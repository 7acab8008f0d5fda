"""The demo's sample data: workspaces, data sources and who is granted what.

Every date is computed from ``today`` (a UTC calendar date, as the spawner's default time zone
decides), so the sample never goes stale: applying it again tomorrow moves every date along.

    user   sees on the spawn form            not offered (why)
    alice  diabetes-outcomes (shared),       covid-cohort-2023 (her grant expired a week ago),
           cardiac-imaging (expiring soon)   genomics-gpu (available from two weeks on)
    bob    diabetes-outcomes (shared)
    carol  nothing: the "no workspaces" message
    dave   cardiac-imaging (expiring soon,
           via group cardiac-team)

alice is the admin of diabetes-outcomes (her binding's access level, ``ADMINS``): at
/services/workspaces/ she manages who else may use it (bob), their sessions and its events.

dave has no username binding. He is in the JupyterHub group ``cardiac-team`` (``GROUPS``; the
hub config creates it), and the binding ``cardiac-team-cardiac-imaging`` names no user: its one
claim, ``groups EQUALS cardiac-team``, grants the workspace to every member of that group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from lscsde_spawner.models import API_VERSION

NAMESPACE = "default"
USERS = ("alice", "bob", "carol", "dave")
PASSWORD = "demo"
SHARED_WORKSPACE = "diabetes-outcomes"
# What each user's spawn form offers (the tests hold the sample to this).
OFFERED: dict[str, frozenset[str]] = {
    "alice": frozenset({"diabetes-outcomes", "cardiac-imaging"}),
    "bob": frozenset({"diabetes-outcomes"}),
    "carol": frozenset(),
    "dave": frozenset({"cardiac-imaging"}),
}
# The demo's JupyterHub groups and their members; the hub config creates them at start.
GROUPS: dict[str, tuple[str, ...]] = {"cardiac-team": ("dave",)}
# The claim that holds a user's JupyterHub group names (WorkspaceSpawner.groups_claim's default).
GROUPS_CLAIM = "groups"
#: The workspaces service's port, chosen by the demo runner (so two demos run side by side).
WORKSPACES_PORT_ENV = "LSCSDE_DEMO_WORKSPACES_PORT"
# Who administers which workspace (access level admin): they manage its members, sessions and
# events at /services/workspaces/. Everyone else's bindings have the default level, member.
ADMINS: frozenset[tuple[str, str]] = frozenset({("diabetes-outcomes", "alice")})
ACCESS_LEVEL_ANNOTATION = "xlscsde.nhs.uk/access-level"
# Existing tools label bindings with the user; the spawner never decides access on it.
USERNAME_LABEL = "xlscsde.nhs.uk/username"
DATASOURCE_CLAIM_SIZE = "1Gi"
# Spec fields earlier versions of the sample set and this one does not: applying the sample to
# an older demo's cluster removes them (a merge patch keeps what it does not mention). The
# workspaces' defaultUri "/lab" went so that a server opens in its workspace's folder.
RETIRED_SPEC: dict[str, dict[str, Any]] = {
    "AnalyticsWorkspace": {"jupyterWorkspace": {"defaultUri": None}},
}


@dataclass(frozen=True)
class SampleData:
    """The custom objects (apply in this order) and each data source's PVC (name -> claim)."""

    objects: list[dict[str, Any]]
    datasource_claims: dict[str, str]


def _obj(kind: str, name: str, spec: dict[str, Any], **labels: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def _resources(cpu: str, memory: str, **extra: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu, "memory": memory, **extra},
        "limits": {"cpu": cpu, "memory": memory, **extra},
    }


def workspaces(today: date) -> list[dict[str, Any]]:
    def day(offset: int) -> str:
        return (today + timedelta(days=offset)).isoformat()

    def ws(
        name: str, title: str, about: str, start: int, end: int, jupyter: dict[str, Any]
    ) -> dict[str, Any]:
        spec = {
            "displayName": title,
            "description": about,
            "validity": {"availableFrom": day(start), "expires": day(end)},
            # No defaultUri: a server opens in its workspace's folder (workspace_default_url).
            "jupyterWorkspace": jupyter,
        }
        return _obj("AnalyticsWorkspace", name, spec)

    return [
        ws(
            "diabetes-outcomes",
            "Diabetes outcomes",
            "A small shared workspace for the diabetes outcomes study.\n"
            "Alice and Bob both work here: files saved in the workspace folder are shared.",
            -60,
            180,
            {
                "image": "quay.io/jupyter/minimal-notebook:2024-05-01",
                "resources": _resources("1", "2Gi"),
            },
        ),
        ws(
            "cardiac-imaging",
            "Cardiac imaging",
            "Analysis of echocardiogram images, with more CPU and memory.",
            -30,
            5,  # "expiring soon" on the form
            {
                "image": "quay.io/jupyter/scipy-notebook:2024-05-01",
                "resources": _resources("2", "8Gi"),
            },
        ),
        ws(
            "genomics-gpu",
            "Genomics (GPU)",
            "Variant calling on a GPU node. The GPU nodes arrive in two weeks.",
            14,  # not yet available: alice's grant is a "future" one
            365,
            {
                "image": "quay.io/jupyter/pytorch-notebook:cuda12-2024-05-01",
                "resources": _resources("4", "16Gi", **{"nvidia.com/gpu": "1"}),
                "tolerations": [
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                ],
                "nodeSelector": {"accelerator": "nvidia-t4"},
            },
        ),
        ws(
            "covid-cohort-2023",
            "COVID-19 cohort (2023)",
            "The 2023 COVID-19 cohort study. Alice's access to it has ended.",
            -400,
            365,
            {
                "image": "quay.io/jupyter/minimal-notebook:2024-05-01",
                "resources": _resources("1", "4Gi"),
            },
        ),
    ]


def workspace_bindings(today: date) -> list[dict[str, Any]]:
    def bind(user: str, workspace: str, expires_in: int, comments: str) -> dict[str, Any]:
        spec = {
            "workspace": workspace,
            "username": user,
            "expires": (today + timedelta(days=expires_in)).isoformat(),
            "comments": comments,
        }
        name = f"{user}-{workspace}"
        body = _obj("AnalyticsWorkspaceBinding", name, spec, **{USERNAME_LABEL: user})
        if (workspace, user) in ADMINS:  # manages the workspace through the workspaces service
            body["metadata"]["annotations"] = {ACCESS_LEVEL_ANNOTATION: "admin"}
        return body

    def bind_group(group: str, workspace: str, expires_in: int, comments: str) -> dict[str, Any]:
        # No username: the claim decides who is granted (every member of the group).
        spec = {
            "workspace": workspace,
            "expires": (today + timedelta(days=expires_in)).isoformat(),
            "comments": comments,
            "claims": [{"name": GROUPS_CLAIM, "operator": "EQUALS", "value": group}],
        }
        return _obj("AnalyticsWorkspaceBinding", f"{group}-{workspace}", spec)

    return [
        bind("alice", "diabetes-outcomes", 90, "Principal investigator"),
        bind("bob", "diabetes-outcomes", 90, "Statistician"),
        bind("alice", "cardiac-imaging", 30, "Image analysis"),
        bind("alice", "genomics-gpu", 180, "Starts when the GPU nodes arrive"),
        bind("alice", "covid-cohort-2023", -7, "Study closed"),
        bind_group("cardiac-team", "cardiac-imaging", 30, "The cardiac team"),
    ]


def datasources() -> list[dict[str, Any]]:
    def source(name: str, title: str, about: str) -> dict[str, Any]:
        spec = {
            "type": "files",
            "displayName": title,
            "description": about,
            "license": "Data sharing agreement DSA-0042",
            "publisher": {"organisation": "Example NHS Trust"},
        }
        return _obj("AnalyticsDataSource", name, spec)

    return [
        source(
            "hospital-episodes",
            "Hospital episodes (extract)",
            "Pseudonymised admitted patient care episodes.",
        ),
        source(
            "echocardiograms",
            "Echocardiograms",
            "De-identified echocardiogram images with reports.",
        ),
    ]


def datasource_bindings(today: date) -> list[dict[str, Any]]:
    def bind(datasource: str, workspace: str) -> dict[str, Any]:
        spec = {
            "workspace": workspace,
            "datasource": datasource,
            "expires": (today + timedelta(days=365)).isoformat(),
            "comments": "Approved by the data access committee",
        }
        return _obj("AnalyticsDataSourceBinding", f"{datasource}-{workspace}", spec)

    return [
        bind("hospital-episodes", "diabetes-outcomes"),
        bind("hospital-episodes", "cardiac-imaging"),
        bind("echocardiograms", "cardiac-imaging"),
    ]


def sample(today: date) -> SampleData:
    """The whole sample for ``today``; workspaces before the bindings that name them."""
    objects = [
        *workspaces(today),
        *workspace_bindings(today),
        *datasources(),
        *datasource_bindings(today),
    ]
    # The spawner's default claim name for a data source (no annotation on the sample).
    names = [ds["metadata"]["name"] for ds in datasources()]
    claims = {name: f"datasource-{name}" for name in names}
    return SampleData(objects, claims)


__all__ = [
    "ACCESS_LEVEL_ANNOTATION",
    "ADMINS",
    "GROUPS",
    "GROUPS_CLAIM",
    "NAMESPACE",
    "OFFERED",
    "PASSWORD",
    "SHARED_WORKSPACE",
    "USERS",
    "WORKSPACES_PORT_ENV",
    "SampleData",
    "sample",
]
