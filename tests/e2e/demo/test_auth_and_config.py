"""The demo's authenticator and its JupyterHub config file, loaded as `jupyterhub -f` does."""

from __future__ import annotations

from typing import Any

from jupyterhub.app import JupyterHub

from lscsde_demo.auth import DemoAuthenticator
from lscsde_demo.runner import CONFIG_FILE
from lscsde_demo.sample import GROUPS, USERS
from lscsde_spawner.hub_pages import TEMPLATE_VAR, running_servers
from lscsde_spawner.spawner import WorkspaceSpawner
from lscsde_spawner.templating import HUB_TEMPLATE_DIR


async def login(auth: DemoAuthenticator, username: str, password: str) -> Any:
    return await auth.get_authenticated_user(None, {"username": username, "password": password})


async def test_the_four_users_log_in_with_the_shared_password_and_no_one_else() -> None:
    auth = DemoAuthenticator()
    assert auth.allowed_users == {"alice", "bob", "carol", "dave"} == set(USERS)
    for user in ("alice", "bob", "carol", "dave"):
        assert (await login(auth, user, "demo"))["name"] == user
    assert (await login(auth, "Alice", "demo"))["name"] == "alice"  # as JupyterHub normalises
    assert await login(auth, "alice", "Demo") is None
    assert await login(auth, "alice", "") is None
    assert await login(auth, "mallory", "demo") is None
    assert await login(auth, "", "demo") is None


def test_the_config_file_sets_up_the_workspace_spawner_for_the_embedded_cluster() -> None:
    hub = JupyterHub()
    hub.load_config_file(str(CONFIG_FILE))
    c = hub.config
    assert c.JupyterHub.spawner_class is WorkspaceSpawner
    assert c.JupyterHub.authenticator_class is DemoAuthenticator
    assert c.JupyterHub.allow_named_servers is True
    spawner = c.KubeSpawner
    assert spawner.cmd == ["jupyterhub-singleuser"]
    assert (spawner.uid, spawner.gid, spawner.fs_gid) == (1000, 100, 100)
    assert spawner.working_dir == "/home/jovyan"
    # No default_url: a server opens in its workspace's folder (workspace_default_url).
    assert "default_url" not in spawner and "workspace_default_url" not in c.WorkspaceSpawner
    assert spawner.start_timeout >= 60 and spawner.http_timeout >= 60
    # Relative paths: the runner starts the hub in DATA_DIR/hub, so state survives re-runs.
    assert c.JupyterHub.db_url == "sqlite:///jupyterhub.sqlite"


def test_the_config_file_shows_running_workspaces_on_the_home_page() -> None:
    hub = JupyterHub()
    hub.load_config_file(str(CONFIG_FILE))
    configured = JupyterHub(config=hub.config)
    assert configured.template_paths[0] == HUB_TEMPLATE_DIR
    assert configured.template_vars == {TEMPLATE_VAR: running_servers}


def test_the_config_file_creates_the_cardiac_team_group_with_dave() -> None:
    hub = JupyterHub()
    hub.load_config_file(str(CONFIG_FILE))
    # The dict form JupyterHub takes since 3.2 (a bare list of names is deprecated).
    assert hub.config.JupyterHub.load_groups == {"cardiac-team": {"users": ["dave"]}}
    assert hub.load_groups == {g: {"users": list(m)} for g, m in GROUPS.items()}
    assert set().union(*GROUPS.values()) <= set(USERS)  # every member can log in
    # JupyterHub refuses load_groups when the authenticator manages groups.
    assert DemoAuthenticator().manage_groups is False
