"""Who may use which workspace today: the access policy, as pure functions over parsed models.

The rule
    A user may use workspace W on day D when one of their AnalyticsWorkspaceBindings names W,
    W exists, parses and has ``jupyterWorkspace``, and
    ``W.validity.availableFrom <= D <= min(W.validity.expires, binding.expires)``.
    Every bound is a whole, inclusive day: a grant whose ``expires`` is D is usable until the end
    of D. Several bindings of one user to one workspace: the latest expiry wins.

Whose binding
    A binding with ``spec.username`` belongs to the hub user whose name equals the hub's own
    normalisation of it, ``normalize(spec.username) == username`` (``normalize`` is the
    authenticator's ``normalize_username``; see ``usernames``). Nothing merges more names than the
    hub does. Labels never decide anything. An empty hub name is nobody.
    A binding with ``spec.claims`` applies to a user for whom every claim holds (see ``claims``);
    with ``username`` as well, both must hold. A binding of only negative claims and no username
    applies to nobody unless ``allow_negative_only``. A binding with an unknown operator applies
    to nobody; it is reported as ``malformed`` to the user it names (by username, or, claim-only,
    when it has a positive claim and all its well-formed claims hold for them).

Which day is "today"
    The calendar date in one configurable IANA time zone (default UTC), computed by
    ``today_in(zone)`` with ``zoneinfo``. Callers compute it once and pass it to ``decide`` and
    ``attached_datasources``, so one decision never straddles midnight.

What is reported
    ``AccessDecision.excluded`` explains why a workspace that one of *this user's* bindings names
    is not offered; bindings of other users never appear (that would leak who has what). A
    workspace that is permitted never appears in ``excluded``: an expired or broken duplicate
    binding beside a valid one is not news to the user. For a workspace that is not permitted the
    deciding binding (latest expiry) gives one reason, checked in this order:
    ``malformed`` (the workspace did not parse; fail closed, even if a stale parsed copy is also
    passed), ``workspace-missing``, ``not-a-jupyter-workspace``, ``workspace-expired``,
    ``expired`` (the grant), ``not-yet-available``.
    This user's bindings that did not parse are reported as ``malformed`` when their raw
    ``spec.username`` could be read (``ParseError.username``); one that cannot be attributed to
    anyone is not reported here (the cache logs it). A bad object only ever affects itself.

Access levels
    Each binding has a level (``levels``: ``viewer``, ``member`` by default, ``admin``), read
    from its ``xlscsde.nhs.uk/access-level`` annotation. A permitted workspace carries the
    highest level among the bindings that grant it today. A binding with an unknown level
    grants nothing; it is reported as ``malformed`` exactly as a broken claim operator is.

Running servers
    ``grant_ended`` applies the same rule to a server that is already running: it may go on
    while its workspace is granted today and every data source it mounts is still attached,
    and, when it mounts the workspace's storage writable, while its level still allows that
    (a member made a viewer is stopped; a viewer made a member keeps running read-only until
    they restart).

Cost
    ``decide`` is O((bindings passed) x (their claims) + malformed passed + this user's
    bindings x log), plus
    O(workspaces) only when workspaces come as an iterable rather than a name -> workspace mapping.
    No I/O, no clock reads (except ``today_in`` when ``now`` is not given).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import claims as claim_rules
from . import levels
from .claims import UserClaims
from .levels import AccessLevel
from .models import (
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    ParseError,
)
from .usernames import Normalize, hub_default, owner

ExclusionReason = Literal[
    "expired",
    "not-yet-available",
    "workspace-missing",
    "workspace-expired",
    "malformed",
    "not-a-jupyter-workspace",
]
DataSourceExclusionReason = Literal["expired", "datasource-missing", "malformed"]


@dataclass(frozen=True)
class PermittedWorkspace:
    workspace: AnalyticsWorkspace
    expires: date  # min(workspace.validity.expires, latest binding expiry)
    days_left: int  # (expires - today).days; 0 on the last day
    bindings: tuple[str, ...]  # the granting bindings, latest expiry first, then by name
    # How a claim-only binding grants it ("group cardiac-team"); None when a binding that
    # names the user by username grants it (then it is theirs, whatever their groups).
    via: str | None = None
    # The highest level of the granting bindings (see ``levels``).
    access_level: AccessLevel = "member"

    @property
    def name(self) -> str:
        return self.workspace.name


@dataclass(frozen=True)
class Exclusion:
    binding: str
    workspace: str  # "" when a malformed binding's workspace could not be read
    reason: ExclusionReason
    detail: str


@dataclass(frozen=True)
class AccessDecision:
    username: str  # as given to decide(), not normalised
    today: date
    permitted: tuple[PermittedWorkspace, ...]  # displayName (casefolded), then name
    excluded: tuple[Exclusion, ...]  # by workspace; valid bindings' reasons before malformed ones
    _permitted: dict[str, PermittedWorkspace] = field(init=False, repr=False, compare=False)
    _excluded: dict[str, Exclusion] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Indexes for O(1) lookups at spawn time; frozen, so set through object.
        object.__setattr__(self, "_permitted", {p.workspace.name: p for p in self.permitted})
        first: dict[str, Exclusion] = {}
        for ex in self.excluded:
            first.setdefault(ex.workspace, ex)
        object.__setattr__(self, "_excluded", first)

    def get(self, workspace_name: str) -> PermittedWorkspace | None:
        """The grant for ``workspace_name`` today, or None when it is not permitted."""
        return self._permitted.get(workspace_name)

    def reason_for(self, workspace_name: str) -> Exclusion | None:
        """Why this user's binding to ``workspace_name`` does not grant it today; None when the
        workspace is permitted or when this user has no binding that names it."""
        return self._excluded.get(workspace_name)


@dataclass(frozen=True)
class DataSourceExclusion:
    binding: str
    datasource: str
    reason: DataSourceExclusionReason
    detail: str


def resolve_zone(tz: str | tzinfo) -> tzinfo:
    """An IANA zone name (or a tzinfo) as a tzinfo; ValueError naming the zone if unknown."""
    if not isinstance(tz, str):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"{tz!r} is not a known IANA time zone") from err


def today_in(tz: str | tzinfo = "UTC", now: datetime | None = None) -> date:
    """The calendar date in zone ``tz`` at ``now`` (default: the current time). A naive ``now``
    is taken to be UTC."""
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(resolve_zone(tz)).date()


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _by_name(items: Iterable[N] | Mapping[str, N]) -> Mapping[str, N]:
    # The cache already holds name -> object maps; reuse them instead of rebuilding per call.
    if isinstance(items, Mapping):
        return items
    return {item.name: item for item in items}


def _latest_first(binding: AnalyticsWorkspaceBinding) -> tuple[int, str]:
    return (-binding.spec.expires.toordinal(), binding.name)


def _judge(
    ws_name: str,
    winner: AnalyticsWorkspaceBinding,
    workspace: AnalyticsWorkspace | None,
    workspace_error: ParseError | None,
    today: date,
) -> Exclusion | None:
    """Why the deciding binding does not grant ``ws_name`` today, or None when it does."""

    def exclude(reason: ExclusionReason, detail: str) -> Exclusion:
        return Exclusion(winner.name, ws_name, reason, detail)

    if workspace_error is not None:
        return exclude("malformed", str(workspace_error))
    if workspace is None:
        return exclude("workspace-missing", f"workspace {ws_name!r} does not exist")
    if workspace.spec.jupyter_workspace is None:
        return exclude(
            "not-a-jupyter-workspace",
            f"workspace {ws_name!r} is a virtual-machine workspace, not a Jupyter workspace",
        )
    validity = workspace.spec.validity
    grant_ends = winner.spec.expires
    if today > validity.expires:
        return exclude(
            "workspace-expired",
            f"workspace {ws_name!r} expired: its last day was {validity.expires}",
        )
    if today > grant_ends:
        return exclude(
            "expired", f"access to workspace {ws_name!r} expired: its last day was {grant_ends}"
        )
    if today < validity.available_from:
        detail = f"workspace {ws_name!r} is available from {validity.available_from}"
        if grant_ends < validity.available_from:
            detail += f", but this grant ends on {grant_ends}, before then"
        return exclude("not-yet-available", detail)
    return None


def applies(
    binding: AnalyticsWorkspaceBinding,
    user: str,
    claims: UserClaims,
    *,
    normalize: Normalize = hub_default,
    allow_negative_only: bool = False,
) -> bool | Literal["malformed"]:
    """Whether ``binding`` is one of hub user ``user``'s grants (before dates and workspace
    checks); "malformed" when its claims or its access level are broken and it names this user
    (see module)."""
    verdict = _applies(
        binding, user, claims, normalize=normalize, allow_negative_only=allow_negative_only
    )
    if verdict is True and levels.problem(binding.metadata.annotations) is not None:
        return "malformed"  # an unknown level grants nothing: fail closed, and say so
    return verdict


def _applies(
    binding: AnalyticsWorkspaceBinding,
    user: str,
    claims: UserClaims,
    *,
    normalize: Normalize,
    allow_negative_only: bool,
) -> bool | Literal["malformed"]:
    spec = binding.spec
    has_username = bool(spec.username)
    if has_username and owner(spec.username, normalize) != user:
        return False
    if not spec.claims:
        return has_username
    if claim_rules.problem(spec.claims) is not None:
        if has_username:
            return "malformed"
        known = [c for c in spec.claims if c.operator in claim_rules.OPERATORS]
        named = claim_rules.index_keys(known) and claim_rules.holds_all(known, claims)
        return "malformed" if named else False
    return claim_rules.grants(
        spec.claims, claims, has_username=has_username, allow_negative_only=allow_negative_only
    )


def binding_problem(binding: AnalyticsWorkspaceBinding) -> str | None:
    """Why a parsed binding grants nothing whatever the dates: a broken claim operator or an
    unknown access level; None when neither."""
    return claim_rules.problem(binding.spec.claims) or levels.problem(binding.metadata.annotations)


def claims_error(binding: AnalyticsWorkspaceBinding) -> ParseError:
    """A binding with a broken claim or access level, as the ParseError that reports it."""
    return ParseError(
        binding.KIND,
        binding.metadata.namespace,
        binding.name,
        binding_problem(binding) or "",
        username=binding.spec.username,
        workspace=binding.spec.workspace,
    )


def _via(granting: list[AnalyticsWorkspaceBinding], have: UserClaims, groups: str) -> str | None:
    if not granting or any(b.spec.username for b in granting):
        return None
    return "via " + claim_rules.describe(granting[0].spec.claims, have, groups)


def decide(
    workspaces: Iterable[AnalyticsWorkspace] | Mapping[str, AnalyticsWorkspace],
    bindings: Iterable[AnalyticsWorkspaceBinding],
    username: str,
    today: date,
    *,
    normalize: Normalize = hub_default,
    malformed: Iterable[ParseError] = (),
    claims: UserClaims | None = None,
    allow_negative_only: bool = False,
    groups_claim: str = "groups",
) -> AccessDecision:
    """Which workspaces the hub user ``username`` may use on ``today``, and why their other
    bindings do not count. ``workspaces`` may be an iterable or a name -> workspace mapping;
    ``bindings`` may be everyone's (others' are ignored) or this user's; ``malformed`` may hold
    every ParseError; ``normalize`` is the hub's username normalisation; ``claims`` are the
    user's claims (None: none, so claim-only bindings grant nothing); ``groups_claim`` only
    words ``PermittedWorkspace.via``."""
    user = username if username.strip() else ""  # a blank name is nobody
    by_name = _by_name(workspaces)

    bad_workspaces: dict[str, ParseError] = {}
    bad_bindings: list[ParseError] = []
    for err in malformed:
        if err.kind == AnalyticsWorkspace.KIND:
            bad_workspaces[err.name] = err
        elif (
            err.kind == AnalyticsWorkspaceBinding.KIND
            # Only a binding whose raw username can be read and is this user's is reported.
            and user
            and owner(err.username, normalize) == user
        ):
            bad_bindings.append(err)

    have: UserClaims = claims if claims is not None else {}
    mine: dict[str, list[AnalyticsWorkspaceBinding]] = {}
    if user:  # an empty name is nobody, even against a binding whose username is blank
        for binding in bindings:
            verdict = applies(
                binding, user, have, normalize=normalize, allow_negative_only=allow_negative_only
            )
            if verdict is True:
                mine.setdefault(binding.spec.workspace, []).append(binding)
            elif verdict == "malformed":
                bad_bindings.append(claims_error(binding))

    permitted: list[PermittedWorkspace] = []
    excluded: list[tuple[str, int, str, Exclusion]] = []
    for ws_name, group in mine.items():
        group.sort(key=_latest_first)
        winner = group[0]
        workspace = by_name.get(ws_name)
        exclusion = _judge(ws_name, winner, workspace, bad_workspaces.get(ws_name), today)
        if exclusion is not None:
            excluded.append((ws_name, 0, winner.name, exclusion))
            continue
        assert workspace is not None  # _judge excludes a missing workspace
        expires = min(workspace.spec.validity.expires, winner.spec.expires)
        # Workspace conditions hold for all of them, so every unexpired one grants.
        granting = [b for b in group if b.spec.expires >= today]
        permitted.append(
            PermittedWorkspace(
                workspace=workspace,
                expires=expires,
                days_left=(expires - today).days,
                bindings=tuple(b.name for b in granting),
                via=_via(granting, have, groups_claim),
                access_level=levels.highest(_level(b) for b in granting),
            )
        )

    permitted_names = {p.workspace.name for p in permitted}
    for err in bad_bindings:
        ws_name = err.workspace or ""
        if ws_name in permitted_names:
            continue
        excluded.append((ws_name, 1, err.name, Exclusion(err.name, ws_name, "malformed", str(err))))

    permitted.sort(key=lambda p: (p.workspace.spec.display_name.casefold(), p.workspace.name))
    excluded.sort(key=lambda row: row[:3])
    return AccessDecision(
        username=username,
        today=today,
        permitted=tuple(permitted),
        excluded=tuple(row[3] for row in excluded),
    )


def _level(binding: AnalyticsWorkspaceBinding) -> AccessLevel:
    # A granting binding's level is known: one with an unknown level never grants.
    return levels.level_of(binding.metadata.annotations) or levels.DEFAULT


def attached_datasources(
    workspace: str,
    datasource_bindings: Iterable[AnalyticsDataSourceBinding],
    datasources: Iterable[AnalyticsDataSource] | Mapping[str, AnalyticsDataSource],
    today: date,
    *,
    malformed: Iterable[ParseError] = (),
) -> tuple[list[AnalyticsDataSource], list[DataSourceExclusion]]:
    """The data sources attached to ``workspace`` on ``today`` (sorted by name, each once), and
    why its other data-source bindings attach nothing. A binding attaches when it names this
    workspace, its data source exists (and did not fail to parse: fail closed), and its
    ``expires`` is absent or >= today. Bindings for other workspaces are ignored."""
    by_name = _by_name(datasources)
    bad = {err.name: err for err in malformed if err.kind == AnalyticsDataSource.KIND}

    groups: dict[str, list[AnalyticsDataSourceBinding]] = {}
    for binding in datasource_bindings:
        if binding.spec.workspace == workspace:
            groups.setdefault(binding.spec.datasource, []).append(binding)

    attached: list[AnalyticsDataSource] = []
    excluded: list[DataSourceExclusion] = []
    for ds_name, group in groups.items():
        live = sorted(b.name for b in group if b.spec.expires is None or b.spec.expires >= today)
        if not live:
            # All expired (expires is set on each): report the one that lasted longest.
            last = max(group, key=lambda b: (b.spec.expires or date.max, b.name))
            excluded.append(
                DataSourceExclusion(
                    last.name,
                    ds_name,
                    "expired",
                    f"access to data source {ds_name!r} expired: its last day was "
                    f"{last.spec.expires}",
                )
            )
        elif ds_name in bad:
            excluded.append(DataSourceExclusion(live[0], ds_name, "malformed", str(bad[ds_name])))
        elif (datasource := by_name.get(ds_name)) is None:
            excluded.append(
                DataSourceExclusion(
                    live[0],
                    ds_name,
                    "datasource-missing",
                    f"data source {ds_name!r} does not exist",
                )
            )
        else:
            attached.append(datasource)

    attached.sort(key=lambda ds: ds.name)
    excluded.sort(key=lambda ex: (ex.datasource, ex.binding))
    return attached, excluded


def grant_ended(
    workspace: str,
    mounted: Iterable[str] | None,
    workspaces: Iterable[AnalyticsWorkspace] | Mapping[str, AnalyticsWorkspace],
    bindings: Iterable[AnalyticsWorkspaceBinding],
    datasource_bindings: Iterable[AnalyticsDataSourceBinding],
    datasources: Iterable[AnalyticsDataSource] | Mapping[str, AnalyticsDataSource],
    username: str,
    today: date,
    *,
    normalize: Normalize = hub_default,
    malformed: Iterable[ParseError] = (),
    claims: UserClaims | None = None,
    allow_negative_only: bool = False,
    writable: bool | None = None,
) -> str | None:
    """Why a running server of ``username`` in ``workspace``, mounting the data sources
    ``mounted`` (None: not known) and the workspace's storage ``writable`` (None: not known),
    may no longer run on ``today``; None while its grant holds. The same rule as a start: the
    grant (with the user's claims now), every mounted data source still attached, and a
    writable mount only while the level allows one."""
    bad = list(malformed)
    decision = decide(
        workspaces, bindings, username, today, normalize=normalize, malformed=bad,
        claims=claims, allow_negative_only=allow_negative_only,
    )  # fmt: skip
    grant = decision.get(workspace)
    if grant is None:
        why = decision.reason_for(workspace)
        if why is not None:
            return why.detail
        return f"workspace {workspace!r} is no longer granted to them"
    if writable and not levels.writable(grant.access_level):
        return (
            f"their access to workspace {workspace!r} is now {grant.access_level}: its storage "
            "must be mounted read-only"
        )
    if mounted is None:
        return None  # a pod from before mounts were recorded: the workspace's grant decides
    attached, _ = attached_datasources(
        workspace, datasource_bindings, datasources, today, malformed=bad
    )
    gone = sorted(set(mounted) - {d.name for d in attached})
    if gone:
        return f"data source(s) {', '.join(gone)} no longer attached to it"
    return None
