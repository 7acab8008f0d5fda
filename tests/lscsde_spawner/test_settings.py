"""WorkspaceSpawner's settings are checked when the hub starts, not at a user's first spawn.

Each setting has a traitlets ``@validate`` (a spawner built from a bad config fails with a
TraitError naming the setting), and ``WorkspaceSpawner.validate_config(c)``, called at the end of
``jupyterhub_config.py``, checks the same settings, and then them together, from the config
alone, so that JupyterHub refuses to start.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from kubespawner import spawner as kubespawner_module
from traitlets import TraitError
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from lscsde_spawner import storage
from lscsde_spawner.policy import AdminPolicy
from lscsde_spawner.policy_settings import POLICY_SETTINGS
from lscsde_spawner.settings import WorkspaceSettings
from lscsde_spawner.spawner import WorkspaceSpawner

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "jupyterhub_config.py"

# (setting, bad value, words the error must contain besides the setting's name)
BAD_VALUES: list[tuple[str, Any, str]] = [
    ("time_zone", "Europe/Lundon", "not a known IANA time zone"),
    ("time_zone", "", "not a known IANA time zone"),
    ("time_zone", 0, "expected a unicode string"),
    ("workspace_namespace", "JupyterHub", "not a namespace name"),
    ("expiring_days", -1, "must not be negative"),
    ("expiring_days", "seven", "expected an int"),
    ("cache_sync_timeout", -5.0, "must not be negative"),
    ("cache_sync_timeout", float("nan"), "must not be negative"),
    # the workspace PVC: prefix + workspace name
    ("workspace_claim_prefix", "Workspace-", "not a valid PersistentVolumeClaim name"),
    ("workspace_claim_prefix", "ws_", "not a valid PersistentVolumeClaim name"),
    ("workspace_claim_prefix", "-", "not a valid PersistentVolumeClaim name"),
    ("workspace_claim_prefix", "x" * 250, "not a valid PersistentVolumeClaim name"),
    ("workspace_claim_prefix", "{workspace}-", "not a valid PersistentVolumeClaim name"),
    # sizes and modes of new PVCs
    ("workspace_capacity", "10GB", "not a Kubernetes quantity"),
    ("workspace_capacity", "ten gigs", "not a Kubernetes quantity"),
    ("workspace_capacity", "0", "greater than zero"),
    ("workspace_capacity", "-1Gi", "greater than zero"),
    ("workspace_access_modes", [], "at least one access mode"),
    ("workspace_access_modes", ["ReadWriteAll"], "not an access mode"),
    ("workspace_access_modes", ["ReadWriteOncePod", "ReadWriteOnce"], "with other modes"),
    ("workspace_storage_class", "Fast_SSD", "not a StorageClass name"),
    # mount path templates: only their placeholders, an absolute normalised path
    ("workspace_mount_path_template", "home/{workspace}", "not an absolute, normalised"),
    ("workspace_mount_path_template", "/", "not an absolute, normalised"),
    ("workspace_mount_path_template", "/home/../{workspace}", "not an absolute, normalised"),
    ("workspace_mount_path_template", "/home/jovyan/{name}", "only use the placeholders"),
    ("workspace_mount_path_template", "/data/{datasource}", "only use the placeholders"),
    ("workspace_mount_path_template", "/home/{workspace!r}", "only use the placeholders"),
    ("workspace_mount_path_template", "/home/{workspace:>9}", "only use the placeholders"),
    ("workspace_mount_path_template", "/home/{workspace.x}", "only use the placeholders"),
    ("workspace_mount_path_template", "/home/{workspace", "not a valid template"),
    ("workspace_mount_path_template", "/home/{workspace}\n", "control or invisible"),
    ("datasource_mount_template", "/data/{workspace}", "must use {datasource}"),
    ("datasource_mount_template", "/data/{datasource}/{name}", "only use the placeholders"),
    ("datasource_mount_template", "data/{datasource}", "not an absolute, normalised"),
    ("datasource_mount_template", "/data/{datasource", "not a valid template"),
    # where a server opens: a path on the user's own server, {workspace} the only placeholder
    ("workspace_default_url", "lab/tree/{workspace}", "not a path on the user's server"),
    ("workspace_default_url", "//evil.example/{workspace}", "not a path on the user's server"),
    ("workspace_default_url", "/lab\\..\\{workspace}", "not a path on the user's server"),
    ("workspace_default_url", "/lab/tree/{workspace} x", "not a path on the user's server"),
    ("workspace_default_url", "/lab/tree/{username}", "only use the placeholder {workspace}"),
    ("workspace_default_url", "/lab/tree/{workspace!r}", "only use the placeholder"),
    ("workspace_default_url", "/lab/tree/{workspace", "not a valid template"),
    # the environment's prefix: a variable name's start, never the hub's own
    ("environment_prefix", "lscsde_", "must be upper-case letters"),
    ("environment_prefix", "LSCSDE", "ending in '_'"),
    ("environment_prefix", "1X_", "starting with a letter"),
    ("environment_prefix", "LSC-SDE_", "must be upper-case letters"),
    ("environment_prefix", "JUPYTERHUB_", "JupyterHub's or Jupyter's own namespace"),
    ("environment_prefix", "JUPYTER_", "JupyterHub's or Jupyter's own namespace"),
    ("environment_prefix", "JPY_", "JupyterHub's or Jupyter's own namespace"),
    # the data-source PVC name template
    ("datasource_claim_template", "datasource", "must use {datasource}"),
    ("datasource_claim_template", "{workspace}-{datasource}", "only use the placeholders"),
    ("datasource_claim_template", "DS-{datasource}", "not a valid PersistentVolumeClaim name"),
    ("datasource_claim_template", "ds_{datasource}", "not a valid PersistentVolumeClaim name"),
    ("datasource_claim_template", "/data/{datasource}", "not a valid PersistentVolumeClaim name"),
    ("datasource_claim_annotation", "a pvc", "not an annotation key"),
    ("trusted_claim_selector", "a!=b", "use key=value or key"),
    ("trusted_claim_selector", "shared in (a,b)", "use key=value or key"),
    # claim names: strings that can match
    ("groups_claim", " groups", "surrounding spaces"),
    ("groups_claim", ["groups"], "expected a unicode string"),
    ("auth_state_claims", "oauth_user\n", "control characters"),
    ("auth_state_claims", None, "expected a unicode string"),
    ("case_sensitive_usernames", "false", "expected a boolean"),
    ("profile_hook", "my_hook", "expected a callable"),
    # the admin policy
    ("allowed_toleration_effects", ["NoSchedul"], "not a taint effect"),
    ("allowed_node_selector_keys", ["bad key"], "not a valid Kubernetes label key"),
    ("max_resources", {"cpu": "0"}, "greater than zero"),
    ("max_resources", {"memory": "lots"}, "not a Kubernetes quantity"),
    ("refused_mount_paths", ["tmp"], "not an absolute path"),
]


@pytest.fixture
def make_spawner() -> Iterator[Any]:
    """A spawner built from a config, with no cluster (KubeSpawner's client setup stubbed)."""
    with (
        mock.patch.object(kubespawner_module, "load_config"),
        mock.patch.object(kubespawner_module, "shared_client"),
    ):
        yield lambda config: WorkspaceSpawner(_mock=True, config=config)


def config_with(section: str = "WorkspaceSpawner", **settings: Any) -> Config:
    c = Config()
    for name, value in settings.items():
        c[section][name] = value
    return c


def names_setting(err: BaseException, setting: str) -> bool:
    """The message names the setting as a word (``time_zone``, not ``time_zones``)."""
    return re.search(rf"(?<![\w.]){setting}(?!\w)|'{setting}'", str(err)) is not None


@pytest.mark.parametrize(("setting", "value", "words"), BAD_VALUES)
def test_a_bad_value_stops_validate_config_naming_the_setting(
    setting: str, value: Any, words: str
) -> None:
    with pytest.raises(TraitError) as info:
        WorkspaceSpawner.validate_config(config_with(**{setting: value}))
    assert names_setting(info.value, setting), str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize(("setting", "value", "words"), BAD_VALUES)
def test_a_bad_value_stops_the_spawner_being_built(
    make_spawner: Any, setting: str, value: Any, words: str
) -> None:
    with pytest.raises(TraitError) as info:
        make_spawner(config_with(**{setting: value}))
    assert names_setting(info.value, setting), str(info.value)
    assert words in str(info.value)


def test_traitlets_own_messages_name_the_spawner_class() -> None:
    with pytest.raises(TraitError, match="'expiring_days' trait of a WorkspaceSpawner instance"):
        WorkspaceSpawner.validate_config(config_with(expiring_days="seven"))


def test_an_assignment_is_validated_too(make_spawner: Any) -> None:
    spawner = make_spawner(Config())
    with pytest.raises(TraitError, match="time_zone: 'Nowhere' is not a known IANA time zone"):
        spawner.time_zone = "Nowhere"
    assert spawner.time_zone == "UTC"


GOOD_VALUES: list[tuple[str, Any]] = [
    ("time_zone", "Europe/London"),
    ("time_zone", "America/Argentina/Buenos_Aires"),
    ("workspace_namespace", "research"),
    ("workspace_claim_prefix", ""),  # the PVC is the workspace's name
    ("workspace_claim_prefix", "tre.ws-"),
    ("workspace_capacity", "500Mi"),
    ("workspace_capacity", "1.5Ti"),
    ("workspace_access_modes", ["ReadWriteOnce", "ReadOnlyMany"]),
    ("workspace_access_modes", ["ReadWriteOncePod"]),
    ("workspace_storage_class", None),
    ("workspace_storage_class", ""),
    ("workspace_storage_class", "managed-csi.premium"),
    ("workspace_mount_path_template", "/home/jovyan/work"),  # one path for every workspace
    ("workspace_mount_path_template", "/workspaces/{workspace}/"),
    ("datasource_mount_template", "/home/jovyan/{workspace}-data/{datasource}"),
    ("workspace_default_url", ""),  # KubeSpawner's default_url
    ("workspace_default_url", "/lab/tree/work/{workspace}"),
    ("workspace_default_url", "/lab"),
    ("environment_prefix", ""),  # no variables
    ("environment_prefix", "TRE_"),
    ("datasource_claim_template", "{datasource}"),
    ("datasource_claim_template", "pvc.{datasource}.data"),
    ("datasource_claim_annotation", ""),
    ("datasource_claim_annotation", "example.org/pvc"),
    ("trusted_claim_selector", "example.org/shared=true, legacy"),
    ("groups_claim", ""),
    ("groups_claim", "roles"),
    ("auth_state_claims", ""),
    ("expiring_days", 0),
]


@pytest.mark.parametrize(("setting", "value"), GOOD_VALUES)
def test_a_good_value_passes(make_spawner: Any, setting: str, value: Any) -> None:
    c = config_with(**{setting: value})
    settings = WorkspaceSpawner.validate_config(c)
    assert getattr(settings, setting) == value
    assert getattr(make_spawner(c), setting) == value


def test_the_defaults_pass() -> None:
    settings = WorkspaceSpawner.validate_config(Config())
    assert settings.admin_policy() == AdminPolicy()
    assert settings.storage_settings().mount_path_template == "/home/jovyan/{workspace}"


def test_it_covers_every_setting_of_the_spawner() -> None:
    """Every setting WorkspaceSpawner adds to KubeSpawner's is a WorkspaceSettings one, and
    so read by validate_config."""
    from kubespawner import KubeSpawner

    ours = set(WorkspaceSpawner.class_traits(config=True)) - set(
        KubeSpawner.class_traits(config=True)
    )
    assert ours == set(WorkspaceSettings.class_traits(config=True)) - set(
        KubeSpawner.class_traits(config=True)
    )
    assert set(POLICY_SETTINGS) < ours


def test_the_spawner_sections_are_read_as_the_spawner_reads_them() -> None:
    c = Config()
    c.Spawner.time_zone = "Nowhere"  # a bad value in any section the spawner reads counts
    with pytest.raises(TraitError, match="time_zone"):
        WorkspaceSpawner.validate_config(c)
    c.WorkspaceSpawner.time_zone = "Europe/London"  # the subclass section wins
    assert WorkspaceSpawner.validate_config(c).time_zone == "Europe/London"
    c.OtherSpawner.time_zone = "Nowhere"  # not a section of ours
    c.WorkspaceSpawner.not_a_setting = 1  # traitlets warns of those at spawn; not ours
    WorkspaceSpawner.validate_config(c)
    # A lazy append (c.X.y.append(...) in a config file) is applied to the default.
    c.WorkspaceSpawner.workspace_access_modes.append("ReadWriteOncePod")
    with pytest.raises(TraitError, match="workspace_access_modes: ReadWriteOncePod"):
        WorkspaceSpawner.validate_config(c)


def test_validate_admin_policy_checks_every_setting_and_returns_the_policy() -> None:
    c = config_with(allowed_toleration_keys=["example.com/fpga"])
    assert WorkspaceSpawner.validate_admin_policy(c).allowed_toleration_keys == (
        "example.com/fpga",
    )
    c.WorkspaceSpawner.workspace_capacity = "10GB"
    with pytest.raises(TraitError, match="workspace_capacity"):
        WorkspaceSpawner.validate_admin_policy(c)


# -- settings checked together -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "template_setting", "policy_setting"),
    [
        (
            {"workspace_mount_path_template": "/home/jovyan"},
            "workspace_mount_path_template",
            "refused_mount_paths",
        ),
        (
            {"workspace_mount_path_template": "/etc/{workspace}"},
            "workspace_mount_path_template",
            "refused_mount_path_prefixes",
        ),
        (
            {"workspace_mount_path_template": "/srv/{workspace}"},
            "workspace_mount_path_template",
            "refused_mount_path_prefixes",
        ),
        (
            {
                "datasource_mount_template": "/scratch/{datasource}",
                "refused_mount_path_prefixes": ["/scratch"],
            },
            "datasource_mount_template",
            "refused_mount_path_prefixes",
        ),
    ],
)
def test_a_template_the_admin_policy_refuses_stops_the_hub(
    settings: dict[str, Any], template_setting: str, policy_setting: str
) -> None:
    with pytest.raises(TraitError) as info:
        WorkspaceSpawner.validate_config(config_with(**settings))
    assert names_setting(info.value, template_setting), str(info.value)
    assert names_setting(info.value, policy_setting), str(info.value)


