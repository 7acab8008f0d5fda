"""The adversarial suite drives the end-to-end hub fixtures of tests/hub: a real JupyterHub,
configurable-http-proxy and the embedded cluster, one per test."""

from tests.hub.conftest import hub_factory, kube_env, sqlite_url

__all__ = ["hub_factory", "kube_env", "sqlite_url"]
