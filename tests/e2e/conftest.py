"""The end-to-end fixtures: a real JupyterHub (MockHub, configurable-http-proxy) against the
embedded cluster (see tests/support/hub.py)."""

from tests.support.hub import hub_factory, kube_env, sqlite_url

__all__ = ["hub_factory", "kube_env", "sqlite_url"]
