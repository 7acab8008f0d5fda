"""hub_claims against JupyterHub's real ORM: which groups count, and which flushes say claims
may have changed (the trigger for re-checking running servers)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from jupyterhub import orm
from sqlalchemy import event
from sqlalchemy.orm import Session

from lscsde_spawner import hub_claims
from lscsde_spawner.hub_claims import claims_may_have_changed, group_names, user_claims


@pytest.fixture
def db() -> Iterator[Session]:
    session = orm.new_session_factory("sqlite:///:memory:")()
    yield session
    session.close()


def add_user(db: Session, name: str, *groups: str) -> orm.User:
    user = orm.User(name=name)
    db.add(user)
    for g in groups:
        group = db.query(orm.Group).filter_by(name=g).first() or orm.Group(name=g)
        user.groups.append(group)
    db.commit()
    return user


class Hub:
    """What user_claims needs of JupyterHub's User: the ORM user's groups and auth_state."""

    def __init__(self, orm_user: orm.User, auth_state: Any = None) -> None:
        self.orm_user, self.name, self.auth_state = orm_user, orm_user.name, auth_state

    @property
    def groups(self) -> list[orm.Group]:
        return list(self.orm_user.groups)

    async def get_auth_state(self) -> Any:
        return self.auth_state


def test_a_deleted_group_no_longer_counts(db: Session) -> None:
    user = add_user(db, "dave", "cardiac-team", "readers")
    assert group_names(user) == ["cardiac-team", "readers"]
    # As JupyterHub's DELETE /groups/{name} does: the user's loaded collection keeps the object.
    db.delete(db.query(orm.Group).filter_by(name="cardiac-team").one())
    db.commit()
    assert group_names(user) == ["readers"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("remove-member", True),
        ("add-member", True),
        ("delete-group", True),
        ("new-group", True),
        ("auth-state", True),
        ("delete-user", True),
        ("last-activity", False),
        ("admin-flag", False),
        ("nothing", False),
    ],
)
def test_which_flushes_may_change_claims(db: Session, change: str, expected: bool) -> None:
    user = add_user(db, "dave", "cardiac-team")
    other = add_user(db, "erin")
    group = db.query(orm.Group).filter_by(name="cardiac-team").one()
    seen: list[bool] = []

    class Registry:  # watch_hub_database holds bound methods weakly, as the registries are
        def changed(self) -> None:
            seen.append(True)

    registry = Registry()
    hub_claims.watch_hub_database(registry.changed)
    try:
        if change == "remove-member":
            group.users.remove(user)
        elif change == "add-member":
            group.users.append(other)
        elif change == "delete-group":
            db.delete(group)
        elif change == "new-group":
            db.add(orm.Group(name="new"))
        elif change == "auth-state":
            user.encrypted_auth_state = b"x"
        elif change == "delete-user":
            db.delete(user)
        elif change == "last-activity":
            user.last_activity = orm.utcnow()
        elif change == "admin-flag":
            user.admin = True
        if change != "nothing":
            assert claims_may_have_changed(db) is expected
        db.commit()
    finally:
        hub_claims.unwatch_hub_database(registry.changed)
    assert bool(seen) is expected
    # Unwatched: later flushes call nobody.
    seen.clear()
    db.add(orm.Group(name="after"))
    db.commit()
    assert seen == []


def test_a_registry_nobody_holds_is_dropped(db: Session) -> None:
    class Registry:
        def changed(self) -> None:
            raise AssertionError("a dead registry was called")

    hub_claims.watch_hub_database(Registry().changed)  # the registry is garbage at once
    db.add(orm.Group(name="g"))
    db.commit()  # no error, and the dead reference is gone
    assert all(ref() is not None for ref in hub_claims._callbacks)


async def test_sources_in_order_later_wins(db: Session) -> None:
    user = Hub(
        add_user(db, "dave", "cardiac-team"),
        auth_state={
            "oauth_user": {
                "groups": ["idp-group"],
                "department": "cardiology",
                "level": 3,
                "nested": {"a": 1},
            }
        },
    )

    async def hook(spawner: Any) -> dict[str, Any]:
        return {"site": "leeds", "department": None}

    claims = await user_claims(
        user, None, groups_claim="groups", auth_state_key="oauth_user", hook=hook
    )
    # The hub's groups win over the userinfo's; the hook removes department; nested is absent.
    assert claims == {"groups": ("cardiac-team",), "level": ("3",), "site": ("leeds",)}

    off = await user_claims(user, None, groups_claim="", auth_state_key="", hook=None)
    assert off == {}
    userinfo_groups = await user_claims(
        user, None, groups_claim="", auth_state_key="oauth_user", hook=None
    )
    assert userinfo_groups is not None and userinfo_groups["groups"] == ("idp-group",)


@pytest.mark.parametrize("bad", ["raises", "list", "none"])
async def test_a_broken_hook_means_no_claims(
    db: Session, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    user = Hub(add_user(db, "dave", "cardiac-team"))

    def hook(spawner: Any) -> Any:
        if bad == "raises":
            raise RuntimeError("directory down")
        return ["groups"] if bad == "list" else None

    with caplog.at_level(logging.ERROR):
        claims = await user_claims(
            user, None, groups_claim="groups", auth_state_key="oauth_user", hook=hook
        )
    assert claims is None  # fail closed: not the groups without the hook's word
    assert any("Cannot read the claims of dave" in r.getMessage() for r in caplog.records)


async def test_auth_state_that_is_not_a_dict_adds_nothing(db: Session) -> None:
    for state in (None, "token", {"oauth_user": "not-a-dict"}, {"other": {"x": 1}}):
        user = Hub(add_user(db, f"u{id(state)}", "g"), auth_state=state)
        claims = await user_claims(
            user, None, groups_claim="groups", auth_state_key="oauth_user", hook=None
        )
        assert claims == {"groups": ("g",)}


def test_the_check_never_loads_anything_inside_the_hubs_flush(tmp_path: Any) -> None:
    factory = orm.new_session_factory(f"sqlite:///{tmp_path}/hub.sqlite")
    setup = factory()
    add_user(setup, "dave", "cardiac-team")
    setup.close()
    db = factory()
    user = db.query(orm.User).filter_by(name="dave").one()  # groups not loaded
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0])

    class Registry:
        def changed(self) -> None:
            statements.append("CHANGED")

    registry = Registry()
    hub_claims.watch_hub_database(registry.changed)
    event.listen(db.get_bind(), "before_cursor_execute", record)
    try:
        user.last_activity = orm.utcnow()
        db.commit()
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", record)
        hub_claims.unwatch_hub_database(registry.changed)
        db.close()
    assert statements == ["UPDATE"]  # no SELECT of the user's groups, no sweep
