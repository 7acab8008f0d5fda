"""Workspace -> KubeSpawner profile: the mapping, its validation, and KubeSpawner 7.1 taking it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from kubespawner import KubeSpawner
from kubespawner import spawner as kubespawner_module
from traitlets.config import Config

from lscsde_spawner.access import PermittedWorkspace
from lscsde_spawner.models import AnalyticsWorkspace
from lscsde_spawner.models.workspace import WORKSPACE_LABEL
from lscsde_spawner.profiles import (
    OVERRIDE_KEYS,
    ProfileError,
    WorkspaceCard,
    card_for,
    folder_url,
    overrides_for,
    parse_quantity,
    profile_for,
)
from tests.support import factories

TODAY = date(2026, 3, 10)
GiB = 2**30
MiB = 2**20


def workspace(
    name: str = "ws",
    *,
    display: str = "WS",
    description: str = "d",
    image: str = "img/ws:1",
    **jupyter: Any,
) -> AnalyticsWorkspace:
    """An AnalyticsWorkspace parsed from its wire (camelCase) shape."""
    raw = factories.workspace(
        name, display=display, description=description, image=image, namespace="sde", **jupyter
    )
    return AnalyticsWorkspace.model_validate(raw)


def grant(ws: AnalyticsWorkspace, days_left: int = 30) -> PermittedWorkspace:
    return PermittedWorkspace(ws, TODAY + timedelta(days=days_left), days_left, ("b1",))


def refused(ws: AnalyticsWorkspace) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        overrides_for(ws)
    return info.value


# ---------------------------------------------------------------------------------------------
# Resources


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        pytest.param(None, {}, id="absent"),
        pytest.param({"requests": None, "limits": None}, {}, id="both-null"),
        pytest.param(
            {"limits": {"cpu": "2", "memory": "8Gi"}},
            {"cpu_limit": 2.0, "mem_limit": 8 * GiB},
            id="limits-only",
        ),
        pytest.param(
            {"requests": {"cpu": "500m", "memory": "512Mi"}},
            {"cpu_guarantee": 0.5, "mem_guarantee": 512 * MiB},
            id="requests-only",
        ),
        pytest.param(
            {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": 4, "memory": "16Gi"}},
            {
                "cpu_guarantee": 1.0,
                "mem_guarantee": 4 * GiB,
                "cpu_limit": 4.0,
                "mem_limit": 16 * GiB,
            },
            id="both",
        ),
        pytest.param(
            {"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 1, "memory": "1G"}},
            {
                "extra_resource_guarantees": {"nvidia.com/gpu": "1"},
                "extra_resource_limits": {"nvidia.com/gpu": "1"},
                "mem_limit": 10**9,
            },
            id="gpu",
        ),
        pytest.param(
            {"limits": {"ephemeral-storage": "10Gi", "hugepages-2Mi": "1Gi"}},
            {"extra_resource_limits": {"ephemeral-storage": "10Gi", "hugepages-2Mi": "1Gi"}},
            id="other-resources-kept-as-written",
        ),
    ],
)
def test_resources_map_to_traits_and_unset_ones_are_omitted(
    resources: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    overrides = overrides_for(workspace(resources=resources))
    resource_keys = set(OVERRIDE_KEYS) - {
        "image",
        "tolerations",
        "node_selector",
        "extra_labels",
        "default_url",
    }
    assert {k: v for k, v in overrides.items() if k in resource_keys} == expected


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        ("8Gi", 8 * GiB),
        ("512Mi", 512 * MiB),
        ("1Ki", 1024),
        ("1G", 10**9),  # decimal: ByteSpecification would have read "1G" as 2**30
        ("1M", 10**6),
        ("1k", 1000),
        ("1e9", 10**9),
        ("129e6", 129_000_000),
        ("1.5Gi", 1_610_612_736),
        ("1073741824", GiB),
        (1073741824, GiB),
        (1.5e9, 1_500_000_000),
        ("1500m", 2),  # a fraction of a byte rounds up
    ],
)
def test_memory_becomes_whole_bytes(memory: str | int | float, expected: int) -> None:
    overrides = overrides_for(workspace(resources={"limits": {"memory": memory}}))
    assert overrides["mem_limit"] == expected
    assert type(overrides["mem_limit"]) is int


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [("500m", 0.5), ("2", 2.0), (0.5, 0.5), (2, 2.0), ("1.5", 1.5), ("100m", 0.1), ("1e-1", 0.1)],
)
def test_cpu_becomes_float_cores(cpu: str | int | float, expected: float) -> None:
    overrides = overrides_for(workspace(resources={"requests": {"cpu": cpu}}))
    assert overrides["cpu_guarantee"] == expected
    assert type(overrides["cpu_guarantee"]) is float


@pytest.mark.parametrize(
    ("resources", "field", "reason"),
    [
        ({"limits": {"cpu": "lots"}}, "resources.limits.cpu", "not a Kubernetes quantity"),
        ({"limits": {"memory": "8GB"}}, "resources.limits.memory", "not a Kubernetes quantity"),
        ({"limits": {"memory": "8gi"}}, "resources.limits.memory", "not a Kubernetes quantity"),
        ({"limits": {"memory": " 8Gi"}}, "resources.limits.memory", "not a Kubernetes quantity"),
        ({"limits": {"memory": "8Gi\n"}}, "resources.limits.memory", "not a Kubernetes quantity"),
        ({"requests": {"memory": ""}}, "resources.requests.memory", "not a Kubernetes quantity"),
        ({"limits": {"memory": "-1Gi"}}, "resources.limits.memory", "greater than zero"),
        ({"limits": {"cpu": "0"}}, "resources.limits.cpu", "greater than zero"),
        ({"requests": {"memory": 0}}, "resources.requests.memory", "greater than zero"),
        ({"limits": {"memory": "1e999999999"}}, "resources.limits.memory", "out of range"),
        ({"limits": {"memory": "9Ei"}}, "resources.limits.memory", "out of range"),
        ({"limits": {"nvidia.com/gpu": "one"}}, "resources.limits.nvidia.com/gpu", "quantity"),
        ({"limits": {"nvidia.com/gpu": "-1"}}, "resources.limits.nvidia.com/gpu", "greater"),
        ({"limits": {"bad name!": "1"}}, "resources.limits.bad name!", "resource name"),
        (
            {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
            "resources.requests.cpu",
            "greater than the limit",
        ),
        (
            {"requests": {"memory": "2Gi"}, "limits": {"memory": "2G"}},
            "resources.requests.memory",
            "greater than the limit",
        ),
    ],
)
def test_bad_quantities_are_refused_naming_workspace_and_field(
    resources: dict[str, Any], field: str, reason: str
) -> None:
    err = refused(workspace("analysis-7", resources=resources))
    assert (err.workspace, err.field) == ("analysis-7", field)
    assert reason in err.reason
    assert str(err).startswith(f"workspace 'analysis-7': {field}: ")


@pytest.mark.parametrize("value", [True, None, float("nan"), float("inf"), [1], "1 Gi", "0x10"])
def test_parse_quantity_rejects_non_quantities(value: object) -> None:
    with pytest.raises(ValueError):
        parse_quantity(value)


def test_parse_quantity_is_exact() -> None:
    assert parse_quantity("100n") == Decimal("1E-7")
    assert parse_quantity("+1.5Ki") == Decimal(1536)
    assert parse_quantity(".5") == Decimal("0.5")
    assert parse_quantity("2E") == 2 * 10**18  # exa, not an exponent
    assert parse_quantity("2E3") == 2000


# ---------------------------------------------------------------------------------------------
# Labels, node selector, tolerations, default URL


def test_extra_labels_are_kept_and_the_workspace_label_added() -> None:
    labels = {"team": "a", "example.com/cost-centre": "x-1", "empty": "", "Component": "c"}
    overrides = overrides_for(workspace("genomics", extraLabels=labels))
    assert overrides["extra_labels"] == {**labels, WORKSPACE_LABEL: "genomics"}


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("bad key", "v", "not a valid Kubernetes label key"),
        ("-lead", "v", "not a valid Kubernetes label key"),
        ("a" * 64, "v", "not a valid Kubernetes label key"),
        ("Example.com/x", "v", "not a valid Kubernetes label key"),
        ("/x", "v", "not a valid Kubernetes label key"),
        ("x/", "v", "not a valid Kubernetes label key"),
        ("a/b/c", "v", "not a valid Kubernetes label key"),
        ("team", "has space", "not a valid label value"),
        ("team", "a" * 64, "not a valid label value"),
        ("team", "{username}", "not a valid label value"),
        ("team", "-x", "not a valid label value"),
        ("team", "v\n", "not a valid label value"),
        ("team\n", "v", "not a valid Kubernetes label key"),
        ("example.com\n/x", "v", "not a valid Kubernetes label key"),
        (WORKSPACE_LABEL, "other-workspace", "reserved"),
        ("xlscsde.nhs.uk/username", "someone", "reserved"),
        ("lscsde-spawner.xlscsde.nhs.uk/user-sha256", "x", "reserved"),
        ("hub.jupyter.org/username", "admin", "reserved"),
        ("hub.jupyter.org/network-access-hub", "true", "reserved"),
        ("component", "singleuser-server", "reserved"),
        ("app", "jupyterhub", "reserved"),
        ("heritage", "jupyterhub", "reserved"),
        ("release", "jhub", "reserved"),
        ("app.kubernetes.io/component", "x", "reserved"),
        ("kubernetes.io/metadata.name", "x", "reserved"),
        ("node.k8s.io/x", "y", "reserved"),
    ],
)
def test_hostile_extra_labels_are_refused(key: str, value: str, reason: str) -> None:
    err = refused(workspace("ws", extraLabels={"ok": "1", key: value}))
    assert (err.workspace, err.field) == ("ws", f"extraLabels[{key!r}]")
    assert reason in err.reason


def test_workspace_name_too_long_for_a_label_is_refused() -> None:
    name = "w" * 64  # a valid object name, but not a label value
    err = refused(workspace(name))
    assert (err.workspace, err.field) == (name, "metadata.name")


def test_node_selector_and_tolerations_are_copied_plain() -> None:
    tolerations = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "pool", "operator": "Equal", "value": "gpu", "effect": "NoExecute"},
        {"key": "x", "tolerationSeconds": 30},
    ]
    ws = workspace(
        nodeSelector={"pool": "gpu", "kubernetes.io/arch": "amd64"}, tolerations=tolerations
    )
    overrides = overrides_for(ws)
    assert overrides["node_selector"] == {"pool": "gpu", "kubernetes.io/arch": "amd64"}
    assert overrides["tolerations"] == tolerations
    # New objects: KubeSpawner mutates trait values in place; the model must not change with them.
    overrides["node_selector"]["pool"] = "changed"
    overrides["tolerations"][0]["key"] = "changed"
    jw = ws.spec.jupyter_workspace
    assert jw is not None
    assert (jw.node_selector["pool"], jw.tolerations[0]["key"]) == ("gpu", "nvidia.com/gpu")


@pytest.mark.parametrize(
    ("jupyter", "field"),
    [
        # None would make KubeSpawner's merge *delete* the admin's key.
        ({"nodeSelector": {"pool": None}}, "nodeSelector['pool']"),
        ({"nodeSelector": {"pool": 5}}, "nodeSelector['pool']"),
        ({"nodeSelector": {"pool": {"nested": "x"}}}, "nodeSelector['pool']"),
        ({"nodeSelector": {"bad key": "x"}}, "nodeSelector['bad key']"),
        ({"tolerations": [{"keyy": "x"}]}, "tolerations[0].keyy"),
        ({"tolerations": [{"key": 5}]}, "tolerations[0].key"),
        ({"tolerations": [{"key": "a"}, {"operator": "Maybe"}]}, "tolerations[1].operator"),
        ({"tolerations": [{"effect": "Sometimes"}]}, "tolerations[0].effect"),
        ({"tolerations": [{"tolerationSeconds": "10"}]}, "tolerations[0].tolerationSeconds"),
        ({"tolerations": [{"tolerationSeconds": True}]}, "tolerations[0].tolerationSeconds"),
    ],
)
def test_bad_node_selector_or_tolerations_are_refused(jupyter: dict[str, Any], field: str) -> None:
    err = refused(workspace("ws", **jupyter))
    assert (err.workspace, err.field) == ("ws", field)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (None, None),
        ("", None),
        ("/lab", "/lab"),
        ("/rstudio/", "/rstudio/"),
        ("/lab/tree/work?x=1#y", "/lab/tree/work?x=1#y"),
        ("/lab/tree/{username}", "/lab/tree/{{username}}"),  # literal after JupyterHub's format()
    ],
)
def test_default_uri_maps_to_default_url(uri: str | None, expected: str | None) -> None:
    overrides = overrides_for(workspace(defaultUri=uri))
    assert overrides.get("default_url") == expected


@pytest.mark.parametrize(
    "uri", ["lab", "//evil.example/", "/\\evil.example", "https://evil.example/", "/a b", "/lab\n"]
)
def test_default_uri_that_is_not_a_local_path_is_refused(uri: str) -> None:
    err = refused(workspace("ws", defaultUri=uri))
    assert (err.workspace, err.field) == ("ws", "defaultUri")


@pytest.mark.parametrize(
    ("template", "name", "expected"),
    [
        ("/lab/tree/{workspace}", "cardiac-imaging", "/lab/tree/cardiac-imaging"),
        ("/lab/tree/work/{workspace}/", "a.b", "/lab/tree/work/a.b/"),
        ("/lab", "ws", "/lab"),
        ("/lab/tree/{{x}}/{workspace}", "ws", "/lab/tree/{{x}}/ws"),  # literal braces stay so
        ("", "ws", ""),  # KubeSpawner's default_url applies
    ],
)
def test_the_folder_url_of_a_workspace(template: str, name: str, expected: str) -> None:
    assert folder_url(template, name) == expected


@pytest.mark.parametrize(
    ("template", "name", "words"),
    [
        ("/{workspace}", "/evil.example", "not a path"),  # off the hub's origin: "//evil..."
        ("/lab/{workspace}", "a\\b", "not a path"),
        ("{workspace}", "evil.example", "not a path"),
        ("/x/{workspace} y", "ws", "not a path"),
        ("/x/{user}", "ws", "only use the placeholder"),
        ("/x/{workspace:>20}", "ws", "only use the placeholder"),
        ("/x/{", "ws", "not a valid template"),
    ],
)
def test_a_folder_url_that_is_not_a_local_path_is_refused(
    template: str, name: str, words: str
) -> None:
    with pytest.raises(ValueError, match="workspace_default_url") as err:
        folder_url(template, name)
    assert words in str(err.value)


def test_the_workspaces_default_uri_wins_over_the_folder_url() -> None:
    folder = folder_url("/lab/tree/{workspace}", "ws")
    assert overrides_for(workspace(), default_url=folder)["default_url"] == "/lab/tree/ws"
    own = overrides_for(workspace(defaultUri="/rstudio/"), default_url=folder)
    assert own["default_url"] == "/rstudio/"
    assert "default_url" not in overrides_for(workspace(), default_url="")
    profile = profile_for(grant(workspace()), default_url=folder)
    assert profile["kubespawner_override"]["default_url"] == "/lab/tree/ws"


def test_a_virtual_machine_workspace_has_no_profile() -> None:
    ws = AnalyticsWorkspace.model_validate(factories.workspace("vm", max_hosts=1))
    assert refused(ws).field == "spec.jupyterWorkspace"


# ---------------------------------------------------------------------------------------------
# The profile and the card


def test_profile_shape_and_plain_text_description() -> None:
    hostile = '<script>alert("x")</script> & <b>bold</b>'
    ws = workspace("genomics", display="Genomics <i>", description=hostile)
    profile = profile_for(grant(ws))
    assert set(profile) == {"display_name", "slug", "description", "kubespawner_override", "lscsde"}
    assert profile["slug"] == "genomics"
    assert profile["display_name"] == "Genomics <i>"  # as written; the template escapes
    assert profile["description"] == hostile
    assert profile["lscsde"].description == hostile
    assert profile["kubespawner_override"] == overrides_for(ws)
    assert "<script>" not in repr(profile["kubespawner_override"])


def test_blank_display_name_falls_back_to_the_workspace_name() -> None:
    assert profile_for(grant(workspace("genomics", display="  ")))["display_name"] == "genomics"


@pytest.mark.parametrize(
    ("days_left", "expiring_days", "soon"),
    [(0, 7, True), (1, 7, True), (6, 7, True), (7, 7, False), (30, 7, False), (10, 14, True)],
)
def test_card_days_left_and_expiring_soon(days_left: int, expiring_days: int, soon: bool) -> None:
    card = card_for(grant(workspace(), days_left=days_left), expiring_days=expiring_days)
    assert (card.expires, card.days_left, card.expiring_soon) == (
        TODAY + timedelta(days=days_left),
        days_left,
        soon,
    )
    profile = profile_for(grant(workspace(), days_left=days_left), expiring_days=expiring_days)
    assert profile["lscsde"].expiring_soon is soon


def test_card_carries_image_resources_storage_and_datasources() -> None:
    ws = workspace(
        "genomics",
        display="Genomics",
        resources={"requests": {"cpu": "500m"}, "limits": {"memory": "8Gi", "nvidia.com/gpu": 1}},
    )
    storage = [("/home/jovyan/genomics", "workspace-genomics"), ("/mnt/scratch", "scratch")]
    datasources = [("UK Biobank", "/data/ukbb")]
    card = card_for(grant(ws, 3), storage=storage, datasources=datasources)
    assert card == WorkspaceCard(
        slug="genomics",
        display_name="Genomics",
        description="d",
        expires=TODAY + timedelta(days=3),
        days_left=3,
        expiring_soon=True,
        image="img/ws:1",
        requests={"cpu": "500m"},
        limits={"memory": "8Gi", "nvidia.com/gpu": "1"},
        storage=storage,
        datasources=datasources,
    )
    assert profile_for(grant(ws, 3), card=card)["lscsde"] is card
    assert profile_for(grant(ws, 3))["lscsde"].storage == []


# ---------------------------------------------------------------------------------------------
# Against the real KubeSpawner 7.1: the overrides are accepted and reach the pod manifest

ADMIN: dict[str, Any] = {
    "image": "admin/image:1",
    "cpu_guarantee": 0.1,
    "cpu_limit": 1.0,
    "mem_guarantee": "1G",  # ByteSpecification: 2**30
    "mem_limit": "2G",
    "extra_resource_guarantees": {"example.com/dongle": "1"},
    "extra_resource_limits": {"example.com/dongle": "1"},
    "tolerations": [{"key": "hub.jupyter.org/dedicated", "operator": "Exists"}],
    "node_selector": {"pool": "user"},
    "extra_labels": {"team": "platform"},
    "default_url": "/tree",
}
ADMIN_TRAITS: dict[str, Any] = {
    **ADMIN,
    "mem_guarantee": GiB,
    "mem_limit": 2 * GiB,
    "extra_labels": {"team": "platform"},
}


@pytest.fixture
def make_spawner() -> Iterator[Any]:
    """KubeSpawner with the admin's config above, no cluster: its client setup is stubbed, as the
    manifest is built locally (KubeSpawner's `_mock` supplies the user and hub)."""
    with (
        mock.patch.object(kubespawner_module, "load_config"),
        mock.patch.object(kubespawner_module, "shared_client"),
    ):

        def make(profiles: list[dict[str, Any]]) -> KubeSpawner:
            # Through a Config, as a deployment sets it (traitlets copies config values).
            config = Config({"KubeSpawner": {**ADMIN, "profile_list": profiles}})
            spawner = KubeSpawner(_mock=True, config=config)
            spawner.api_token = "token"
            return spawner

        yield make


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
CASES = [
    pytest.param({}, {"image": "img/ws:1", "extra_labels": {"team": "platform"}}, id="image-only"),
    pytest.param(
        {"resources": {"limits": {"cpu": "2", "memory": "8Gi"}}},
        {"image": "img/ws:1", "cpu_limit": 2.0, "mem_limit": 8 * GiB},
        id="limits-only",
    ),
    pytest.param(
        {"resources": {"requests": {"cpu": "500m", "memory": "1.5Gi"}}},
        {"image": "img/ws:1", "cpu_guarantee": 0.5, "mem_guarantee": 1_610_612_736},
        id="requests-only",
    ),
    pytest.param(
        {
            "image": "img/gpu:2",
            "resources": {
                "requests": {"cpu": 1, "memory": "4G", "nvidia.com/gpu": 1},
                "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
            },
            "tolerations": [GPU_TOLERATION],
            "nodeSelector": {"pool": "gpu", "accelerator": "a100"},
            "extraLabels": {"project": "p1"},
            "defaultUri": "/lab",
        },
        {
            "image": "img/gpu:2",
            "cpu_guarantee": 1.0,
            "mem_guarantee": 4 * 10**9,
            "cpu_limit": 4.0,
            "mem_limit": 16 * GiB,
            # KubeSpawner merges dict overrides into the admin's dicts...
            "extra_resource_guarantees": {"example.com/dongle": "1", "nvidia.com/gpu": "1"},
            "extra_resource_limits": {"example.com/dongle": "1", "nvidia.com/gpu": "1"},
            "node_selector": {"pool": "gpu", "accelerator": "a100"},
            "extra_labels": {"team": "platform", "project": "p1"},
            # ...and replaces lists.
            "tolerations": [GPU_TOLERATION],
            "default_url": "/lab",
        },
        id="gpu-everything",
    ),
]


@pytest.mark.parametrize(("jupyter", "changed"), CASES)
async def test_kubespawner_accepts_the_profile(
    make_spawner: Any, jupyter: dict[str, Any], changed: dict[str, Any]
) -> None:
    ws = workspace("genomics", **jupyter)
    spawner = make_spawner([profile_for(grant(ws)), profile_for(grant(workspace("other")))])
    spawner.user_options = {"profile": "genomics"}
    await spawner.load_user_options()  # the real path: validate options, then _load_profile

    expected = {**ADMIN_TRAITS, **changed}
    expected["extra_labels"] = {**expected["extra_labels"], WORKSPACE_LABEL: "genomics"}
    assert {key: getattr(spawner, key) for key in OVERRIDE_KEYS} == expected

    pod = await spawner.get_pod_manifest()
    container = pod.spec.containers[0]
    assert container.image == expected["image"]
    assert container.resources.requests == {
        "cpu": expected["cpu_guarantee"],
        "memory": expected["mem_guarantee"],
        **expected["extra_resource_guarantees"],
    }
    assert container.resources.limits == {
        "cpu": expected["cpu_limit"],
        "memory": expected["mem_limit"],
        **expected["extra_resource_limits"],
    }
    tolerations = [
        {k: v for k, v in t.to_dict().items() if v is not None} for t in pod.spec.tolerations
    ]
    assert tolerations == expected["tolerations"]
    assert pod.spec.node_selector == expected["node_selector"]
    assert pod.metadata.labels[WORKSPACE_LABEL] == "genomics"
    assert pod.metadata.labels["component"] == "singleuser-server"
    assert {k: pod.metadata.labels[k] for k in expected["extra_labels"]} == expected["extra_labels"]
    env = {e.name: e.value for e in container.env}
    assert env["JUPYTERHUB_DEFAULT_URL"] == expected["default_url"]


async def test_the_folder_url_reaches_the_pod(make_spawner: Any) -> None:
    ws = workspace("genomics")
    default_url = folder_url("/lab/tree/{workspace}", ws.name)
    spawner = make_spawner([profile_for(grant(ws), default_url=default_url)])
    spawner.user_options = {"profile": "genomics"}
    await spawner.load_user_options()
    pod = await spawner.get_pod_manifest()
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["JUPYTERHUB_DEFAULT_URL"] == "/lab/tree/genomics"


async def test_default_url_braces_are_literal_in_the_pod(make_spawner: Any) -> None:
    ws = workspace("ws", defaultUri="/lab/tree/{username}")
    spawner = make_spawner([profile_for(grant(ws))])
    spawner.user_options = {"profile": "ws"}
    await spawner.load_user_options()
    pod = await spawner.get_pod_manifest()
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["JUPYTERHUB_DEFAULT_URL"] == "/lab/tree/{username}"


async def test_kubespawner_keeps_overrides_between_starts(make_spawner: Any) -> None:
    """Upstream behaviour the spawner must undo: a second start on the same spawner object
    inherits the first profile's dict overrides, so it restores OVERRIDE_KEYS before loading."""
    first = workspace("first", extraLabels={"project": "p1"}, nodeSelector={"pool": "gpu"})
    second = workspace("second")
    spawner = make_spawner([profile_for(grant(first)), profile_for(grant(second))])
    for slug in ("first", "second"):
        spawner.user_options = {"profile": slug}
        await spawner.load_user_options()
    assert spawner.extra_labels["project"] == "p1"  # leaked from "first"
    assert spawner.node_selector == {"pool": "gpu"}  # leaked from "first"
    assert spawner.extra_labels[WORKSPACE_LABEL] == "second"
