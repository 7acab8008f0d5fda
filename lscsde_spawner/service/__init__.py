"""The workspaces service: a JupyterHub service at ``/services/workspaces/`` where a workspace's
admins manage its members (AnalyticsWorkspaceBindings, with access levels), see and stop its
sessions, and read its audit trail; every user sees their own workspaces. A REST API, pages
rendered on the server, and Prometheus metrics.

Enable it in ``jupyterhub_config.py`` with ``configure(c)``. The package is light to import: the
web application and its clients load only in the service's own process (``app``).
"""

from .config import NAME, ServiceSettings, configure

__all__ = ["NAME", "ServiceSettings", "configure"]