def test_a_policy_that_allows_the_template_passes() -> None:
    c = config_with(
        workspace_mount_path_template="/home/jovyan",
        datasource_mount_template="/data/{datasource}",  # not inside the workspace's storage
        refused_mount_paths=["/", "/home", "/tmp", "/data"],
    )
    assert WorkspaceSpawner.validate_config(c).workspace_mount_path_template == "/home/jovyan"


@pytest.mark.parametrize(
    "settings",
    [
        # The default data folder inside a workspace mounted at the home directory.
        {"workspace_mount_path_template": "/home/jovyan", "refused_mount_paths": ["/"]},
        {"datasource_mount_template": "/home/jovyan/{workspace}/data/{datasource}"},
        {"workspace_mount_path_template": "/home/jovyan/data/example-datasource/{workspace}"},
    ],
)
def test_templates_that_nest_data_and_workspace_storage_stop_the_hub(
    settings: dict[str, Any],
) -> None:
    with pytest.raises(TraitError, match="inside") as info:
        WorkspaceSpawner.validate_config(config_with(**settings))
    message = str(info.value)
    assert "datasource_mount_template" in message, message
    assert "workspace_mount_path_template" in message, message


def test_the_storage_settings_check_is_pure() -> None:
    storage.check_settings(storage.StorageSettings(mount_policy=AdminPolicy()))
    with pytest.raises(storage.StoragePlanError, match="workspace_capacity"):
        storage.check_settings(storage.StorageSettings(capacity="10 GiB"))


