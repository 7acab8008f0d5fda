"""The hub's own pages: each running server's workspace and the days left, on the home page and
the spawn page.

``ServerWorkspace`` is what a page shows for one running server. ``running_servers(user)`` lists
them for a hub user, asking each of the user's ready servers (duck-typed: a spawner with a
``running_workspace()`` method, as ``WorkspaceSpawner`` has); it never raises, because it runs
for every page the hub renders. ``enable_home_page(c)`` is the one line an admin adds to
``jupyterhub_config.py``: it puts ``templates/hub`` first in ``c.JupyterHub.template_paths`` (its
``home.html`` extends JupyterHub's own, ``templates/home.html``, and adds the list below the
hub's) and ``running_servers`` in ``c.JupyterHub.template_vars`` as ``lscsde_servers``. The spawn
page renders the same partial, ``lscsde-running.html``. Everything shown is escaped (autoescape,
and ``|e`` in the templates).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from traitlets.config import Config

from .templating import HUB_TEMPLATE_DIR, RUNNING_TEMPLATE, hub_environment

log = logging.getLogger(__name__)

#: The template variable holding a user's running servers (a callable of the user).
TEMPLATE_VAR = "lscsde_servers"


@dataclass(frozen=True)
class ServerWorkspace:
    """One running server: its name ("" for the default server), the workspace it serves, and
    until when (``expires`` None: not known yet, for a server started before the hub recorded it
    in the spawner's state, until the next check of its grant)."""

    server: str
    workspace: str
    display_name: str
    expires: date | None = None
    today: date | None = None
    url: str = ""
    expiring_days: int = 7  # fewer days left than this: highlighted, as on the spawn form

    @property
    def days_left(self) -> int | None:
        """Whole days after today that the grant lasts (0 on its last day); None if unknown."""
        if self.expires is None or self.today is None:
            return None
        return (self.expires - self.today).days

    @property
    def expiring_soon(self) -> bool:
        days = self.days_left
        return days is not None and days < self.expiring_days

    def with_url(self, url: str) -> ServerWorkspace:
        return dataclasses.replace(self, url=url)


def running_servers(user: Any) -> list[ServerWorkspace]:
    """The workspaces of ``user``'s ready servers (default server first, then by name); [] for
    no user or one without such servers. Never raises: a broken spawner is logged and left out."""
    try:
        spawners = list((getattr(user, "spawners", None) or {}).values())
    except Exception:
        return []
    found = []
    for spawner in spawners:
        describe = getattr(spawner, "running_workspace", None)
        if not callable(describe) or not getattr(spawner, "ready", False):
            continue
        try:
            info = describe()
            if not isinstance(info, ServerWorkspace):
                continue
            found.append(info.with_url(str(user.server_url(info.server))))
        except Exception:
            log.exception("could not describe server %r of %s", getattr(spawner, "name", ""), user)
    return sorted(found, key=lambda s: (s.server != "", s.server))


def render_running(servers: list[ServerWorkspace], template_paths: Any = ()) -> str:
    """The running-servers partial for the spawn page ("" when there are none)."""
    if not servers:
        return ""
    template = hub_environment(template_paths).get_template(RUNNING_TEMPLATE)
    return template.render(**{TEMPLATE_VAR: servers})


def enable_home_page(config: Config) -> None:
    """Show each running server's workspace and days left on the hub's home page: call it with
    ``c`` in ``jupyterhub_config.py``. Keeps the admin's own template paths and variables (an
    admin with their own ``home.html`` includes ``lscsde-running.html`` in it instead)."""
    config.JupyterHub.template_paths.insert(0, HUB_TEMPLATE_DIR)
    config.JupyterHub.template_vars.update({TEMPLATE_VAR: running_servers})


__all__ = [
    "TEMPLATE_VAR",
    "ServerWorkspace",
    "enable_home_page",
    "render_running",
    "running_servers",
]
