"""The admin policy: what a workspace may ask for, and the settings that say so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from kubespawner import KubeSpawner
from kubespawner import spawner as kubespawner_module
from traitlets import TraitError
from traitlets.config import Config, Configurable

from lscsde_spawner import spawner as spawner_module
from lscsde_spawner.models import AnalyticsWorkspace
from lscsde_spawner.policy import (
    AdminPolicy,
    MountPathRefused,
    PolicyViolation,
    check_mount_path,
    check_workspace,
    violations,
)
from lscsde_spawner.policy_settings import POLICY_SETTINGS, AdminPolicySettings
from lscsde_spawner.profiles import ProfileError
from tests.support import factories

DEFAULT = AdminPolicy()
GiB = 2**30
GPU = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def workspace(name: str = "ws", *, image: str = "img/ws:1", **jupyter: Any) -> AnalyticsWorkspace:
    """An AnalyticsWorkspace parsed from its wire (camelCase) shape."""
    raw = factories.workspace(
        name, display="WS", description="d", image=image, namespace="sde", **jupyter
    )
    return AnalyticsWorkspace.model_validate(raw)


def refused(ws: AnalyticsWorkspace, policy: AdminPolicy = DEFAULT) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as info:
        check_workspace(ws, policy)
    return info.value


def allowed(ws: AnalyticsWorkspace, policy: AdminPolicy = DEFAULT) -> None:
    check_workspace(ws, policy)
    assert violations(ws, policy) == []


def test_a_workspace_within_the_defaults_is_allowed() -> None:
    allowed(
        workspace(
            tolerations=[GPU],
            nodeSelector={"nvidia.com/gpu.product": "A100", "kubernetes.io/arch": "amd64"},
            resources={
                "requests": {"cpu": "2", "memory": "8Gi"},
                "limits": {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": 2},
            },
            additionalStorage=[{"mountPath": "/home/jovyan/shared", "persistentVolumeClaim": "s"}],
        )
    )
    allowed(workspace())  # asks for nothing


def test_a_violation_is_a_profile_error_naming_workspace_field_and_rule() -> None:
    err = refused(workspace("x", tolerations=[{"operator": "Exists"}]))
    assert isinstance(err, ProfileError)  # the spawner's existing handling applies
    assert (err.workspace, err.field, err.rule) == (
        "x",
        "tolerations[0]",
        "allow_wildcard_tolerations",
    )
    assert str(err) == (
        "workspace 'x': tolerations[0]: a wildcard toleration (operator Exists without a key) "
        "is refused by the admin policy (allow_wildcard_tolerations)"
    )


# -- tolerations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "toleration",
    [
        {"operator": "Exists"},
        {"operator": "Exists", "key": ""},
        {"operator": "Exists", "effect": "NoSchedule"},
        {"operator": "Exists", "key": "", "effect": "NoExecute", "tolerationSeconds": 5},
    ],
    ids=["exists", "empty-key", "exists-noschedule", "empty-key-noexecute"],
)
def test_wildcard_tolerations_are_refused_unless_allowed(toleration: dict[str, Any]) -> None:
    ws = workspace(tolerations=[GPU, toleration])
    err = refused(ws)
    assert (err.field, err.rule) == ("tolerations[1]", "allow_wildcard_tolerations")
    allowed(ws, AdminPolicy(allow_wildcard_tolerations=True))


@pytest.mark.parametrize(
    "toleration",
    [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"},
        {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "finance", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu.product", "operator": "Exists"},  # near miss of the GPU key
    ],
    ids=["control-plane", "master", "dedicated", "near-miss"],
)
def test_toleration_keys_must_be_listed(toleration: dict[str, Any]) -> None:
    err = refused(workspace(tolerations=[toleration]))
    assert (err.field, err.rule) == ("tolerations[0].key", "allowed_toleration_keys")
    allowed(
        workspace(tolerations=[toleration]),
        AdminPolicy(allowed_toleration_keys=(toleration["key"],)),
    )


def test_equal_without_a_key_is_no_wildcard_and_no_listed_key() -> None:
    ws = workspace(tolerations=[{"operator": "Equal", "value": "x"}])
    err = refused(ws, AdminPolicy(allow_wildcard_tolerations=True))
    assert (err.field, err.rule) == ("tolerations[0].key", "allowed_toleration_keys")


@pytest.mark.parametrize(
    "toleration",
    [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": ""},
        {"key": "nvidia.com/gpu", "operator": "Exists"},  # no effect: every effect
    ],
    ids=["empty-effect", "no-effect"],
)
def test_an_empty_effect_needs_every_effect_allowed(toleration: dict[str, Any]) -> None:
    ws = workspace(tolerations=[toleration])
    allowed(ws)  # the default allows all three effects
    policy = AdminPolicy(allowed_toleration_effects=("NoSchedule", "PreferNoSchedule"))
    err = refused(ws, policy)
    assert (err.field, err.rule) == ("tolerations[0].effect", "allowed_toleration_effects")
    assert "NoExecute" in str(err)


def test_noexecute_with_toleration_seconds() -> None:
    tol = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}
    ws = workspace(tolerations=[{**tol, "tolerationSeconds": 300}])
    allowed(ws)
    err = refused(ws, AdminPolicy(allowed_toleration_effects=("NoSchedule",)))
    assert (err.field, err.rule) == ("tolerations[0].effect", "allowed_toleration_effects")


def test_a_malformed_toleration_is_a_profile_error_not_a_violation() -> None:
    ws = workspace(tolerations=[{"key": "nvidia.com/gpu", "operator": "Sometimes"}])
    with pytest.raises(ProfileError) as info:
        check_workspace(ws, DEFAULT)
    assert not isinstance(info.value, PolicyViolation)


# -- node selector ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kubernetes.io/hostname", "master-0"),
        ("node-role.kubernetes.io/control-plane", ""),
        ("node-role.kubernetes.io/master", ""),
        ("dedicated", "finance"),
    ],
)
def test_node_selector_keys_must_be_listed(key: str, value: str) -> None:
    ws = workspace(nodeSelector={"topology.kubernetes.io/zone": "uksouth-1", key: value})
    err = refused(ws)
    assert (err.field, err.rule) == (f"nodeSelector[{key!r}]", "allowed_node_selector_keys")
    keys = (*DEFAULT.allowed_node_selector_keys, key)
    allowed(ws, AdminPolicy(allowed_node_selector_keys=keys))


def test_the_default_node_selector_keys_never_pick_a_node_or_the_control_plane() -> None:
    for key in DEFAULT.allowed_node_selector_keys:
        assert key != "kubernetes.io/hostname"
        assert not key.startswith("node-role.kubernetes.io")


# -- resources --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "maximum", "at", "above"),
    [
        ("cpu", "16", "16", "17"),
        ("cpu", "16", "16000m", "16001m"),
        ("cpu", "16", 16, 16.001),
        ("cpu", "500m", "0.5", "0.501"),
        ("cpu", "0.5", "500m", "501m"),
        ("memory", "128Gi", "128Gi", "137438953473"),
        ("memory", "128Gi", str(128 * GiB), "128.001Gi"),
        ("memory", "1Gi", "1073741824", "1073741825"),
        ("memory", "1073741824", "1Gi", "1.000001Gi"),
        ("memory", "1G", "1000M", "1000001k"),
        ("nvidia.com/gpu", "2", "2", "3"),
        ("ephemeral-storage", "100Gi", "100Gi", "101Gi"),
    ],
)
@pytest.mark.parametrize("kind", ["requests", "limits"])
def test_quantities_up_to_the_maximum_pass_and_one_unit_above_fails(
    kind: str, name: str, maximum: str, at: Any, above: Any
) -> None:
    policy = AdminPolicy(max_resources={name: maximum})
    allowed(workspace(resources={kind: {name: at}}), policy)
    err = refused(workspace(resources={kind: {name: above}}), policy)
    assert (err.field, err.rule) == (f"resources.{kind}.{name}", "max_resources")
    assert repr(maximum) in str(err)


def test_both_requests_and_limits_are_bounded() -> None:
    ws = workspace(resources={"requests": {"memory": "200Gi"}, "limits": {"memory": "100Gi"}})
    assert [v.field for v in violations(ws, DEFAULT)] == ["resources.requests.memory"]
    ws = workspace(resources={"requests": {"memory": "1Gi"}, "limits": {"memory": "200Gi"}})
    assert [v.field for v in violations(ws, DEFAULT)] == ["resources.limits.memory"]


@pytest.mark.parametrize("name", ["example.com/fpga", "hugepages-2Mi", "amd.com/gpu"])
def test_a_resource_the_policy_does_not_name_is_refused(name: str) -> None:
    err = refused(workspace(resources={"limits": {name: "1"}}))
    assert (err.field, err.rule) == (f"resources.limits.{name}", "max_resources")
    allowed(workspace(resources={"limits": {name: "1"}}), AdminPolicy(max_resources={name: 1}))


def test_a_quantity_that_does_not_parse_is_a_profile_error() -> None:
    with pytest.raises(ProfileError) as info:
        check_workspace(workspace(resources={"limits": {"cpu": "lots"}}), DEFAULT)
    assert not isinstance(info.value, PolicyViolation)
    assert info.value.field == "resources.limits.cpu"


# -- mount paths ------------------------------------------------------------------------------


REFUSED_PATHS = [
    ("/etc", "refused_mount_path_prefixes"),
    ("/etc/", "refused_mount_path_prefixes"),
    ("/etc/x", "refused_mount_path_prefixes"),
    ("/usr/local/lib", "refused_mount_path_prefixes"),
    ("/var/run", "refused_mount_path_prefixes"),
    ("/opt/conda", "refused_mount_path_prefixes"),
    ("/home/jovyan", "refused_mount_paths"),
    ("/home/jovyan/", "refused_mount_paths"),
    ("/home", "refused_mount_paths"),
    ("/tmp", "refused_mount_paths"),
    ("/data", "refused_mount_paths"),
]
ALLOWED_PATHS = ["/home/jovyan/ws1", "/mnt/x", "/data/x", "/tmp/x", "/etcetera", "/usr2", "/libx"]


@pytest.mark.parametrize(("path", "rule"), REFUSED_PATHS)
def test_additional_storage_at_a_refused_path(path: str, rule: str) -> None:
    ws = workspace(
        additionalStorage=[
            {"mountPath": "/home/jovyan/ok", "persistentVolumeClaim": "a"},
            {"mountPath": path, "persistentVolumeClaim": "b"},
        ]
    )
    err = refused(ws)
    assert (err.field, err.rule) == ("additionalStorage[1].mountPath", rule)


@pytest.mark.parametrize("path", ALLOWED_PATHS)
def test_additional_storage_at_an_allowed_path(path: str) -> None:
    allowed(workspace(additionalStorage=[{"mountPath": path, "persistentVolumeClaim": "a"}]))
    assert check_mount_path(path, DEFAULT, "m") == path


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        *REFUSED_PATHS,
        ("//etc", "refused_mount_path_prefixes"),
        ("/etc/./x", "refused_mount_path_prefixes"),
        ("/./etc", "refused_mount_path_prefixes"),
        ("///home//jovyan//", "refused_mount_paths"),
        ("/", "refused_mount_paths"),
        ("/home/jovyan/../../etc", "absolute_path"),
        ("etc", "absolute_path"),
        ("", "absolute_path"),
        ("/mnt/x\n", "control_characters"),
        ("/mnt/\nx", "control_characters"),
        ("/mnt/\tx", "control_characters"),
        ("/mnt/x\x7f", "control_characters"),
        ("/mnt/x\u2028", "control_characters"),
        ("/mnt/x\u200b", "control_characters"),
        ("/mnt/x\x00", "control_characters"),
    ],
)
def test_check_mount_path_refuses(path: str, rule: str) -> None:
    with pytest.raises(MountPathRefused) as info:
        check_mount_path(path, DEFAULT, "data source 'omop'")
    assert info.value.rule == rule
    assert str(info.value).startswith("data source 'omop': ")
    assert "\n" not in str(info.value)  # the path is quoted with repr


def test_check_mount_path_returns_the_normalised_path() -> None:
    assert check_mount_path("//mnt//x/./y/", DEFAULT, "m") == "/mnt/x/y"


def test_a_mount_above_a_refused_prefix_would_hide_it() -> None:
    policy = AdminPolicy(refused_mount_path_prefixes=("/srv/hub/secrets",), refused_mount_paths=())
    for path in ("/srv", "/srv/hub", "/srv/hub/secrets/x", "/"):
        with pytest.raises(MountPathRefused) as info:
            check_mount_path(path, policy, "m")
        assert info.value.rule == "refused_mount_path_prefixes"
    assert check_mount_path("/srv/hub/other", policy, "m") == "/srv/hub/other"
    assert check_mount_path("/etc", policy, "m") == "/etc"  # the configured list is the list


def test_refused_exact_paths_are_compared_normalised() -> None:
    policy = AdminPolicy(refused_mount_paths=("//scratch/",), refused_mount_path_prefixes=())
    assert policy.refused_mount_paths == ("/scratch",)
    with pytest.raises(MountPathRefused):
        check_mount_path("/scratch/", policy, "m")
    assert check_mount_path("/scratch/a", policy, "m") == "/scratch/a"


# -- all violations ---------------------------------------------------------------------------


def test_violations_lists_every_field_in_order_and_check_raises_the_first() -> None:
    ws = workspace(
        tolerations=[{"operator": "Exists"}],
        nodeSelector={"kubernetes.io/hostname": "master-0"},
        resources={"limits": {"memory": "1Ti"}},
        additionalStorage=[{"mountPath": "/etc", "persistentVolumeClaim": "a"}],
    )
    found = violations(ws, DEFAULT)
    assert [(v.field, v.rule) for v in found] == [
        ("tolerations[0]", "allow_wildcard_tolerations"),
        ("nodeSelector['kubernetes.io/hostname']", "allowed_node_selector_keys"),
        ("resources.limits.memory", "max_resources"),
        ("additionalStorage[0].mountPath", "refused_mount_path_prefixes"),
    ]
    assert str(refused(ws)) == str(found[0])


def test_a_virtual_machine_workspace_asks_for_nothing_this_policy_bounds() -> None:
    ws = AnalyticsWorkspace.model_validate(factories.workspace("vm", max_hosts=2))
    assert violations(ws, DEFAULT) == []


# -- settings ---------------------------------------------------------------------------------


BAD_SETTINGS = [
    ("allowed_toleration_keys", [""], "not a valid Kubernetes label key"),
    ("allowed_toleration_keys", ["bad key"], "not a valid Kubernetes label key"),
    ("allowed_toleration_effects", ["NoSchedul"], "not a taint effect"),
    ("allowed_toleration_effects", [""], "not a taint effect"),
    ("allowed_node_selector_keys", ["-bad"], "not a valid Kubernetes label key"),
    ("max_resources", {"cpu": "lots"}, "max_resources['cpu']"),
    ("max_resources", {"cpu": "0"}, "greater than zero"),
    ("max_resources", {"memory": "-1Gi"}, "greater than zero"),
    ("max_resources", {"bad name": "1"}, "not a valid resource name"),
    ("refused_mount_path_prefixes", ["etc"], "not an absolute path"),
    ("refused_mount_path_prefixes", ["/a/../etc"], "not an absolute path"),
    ("refused_mount_paths", ["/home/\njovyan"], "control or invisible character"),
    ("allow_wildcard_tolerations", "false", "True or False"),
]


@pytest.mark.parametrize(("name", "value", "words"), BAD_SETTINGS)
def test_bad_settings_are_refused_naming_the_setting(name: str, value: Any, words: str) -> None:
    with pytest.raises(ValueError, match=name) as info:
        AdminPolicy(**{name: value})
    assert words in str(info.value)
    with pytest.raises(TraitError, match=name) as trait_info:
        AdminPolicySettings(config=Config({"AdminPolicySettings": {name: value}}))
    if name != "allow_wildcard_tolerations":  # there the Bool trait refuses it first
        assert words in str(trait_info.value)


def test_the_trait_defaults_are_the_policy_defaults_and_documented() -> None:
    settings = AdminPolicySettings()
    assert settings.admin_policy() == DEFAULT
    traits = AdminPolicySettings.class_traits(config=True)
    assert set(POLICY_SETTINGS) == set(traits) - set(Configurable.class_traits(config=True))
    for name in POLICY_SETTINGS:
        assert len(traits[name].help) > 80, name  # says what it allows and why


def test_settings_are_normalised_through_the_traits() -> None:
    settings = AdminPolicySettings(
        config=Config({"AdminPolicySettings": {"refused_mount_paths": ["//scratch/"]}})
    )
    assert settings.refused_mount_paths == ["/scratch"]
    settings.max_resources = {"cpu": 4}
    assert settings.admin_policy().max_resources == {"cpu": 4}


SpawnerWithPolicy = spawner_module.WorkspaceSpawner  # the real spawner carries the mixin


def test_the_spawner_carries_the_policy_settings() -> None:
    assert issubclass(SpawnerWithPolicy, AdminPolicySettings)


@pytest.fixture
def make_spawner() -> Iterator[Any]:
    """A spawner built from a config, with no cluster (KubeSpawner's client setup stubbed)."""
    with (
        mock.patch.object(kubespawner_module, "load_config"),
        mock.patch.object(kubespawner_module, "shared_client"),
    ):
        yield lambda config: SpawnerWithPolicy(_mock=True, config=config)


def test_the_mixin_leaves_kubespawner_traits_alone() -> None:
    assert not set(POLICY_SETTINGS) & set(KubeSpawner.class_traits())


@pytest.mark.parametrize("section", ["WorkspaceSpawner", "KubeSpawner", "Spawner"])
def test_the_spawner_reads_the_policy_from_its_config(make_spawner: Any, section: str) -> None:
    c = Config()
    c[section].allowed_toleration_keys = ["example.com/fpga"]
    c[section].max_resources = {"cpu": "4", "memory": "8Gi"}
    c[section].allow_wildcard_tolerations = True
    spawner = make_spawner(c)
    assert spawner.admin_policy() == AdminPolicy(
        allowed_toleration_keys=("example.com/fpga",),
        max_resources={"cpu": "4", "memory": "8Gi"},
        allow_wildcard_tolerations=True,
    )
    assert SpawnerWithPolicy.validate_admin_policy(c) == spawner.admin_policy()


def test_a_typo_fails_when_the_spawner_is_built(make_spawner: Any) -> None:
    c = Config()
    c.WorkspaceSpawner.allowed_toleration_effects = ["NoSchedul"]
    with pytest.raises(TraitError, match="allowed_toleration_effects: 'NoSchedul'"):
        make_spawner(c)


def test_validate_admin_policy_reads_the_spawner_sections_as_traitlets_does() -> None:
    c = Config()
    c.KubeSpawner.allowed_node_selector_keys = ["a"]
    c.WorkspaceSpawner.allowed_node_selector_keys = ["b"]  # the subclass section wins
    c.WorkspaceSpawner.refused_mount_paths.append("/scratch")  # a lazy append, as in config
    c.OtherSpawner.allowed_node_selector_keys = ["c"]  # not ours
    policy = SpawnerWithPolicy.validate_admin_policy(c)
    assert policy.allowed_node_selector_keys == ("b",)
    assert policy.refused_mount_paths == (*DEFAULT.refused_mount_paths, "/scratch")
    c.KubeSpawner.max_resources = {"cpu": "0"}
    with pytest.raises(TraitError, match="max_resources"):
        SpawnerWithPolicy.validate_admin_policy(c)


@pytest.mark.parametrize(
    ("setting", "value", "text"),
    [
        ("time_zone", "Mars/Olympus_Mons", "not a known IANA time zone"),
        ("trusted_claim_selector", "a!=b", "use key=value or key"),
    ],
)
def test_the_spawners_own_settings_are_validated(
    make_spawner: Any, setting: str, value: str, text: str
) -> None:
    c = Config()
    c.WorkspaceSpawner[setting] = value
    with pytest.raises(TraitError, match=re.escape(text)):
        make_spawner(c)
