"""What a start asks for and what attaches its data sources (``choosing``), and the start's
small helpers: the hub's copy of its options, a PVC's facts, the workspace's status."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException

from lscsde_spawner import choosing, hub_options, pod_storage, storage, workspace_status
from lscsde_spawner.models import (
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    PersistentVolumeClaim,
)
from tests.support import factories

TODAY = date(2026, 3, 12)


@pytest.mark.parametrize("options", [None, "x", {}, {"profile": None}, {"profile": ""}])
def test_no_workspace_named(options: Any) -> None:
    assert choosing.requested(options) is None


def test_a_workspace_named() -> None:
    assert choosing.requested({"profile": "ws-1.a"}) == "ws-1.a"
    assert choosing.requested({"profile": "a" * 253}) == "a" * 253


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["ws1"], "'profile' must be a workspace name, not list"),
        (7, "'profile' must be a workspace name, not int"),
        ("WS1", "'WS1' is not a valid workspace name"),
        ("ws1/../x", "'ws1/../x' is not a valid workspace name"),
        ("-ws", "'-ws' is not a valid workspace name"),
        ("a" * 254, "is not a valid workspace name"),
        ("ws\n", "is not a valid workspace name"),
    ],
)
def test_a_bad_name_is_refused_with_400(value: Any, message: str) -> None:
    with pytest.raises(SpawnException) as raised:
        choosing.requested({"profile": value})
    assert raised.value.status_code == 400
    assert message in str(raised.value)


def test_a_long_bad_name_is_cut_in_the_message() -> None:
    with pytest.raises(SpawnException) as raised:
        choosing.requested({"profile": "A" * 1000})
    assert "A" * 80 in str(raised.value) and "A" * 81 not in str(raised.value)


def dsb(name: str, ws: str, ds: str, expires: str | None = None) -> AnalyticsDataSourceBinding:
    return AnalyticsDataSourceBinding.model_validate(
        factories.datasource_binding(name, ws, ds, expires=expires)
    )


def test_attaching_names_the_live_bindings_of_the_attached_data_sources() -> None:
    attached = [SimpleNamespace(name="d1"), SimpleNamespace(name="d2")]
    bindings = [
        dsb("z", "ws1", "d1"),
        dsb("a", "ws1", "d2", expires="2026-03-12"),  # its last day: still live
        dsb("old", "ws1", "d1", expires="2026-03-11"),
        dsb("other-ws", "ws2", "d1"),
        dsb("not-attached", "ws1", "d3"),
    ]
    assert choosing.attaching("ws1", bindings, attached, TODAY) == ("a", "z")
    assert choosing.attaching("ws1", bindings, [], TODAY) == ()


async def test_choose_refuses_with_503_until_the_cache_is_synced() -> None:
    async def not_yet(_: float) -> bool:
        return False

    cache: Any = SimpleNamespace(synced=False, wait_synced=not_yet)

    async def claims() -> None:
        raise AssertionError("no claims are read before the cache is synced")

    with pytest.raises(SpawnException) as raised:
        await choosing.choose(
            cache, "alice", "ws1", sync_timeout=0, today=lambda: TODAY,
            read_claims=claims, decide=lambda *a: pytest.fail("decided"),
        )  # fmt: skip
    assert raised.value.status_code == 503


def test_naming_the_chosen_workspace() -> None:
    assert hub_options.naming({}, "ws1") == {"profile": "ws1"}
    assert hub_options.naming({"profile": ""}, "ws1") == {"profile": "ws1"}
    assert hub_options.naming({"profile": "ws2"}, "ws1") is None
    assert hub_options.naming(None, "ws1") is None


def test_storing_options_copies_them() -> None:
    orm = SimpleNamespace(user_options=None)
    spawner = SimpleNamespace(user_options=None, orm_spawner=orm)
    options = {"profile": "ws1"}
    hub_options.store(spawner, options)
    options["profile"] = "changed"
    assert spawner.user_options == orm.user_options == {"profile": "ws1"}
    assert spawner.user_options is not orm.user_options
    bare = SimpleNamespace(user_options=None, orm_spawner=None)
    hub_options.store(bare, options, commit=True)  # no database row: nothing to commit
    assert bare.user_options == {"profile": "changed"}


def test_facts_of_a_pvc_from_either_client() -> None:
    assert pod_storage.facts(None) is None
    ours = PersistentVolumeClaim.model_validate(
        {
            "metadata": {
                "name": "c",
                "labels": {"a": "b"},
                "deletionTimestamp": "2026-01-01T00:00:00Z",
            }
        }
    )
    assert pod_storage.facts(ours) == storage.ExistingClaim({"a": "b"}, being_deleted=True)
    theirs = SimpleNamespace(metadata=SimpleNamespace(labels=None, deletion_timestamp=None))
    assert pod_storage.facts(theirs) == storage.ExistingClaim({}, being_deleted=False)
    no_meta = SimpleNamespace(metadata=None)
    assert pod_storage.facts(no_meta) == storage.ExistingClaim({}, being_deleted=False)


def test_status_says() -> None:
    wanted = {"statusText": "Provisioned", "persistentVolumeClaim": "c1"}
    bare = AnalyticsWorkspace.model_validate(factories.workspace("ws1"))
    assert not workspace_status.status_says(bare, wanted)
    assert workspace_status.status_says(bare, {})
    done = AnalyticsWorkspace.model_validate(
        factories.workspace("ws1", status={**wanted, "extra": 1})
    )
    assert workspace_status.status_says(done, wanted)
    assert not workspace_status.status_says(done, {**wanted, "persistentVolumeClaim": "c2"})
