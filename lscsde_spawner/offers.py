"""What a granted workspace becomes for its user: checked against the admin's mount policy, its
storage planned (read-only for a viewer), its form card and KubeSpawner profile, and the
variables that describe it to a server started in it; the form's profiles, one workspace
that cannot be offered never hiding the others. Pure: the admin's ``profile_hook`` is applied by
the spawner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from typing import Any

from . import access, levels, policy, profiles, storage
from .environment import workspace_environment
from .models import AnalyticsWorkspace


def offer(
    grant: access.PermittedWorkspace,
    datasources: list[Any],
    settings: storage.StorageSettings,
    *,
    expiring_days: int,
    url_template: str,
) -> tuple[dict[str, Any], storage.StoragePlan]:
    """The workspace's profile and storage plan; ProfileError or StoragePlanError when the
    workspace cannot be offered."""
    assert settings.mount_policy is not None  # storage_settings always sets it
    # The workspace as its author wrote it, not the profile after the admin's hook.
    policy.check_workspace(grant.workspace, settings.mount_policy)
    # A viewer's workspace storage is mounted read-only, as data sources always are.
    read_only = not levels.writable(grant.access_level)
    plan = storage.plan_storage(grant.workspace, datasources, settings, read_only=read_only)
    card = profiles.card_for(
        grant,
        storage=[(m.mount_path, m.claim) for m in plan.mounts if m.purpose != "datasource"],
        datasources=[(m.source, m.mount_path) for m in plan.mounts if m.purpose == "datasource"],
        expiring_days=expiring_days,
    )
    profile = profiles.profile_for(
        grant,
        card=card,
        expiring_days=expiring_days,
        default_url=profiles.folder_url(url_template, grant.name),
    )
    return profile, plan


async def offered(
    permitted: Iterable[access.PermittedWorkspace],
    snap: Any,
    today: date,
    make: Callable[[access.PermittedWorkspace, list[Any]], Awaitable[tuple[dict[str, Any], Any]]],
    warn: Callable[[AnalyticsWorkspace, Exception], None],
) -> list[dict[str, Any]]:
    """The form's profiles: ``make``'s for each permitted workspace with the data sources
    ``snap`` (the cache's view) attaches to it today; one that fails is passed to ``warn`` and
    left out, so one bad workspace never breaks the page."""
    out = []
    for grant in permitted:
        ds, _ = access.attached_datasources(
            grant.name, snap.datasource_bindings, snap.datasources, today
        )
        try:
            out.append((await make(grant, ds))[0])
        except Exception as exc:
            warn(grant.workspace, exc)
    return out


def environment(
    grant: access.PermittedWorkspace, plan: storage.StoragePlan, prefix: str
) -> dict[str, str]:
    """The variables that describe the workspace to the server (see ``environment``)."""
    return workspace_environment(
        workspace=grant.name,
        display_name=grant.workspace.spec.display_name,
        expires=grant.expires,
        workspace_path=next(m.mount_path for m in plan.mounts if m.purpose == "workspace"),
        datasources=[(m.source, m.mount_path) for m in plan.mounts if m.purpose == "datasource"],
        prefix=prefix,
    )


__all__ = ["environment", "offer", "offered"]
