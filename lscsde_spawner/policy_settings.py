"""The admin policy as traitlets: ``c.WorkspaceSpawner.allowed_toleration_keys = [...]``.

``AdminPolicySettings`` is a mixin for the spawner (``class WorkspaceSpawner(AdminPolicySettings,
KubeSpawner)``): every setting is ``config=True`` with help, and a ``@validate`` turns a bad
value into a TraitError naming the setting. The rules themselves live in ``policy``.

JupyterHub builds a spawner only when a user's server is touched (or, at start, for servers
that were running), so a bad value would otherwise surface at the first spawn. To fail at hub
start instead, end ``jupyterhub_config.py`` with ``WorkspaceSpawner.validate_config(c)`` (see
``settings``), which checks these settings with the spawner's others.
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Dict, Float, Integer, List, TraitError, Unicode, Union, validate
from traitlets.config import Config, LoggingConfigurable

from .policy import AdminPolicy

_DEFAULTS = AdminPolicy()

#: Every setting of the policy (each an AdminPolicy field of the same name).
POLICY_SETTINGS = (
    "allowed_toleration_keys",
    "allowed_toleration_effects",
    "allow_wildcard_tolerations",
    "allowed_node_selector_keys",
    "max_resources",
    "refused_mount_path_prefixes",
    "refused_mount_paths",
)


class AdminPolicySettings(LoggingConfigurable):
    """What a workspace may ask for, as configured by the admin (see ``policy``)."""

    allowed_toleration_keys = List(
        Unicode(),
        list(_DEFAULTS.allowed_toleration_keys),
        config=True,
        help="""Taint keys a workspace may tolerate (exact Kubernetes label keys). A toleration
        of any other key makes the workspace unavailable. Default: only nvidia.com/gpu, so GPU
        workspaces reach GPU nodes and nothing else reaches tainted (e.g. control-plane or
        dedicated) nodes.""",
    )
    allowed_toleration_effects = List(
        Unicode(),
        list(_DEFAULTS.allowed_toleration_effects),
        config=True,
        help="""Taint effects a workspace may tolerate: some of NoSchedule, PreferNoSchedule,
        NoExecute (default: all three; the key list is the real bound). A toleration with no
        effect tolerates every effect, so it is allowed only when all three are listed.""",
    )
    allow_wildcard_tolerations = Bool(
        False,
        config=True,
        help="""Allow a toleration with operator Exists and no key, which tolerates every taint
        in the cluster (control-plane and dedicated nodes included). Refused by default.""",
    )
    allowed_node_selector_keys = List(
        Unicode(),
        list(_DEFAULTS.allowed_node_selector_keys),
        config=True,
        help="""Node labels a workspace's nodeSelector may use. Default: labels that choose a
        kind of machine (instance type, zone, region, architecture, GPU product, accelerator).
        Not kubernetes.io/hostname (one chosen node) nor node-role.kubernetes.io/* (the control
        plane): a workspace author must not pick where it runs beyond that.""",
    )
    max_resources = Dict(
        value_trait=Union([Unicode(), Integer(), Float()]),
        key_trait=Unicode(),
        default_value=dict(_DEFAULTS.max_resources),
        config=True,
        help="""The most a workspace may request or limit, per resource: resource name ->
        Kubernetes quantity (e.g. {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "2"}). A
        resource not named here is refused (fail closed), so a new extended resource must be
        added before a workspace can ask for it. Every value must be greater than zero.""",
    )
    refused_mount_path_prefixes = List(
        Unicode(),
        list(_DEFAULTS.refused_mount_path_prefixes),
        config=True,
        help="""Directories where workspace storage is never mounted: neither at them, below
        them, nor above them (a mount above would hide them). Default: the image's system
        directories (/bin, /etc, /usr, /var, /opt, ...), where writable storage could replace
        programs or configuration. Paths are compared after normalisation.""",
    )
    refused_mount_paths = List(
        Unicode(),
        list(_DEFAULTS.refused_mount_paths),
        config=True,
        help="""Exact paths where workspace storage is never mounted; paths below them are
        fine. Default: /, /home, /home/jovyan, /tmp and /data, whose contents (the home
        directory with the data sources' folder, or data sources an older template mounts
        under /data) a mount there would hide; /home/jovyan/<workspace> stays available.
        Storage nested with a data source's mount is refused in any case.""",
    )

    @validate(*POLICY_SETTINGS)
    def _validate_policy_setting(self, proposal: Any) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        try:
            checked = AdminPolicy(**{name: value})
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        # The normalised value (paths), in the trait's own container type.
        result = getattr(checked, name)
        return type(value)(result) if isinstance(value, list | dict) else result

    def admin_policy(self) -> AdminPolicy:
        """The configured policy (each setting already validated)."""
        return AdminPolicy(**{name: getattr(self, name) for name in POLICY_SETTINGS})

    @classmethod
    def validate_admin_policy(cls, config: Config) -> AdminPolicy:
        """The policy an instance of ``cls`` would read from ``config``, or a TraitError naming
        the bad setting. For the end of ``jupyterhub_config.py``, so a typo stops the hub.
        Call it on the spawner class: the sections read are that class's (e.g.
        ``Spawner``, ``KubeSpawner``, ``WorkspaceSpawner``), merged as traitlets does."""
        merged = Config()
        for section in cls.section_names():
            if config._has_section(section):
                merged.merge(config[section])
        mine = {k: v for k, v in merged.items() if k in POLICY_SETTINGS}
        return AdminPolicySettings(config=Config({"AdminPolicySettings": mine})).admin_policy()


__all__ = ["POLICY_SETTINGS", "AdminPolicySettings"]
