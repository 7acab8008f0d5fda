"""The deployment tests reuse the end-to-end hub fixtures of tests/hub."""

from tests.hub.conftest import hub_factory, kube_env, sqlite_url

__all__ = ["hub_factory", "kube_env", "sqlite_url"]
