"""The demo hub's configuration: WorkspaceSpawner against the embedded cluster.

``jupyterhub_config.py`` beside this module calls ``configure(c)``. The ports and the cluster's
URL come on the command line from the demo runner (``runner.hub_command``), so two demos can run
side by side. The settings are those a zero-to-jupyterhub deployment uses, except for loopback
addresses.
"""

from __future__ import annotations

import os

from traitlets.config import Config

from lscsde_spawner.service import configure as enable_workspaces_service
from lscsde_spawner.spawner import WorkspaceSpawner

from .auth import DemoAuthenticator
from .sample import GROUPS, NAMESPACE, WORKSPACES_PORT_ENV


def configure(c: Config) -> None:
    c.JupyterHub.spawner_class = WorkspaceSpawner
    c.JupyterHub.authenticator_class = DemoAuthenticator
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_connect_ip = "127.0.0.1"  # pods run on loopback addresses too
    # Files (database, cookie secret, proxy pid) go in the working directory: .demo/hub.
    c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
    c.JupyterHub.cookie_secret_file = "jupyterhub_cookie_secret"
    c.JupyterHub.cleanup_servers = True  # stopping the demo stops everyone's server
    # The demo's groups (dave is in cardiac-team, which a claim binding grants a workspace to).
    # JupyterHub only adds: a member removed here stays in the group in the hub's database.
    c.JupyterHub.load_groups = {
        group: {"users": list(members)} for group, members in GROUPS.items()
    }

    c.KubeSpawner.namespace = NAMESPACE
    c.KubeSpawner.image = "quay.io/jupyter/base-notebook:2024-05-01"  # each workspace sets its own
    c.KubeSpawner.image_pull_policy = "IfNotPresent"
    c.KubeSpawner.cmd = ["jupyterhub-singleuser"]
    # The user and group of the Jupyter docker stacks, as zero-to-jupyterhub sets them.
    c.KubeSpawner.uid = 1000
    c.KubeSpawner.gid = 100
    c.KubeSpawner.fs_gid = 100
    c.KubeSpawner.working_dir = "/home/jovyan"
    # A server opens in its workspace's folder (WorkspaceSpawner.workspace_default_url's
    # default) unless the workspace sets its own defaultUri.
    # A first JupyterLab start on a small machine can take a while.
    c.KubeSpawner.start_timeout = 60
    c.KubeSpawner.http_timeout = 60
    c.KubeSpawner.delete_grace_period = 5  # let Jupyter save and stop cleanly
    c.KubeSpawner.k8s_api_request_timeout = 10
    c.KubeSpawner.k8s_api_request_retry_timeout = 30

    # The hub's home page shows each running server's workspace and days left.
    WorkspaceSpawner.enable_home_page(c)
    # The workspaces service at /services/workspaces/, where alice manages Diabetes outcomes.
    # The runner picks its port; it uses the hub's kubeconfig (the demo cluster's admin).
    port = os.environ.get(WORKSPACES_PORT_ENV, "10101")
    enable_workspaces_service(c, url=f"http://127.0.0.1:{port}")
    # Last: a bad WorkspaceSpawner setting stops the hub now, not at the first start.
    WorkspaceSpawner.validate_config(c)


__all__ = ["configure"]
