"""WorkspaceSpawner's own settings, as traitlets, and their check when the hub starts.

``WorkspaceSettings`` is the spawner's mixin (``class WorkspaceSpawner(WorkspaceSettings,
KubeSpawner)``), on top of the admin policy's (``policy_settings``). Every setting is
``config=True`` with help, and a ``@validate`` turns a bad value into a TraitError whose message
starts with the setting's name: a time zone that is not an IANA zone, a template with an unknown
placeholder or one that does not give an absolute mount path or a valid PVC name for a sample
name, a capacity that is not a Kubernetes quantity, and so on. The rules live in the pure modules
(``storage``, ``access``, ``policy``).

JupyterHub builds a spawner only when a user's server is touched (or, at start, for servers that
were running), and has no hook through which a spawner class could check its settings at start.
So a bad value would surface at someone's first spawn. End ``jupyterhub_config.py`` with
``WorkspaceSpawner.validate_config(c)`` to fail at hub start instead: it builds the settings the
spawner would read from ``c``, checks them together (e.g. the templates' mount paths against the
admin policy), and raises TraitError naming the setting; a config file that raises stops the hub
(JupyterHub sets ``raise_config_file_errors``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from traitlets import Bool, Float, Integer, List, TraitError, Unicode, validate
from traitlets import Callable as CallableTrait
from traitlets.config import Config

from . import access, storage
from .environment import check_prefix
from .policy import AdminPolicy
from .policy_settings import AdminPolicySettings
from .profiles import folder_url, is_qualified_name

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class WorkspaceSettings(AdminPolicySettings):
    """What WorkspaceSpawner adds to KubeSpawner's settings (and the admin policy's)."""

    workspace_namespace = Unicode(
        "",
        config=True,
        help="Namespace of the AnalyticsWorkspace resources and bindings (default: the "
        "spawner's namespace).",
    )
    time_zone = Unicode("UTC", config=True, help="IANA time zone that decides what 'today' is.")
    case_sensitive_usernames = Bool(
        False,
        config=True,
        help="False (default): a binding belongs to the hub user whose name equals the "
        "authenticator's normalize_username(spec.username) (JupyterHub's default lowercases, so "
        "a binding to 'Alice' grants to hub user 'alice'). True: spec.username must equal the "
        "hub username exactly. Neither merges more names than the hub does.",
    )
    expiring_days = Integer(
        7, config=True, help="Highlight a workspace on the form when fewer days than this remain."
    )
    workspace_claim_prefix = Unicode(
        "workspace-",
        config=True,
        help="Prefix of a workspace PVC name when none is recorded (the PVC is this prefix + "
        "the workspace name, so prefix + name must be a valid PVC name).",
    )
    workspace_storage_class = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Storage class for new workspace PVCs (None: the cluster default; '': no class; a "
        "workspace's own storageClassName wins).",
    )
    workspace_access_modes = List(
        Unicode(),
        ["ReadWriteMany"],
        config=True,
        help="Access modes for new workspace PVCs: some of ReadWriteOnce, ReadOnlyMany, "
        "ReadWriteMany, or ReadWriteOncePod alone.",
    )
    workspace_capacity = Unicode(
        "10Gi", config=True, help="Size of new workspace PVCs: a Kubernetes quantity above zero."
    )
    workspace_mount_path_template = Unicode(
        "/home/jovyan/{workspace}",
        config=True,
        help="Where the workspace PVC is mounted: an absolute path; {workspace} (the only "
        "placeholder) is the workspace name.",
    )
    datasource_mount_template = Unicode(
        "/home/jovyan/data/{datasource}",
        config=True,
        help="Where each attached data source is mounted (always read-only): an absolute path "
        "using {datasource} (the data source's name) and optionally {workspace}. Default: the "
        "folder data/<data source> in JupyterLab's file browser (the home directory), outside "
        "the workspace's storage; a data source is never mounted inside writable storage.",
    )
    workspace_default_url = Unicode(
        "/lab/tree/{workspace}",
        config=True,
        help="Where a server opens when its workspace sets no defaultUri: a path on the "
        "user's server; {workspace} (the only placeholder) is the workspace name. Default: "
        "JupyterLab in the workspace's folder (as workspace_mount_path_template mounts it, "
        "relative to the home directory; change both together). Empty: KubeSpawner's "
        "default_url.",
    )
    environment_prefix = Unicode(
        "LSCSDE_",
        config=True,
        help="Prefix of the environment variables that describe the workspace to the server "
        "and its notebooks (<prefix>WORKSPACE, <prefix>WORKSPACE_DISPLAY_NAME, "
        "<prefix>WORKSPACE_EXPIRES, <prefix>WORKSPACE_PATH, <prefix>DATASOURCES, "
        "<prefix>DATASOURCE_PATHS and <prefix>DATASOURCE_<NAME>_PATH; see README): upper-case "
        "letters, digits and '_', ending in '_', outside JUPYTER*/JPY_. Empty: none are set.",
    )
    trusted_claim_selector = Unicode(
        "",
        config=True,
        help="An equality label selector (e.g. 'xlscsde.nhs.uk/shared-storage=true'; "
        "comma-separated terms, any of which suffices) marking existing PVCs that ANY "
        "workspace may mount as its storage. Empty (default): a PVC is mounted as a "
        "workspace's storage only when it carries xlscsde.nhs.uk/workspace=<workspace>. It "
        "never applies to data sources, whose PVCs must carry "
        "xlscsde.nhs.uk/datasource=<data source>.",
    )
    datasource_claim_template = Unicode(
        "datasource-{datasource}",
        config=True,
        help="PVC name of a data source without the claim annotation; {datasource} (the data "
        "source's name, the only placeholder) is required.",
    )
    datasource_claim_annotation = Unicode(
        "xlscsde.nhs.uk/persistent-volume-claim",
        config=True,
        help="Annotation on an AnalyticsDataSource naming its PVC (empty: none is read).",
    )
    keep_admin_volumes = Bool(
        True,
        config=True,
        help="Keep the admin's configured volumes (e.g. a z2jh home directory) beside the "
        "workspace storage.",
    )
    profile_hook = CallableTrait(
        None,
        allow_none=True,
        config=True,
        help="Callable(spawner, workspace, profile) -> profile | None, adjusting each "
        "workspace's profile (may be async). Returning None keeps the profile as it is.",
    )
    freeze_gc_after_sync = Bool(
        True,
        config=True,
        help="Call gc.freeze() once the workspace cache has first synced, so Python's full "
        "garbage collections no longer walk its objects (thousands of bindings live as long "
        "as the hub; without this each full collection stalls the hub's event loop for "
        "hundreds of milliseconds). Whatever cyclic garbage exists at that moment is kept.",
    )
    cache_sync_timeout = Float(
        30,
        config=True,
        help="Seconds a start waits for the workspace cache's first sync after the hub starts "
        "(then it is refused with a 503 asking to try again).",
    )
    groups_claim = Unicode(
        "groups",
        config=True,
        help="Claim name under which the user's JupyterHub group names appear to claim-based "
        "bindings (spec.claims). With Authenticator.manage_groups the groups mirror the "
        "identity provider's. Empty: hub groups are not claims. On a name clash with an "
        "auth_state claim, the hub's groups win.",
    )
    auth_state_claims = Unicode(
        "oauth_user",
        config=True,
        help="Key in the user's auth_state whose dict supplies more claims (OAuthenticator "
        "keeps the identity provider's userinfo under 'oauth_user'). Needs "
        "Authenticator.enable_auth_state; set Authenticator.refresh_pre_spawn so a start sees "
        "current claims. Empty: auth_state is not read.",
    )
    claims_hook = CallableTrait(
        None,
        allow_none=True,
        config=True,
        help="Callable(spawner) -> dict of claim name to value (a string, a number or a list), "
        "may be async, supplying or overriding the user's claims; a None value removes a "
        "claim. If it raises or returns something else, the user has no claims at all "
        "(claim-based bindings grant them nothing) and the hub log says why.",
    )
    allow_negative_only_claims = Bool(
        False,
        config=True,
        help="Let a binding with no username whose claims are all NOT EQUALS / NOT IN grant "
        "its workspace. False (default): such a binding grants nothing, because it would "
        "grant nearly everyone.",
    )
    no_workspaces_message = Unicode(
        "",
        config=True,
        help="Plain text shown on the spawn page when the user has no workspace today (escaped). "
        "Empty: the form template's own friendly message.",
    )

    # -- each setting on its own -----------------------------------------------------------

    @validate("workspace_namespace")
    def _valid_namespace(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and not (len(value) <= 63 and _DNS_LABEL.fullmatch(value)):
            raise TraitError(
                f"workspace_namespace: {value!r} is not a namespace name (a DNS-1123 label); "
                "empty means the spawner's namespace"
            )
        return value

    @validate("time_zone")
    def _valid_zone(self, proposal: Any) -> str:
        try:
            access.resolve_zone(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"time_zone: {exc}") from None
        return str(proposal["value"])

    @validate("expiring_days", "cache_sync_timeout")
    def _not_negative(self, proposal: Any) -> Any:
        value = proposal["value"]
        if not value >= 0:  # NaN too
            raise TraitError(f"{proposal['trait'].name}: {value!r} must not be negative")
        return value

    @validate("workspace_claim_prefix")
    def _valid_prefix(self, proposal: Any) -> str:
        prefix = str(proposal["value"])
        _checked(storage.check_claim_prefix, prefix, "workspace_claim_prefix")
        return prefix

    @validate("workspace_storage_class")
    def _valid_storage_class(self, proposal: Any) -> str | None:
        value = proposal["value"]
        if value and not (len(value) <= 253 and _DNS_SUBDOMAIN.fullmatch(value)):
            raise TraitError(
                f"workspace_storage_class: {value!r} is not a StorageClass name (None: the "
                "cluster default; '': no class)"
            )
        return None if value is None else str(value)

    @validate("workspace_access_modes")
    def _valid_access_modes(self, proposal: Any) -> list[str]:
        value = proposal["value"]
        _checked(storage.check_access_modes, value, "workspace_access_modes")
        return list(value)

    @validate("workspace_capacity")
    def _valid_capacity(self, proposal: Any) -> str:
        capacity = str(proposal["value"])
        _checked(storage.check_capacity, capacity, "workspace_capacity")
        return capacity

    @validate("workspace_mount_path_template")
    def _valid_mount_template(self, proposal: Any) -> str:
        template = str(proposal["value"])
        _checked(
            storage.check_mount_template, template, "workspace_mount_path_template", ("workspace",)
        )
        return template

    @validate("datasource_mount_template")
    def _valid_datasource_mount_template(self, proposal: Any) -> str:
        template = str(proposal["value"])
        _checked(
            storage.check_mount_template,
            template,
            "datasource_mount_template",
            ("workspace", "datasource"),
            required="datasource",
        )
        return template

    @validate("workspace_default_url")
    def _valid_default_url(self, proposal: Any) -> str:
        template = str(proposal["value"])
        _checked(
            lambda value, setting: folder_url(value, storage.SAMPLE_WORKSPACE, setting),
            template,
            "workspace_default_url",
        )
        return template

    @validate("environment_prefix")
    def _valid_environment_prefix(self, proposal: Any) -> str:
        prefix = str(proposal["value"])
        _checked(check_prefix, prefix, "environment_prefix")
        return prefix

    @validate("datasource_claim_template")
    def _valid_datasource_claim_template(self, proposal: Any) -> str:
        template = str(proposal["value"])
        _checked(
            storage.check_claim_template,
            template,
            "datasource_claim_template",
            ("datasource",),
            required="datasource",
        )
        return template

    @validate("datasource_claim_annotation")
    def _valid_annotation(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and not is_qualified_name(value):
            raise TraitError(
                f"datasource_claim_annotation: {value!r} is not an annotation key "
                "([prefix/]name); empty means none is read"
            )
        return value

    @validate("trusted_claim_selector")
    def _valid_selector(self, proposal: Any) -> str:
        try:
            storage.parse_selector(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"trusted_claim_selector: {exc}") from None
        return str(proposal["value"])

    @validate("groups_claim", "auth_state_claims")
    def _valid_claim_name(self, proposal: Any) -> str:
        name, value = proposal["trait"].name, str(proposal["value"])
        if value != value.strip() or any(unicodedata.category(c)[0] == "C" for c in value):
            raise TraitError(
                f"{name}: {value!r} has surrounding spaces or control characters, so it would "
                "never match; empty turns it off"
            )
        return value

    # -- together --------------------------------------------------------------------------

    def storage_settings(self) -> storage.StorageSettings:
        return storage.StorageSettings(
            claim_prefix=self.workspace_claim_prefix,
            storage_class=self.workspace_storage_class,
            access_modes=tuple(self.workspace_access_modes),
            capacity=self.workspace_capacity,
            mount_path_template=self.workspace_mount_path_template,
            datasource_mount_template=self.datasource_mount_template,
            trusted_claim_selector=storage.parse_selector(self.trusted_claim_selector),
            mount_policy=self.admin_policy(),
            datasource_claim_template=self.datasource_claim_template,
            datasource_claim_annotation=self.datasource_claim_annotation,
            keep_admin_volumes=self.keep_admin_volumes,
        )

    def check_together(self) -> None:
        """What no single setting's check sees: the mount paths the templates give must be
        allowed by the admin policy. TraitError naming the settings concerned."""
        try:
            storage.check_settings(self.storage_settings())
        except ValueError as exc:
            raise TraitError(str(exc)) from None

    @classmethod
    def validate_config(cls, config: Config) -> WorkspaceSettings:
        """The settings an instance of ``cls`` would read from ``config``, each validated and
        then checked together; a TraitError naming the bad setting otherwise. For the end of
        ``jupyterhub_config.py``, so a typo stops the hub at start. Call it on the spawner
        class: the sections read are that class's (``Spawner``, ``KubeSpawner``,
        ``WorkspaceSpawner``, ...), merged as traitlets merges them."""
        merged = Config()
        for section in cls.section_names():
            if config._has_section(section):
                merged.merge(config[section])
        names = set(WorkspaceSettings.class_traits(config=True))
        mine = {k: v for k, v in merged.items() if k in names}
        settings = _settings_named(cls.__name__)(config=Config({cls.__name__: mine}))
        settings.check_together()
        return settings

    @classmethod
    def validate_admin_policy(cls, config: Config) -> AdminPolicy:
        """``validate_config`` (every setting, not only the policy's), returning the policy."""
        return cls.validate_config(config).admin_policy()


@functools.cache
def _settings_named(name: str) -> type[WorkspaceSettings]:
    """Settings only, under the spawner class's name, so traitlets' own messages (e.g. "The
    'expiring_days' trait of a WorkspaceSpawner instance expected an int") name that class."""
    return type(name, (WorkspaceSettings,), {"__doc__": WorkspaceSettings.__doc__})


def _checked(check: Callable[..., object], value: Any, setting: str, *args: Any, **kw: Any) -> None:
    """``check(value, setting, ...)``, its ValueError (whose message names the setting) as the
    TraitError traitlets expects."""
    try:
        check(value, setting, *args, **kw)
    except ValueError as exc:
        raise TraitError(str(exc)) from None


__all__ = ["WorkspaceSettings"]