# -- the example configs, and a real hub start -------------------------------------------------


def load_config_file(path: Path) -> Config:
    """Run a config file as JupyterHub's ``load_config_file`` does (with traitlets' loader), in
    this process and without an application's logging set up."""
    config: Config = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    return config


def test_the_example_config_passes() -> None:
    c = load_config_file(EXAMPLE)  # it ends with validate_config(c)
    settings = WorkspaceSpawner.validate_config(c)
    assert settings.time_zone == "Europe/London"
    assert settings.max_resources["nvidia.com/gpu"] == "2"


def test_the_example_config_with_a_typo_stops_the_hub(tmp_path: Path) -> None:
    source = EXAMPLE.read_text().replace('"Europe/London"', '"Europe/Lundon"')
    assert "Lundon" in source
    bad = tmp_path / "jupyterhub_config.py"
    bad.write_text(source)
    with pytest.raises(TraitError, match="time_zone: 'Europe/Lundon' is not a known IANA"):
        load_config_file(bad)


def test_the_demo_config_passes() -> None:
    from lscsde_demo.hubconfig import configure

    c = Config()
    configure(c)  # it ends with validate_config(c)
    assert c.JupyterHub.spawner_class is WorkspaceSpawner


def test_jupyterhub_refuses_to_start_with_a_bad_setting(tmp_path: Path) -> None:
    """The real `jupyterhub` command, as a deployment runs it: it exits at once, and its log
    says which setting is wrong."""
    (tmp_path / "jupyterhub_config.py").write_text(
        'c.JupyterHub.spawner_class = "lscsde"\n'
        'c.WorkspaceSpawner.workspace_mount_path_template = "/home/jovyan/{user}"\n'
        "from lscsde_spawner import WorkspaceSpawner\n"
        "WorkspaceSpawner.validate_config(c)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Bad config encountered during initialization" in done.stderr
    assert "workspace_mount_path_template '/home/jovyan/{user}'" in done.stderr
    assert not (tmp_path / "jupyterhub.sqlite").exists()  # it stopped before anything else
