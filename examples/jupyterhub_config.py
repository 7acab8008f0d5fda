# JupyterHub configuration for lscsde-spawner on a real Kubernetes cluster.
#
# Users see only the analytics workspaces they are granted today (AnalyticsWorkspaceBinding with
# their username), start one from the spawn form or the REST API, and get a pod with that
# workspace's image, resources, labels, tolerations, node selector and storage.
#
# Install the CRDs once:   lscsde-spawner crds | kubectl apply -f -
# The hub's service account needs: get/list/watch on analyticsworkspaces,
# analyticsworkspacebindings, analyticsdatasources, analyticsdatasourcebindings (xlscsde.nhs.uk);
# patch on analyticsworkspaces/status; get/list/watch/create on persistentvolumeclaims; create on
# events.k8s.io events; plus what KubeSpawner itself needs (pods, events).
#
# ruff: noqa: F821  (`c` is provided by JupyterHub when it loads this file)

# -- The spawner ------------------------------------------------------------------------------
c.JupyterHub.spawner_class = "lscsde"  # entry point for lscsde_spawner.spawner:WorkspaceSpawner

# Where the single-user pods and their PVCs go.
c.KubeSpawner.namespace = "jupyterhub"
# Where the workspace custom resources live (default: the namespace above).
c.WorkspaceSpawner.workspace_namespace = "jupyterhub"

# Defaults for anything a workspace does not set (a workspace's own values win).
c.KubeSpawner.image = "quay.io/jupyter/base-notebook:2024-05-01"
c.KubeSpawner.cpu_limit = 2.0
c.KubeSpawner.mem_limit = "4G"
c.KubeSpawner.start_timeout = 300

# -- Access policy ----------------------------------------------------------------------------
c.WorkspaceSpawner.time_zone = "Europe/London"  # what "today" means for validity and expiry
# A binding belongs to the hub user named authenticator.normalize_username(spec.username).
c.WorkspaceSpawner.case_sensitive_usernames = False
# Group grants: bindings with spec.claims. A user's claims are their JupyterHub groups (under
# "groups"), the auth_state userinfo OAuthenticator keeps under "oauth_user", and claims_hook.
c.WorkspaceSpawner.groups_claim = "groups"
c.WorkspaceSpawner.auth_state_claims = "oauth_user"  # needs c.Authenticator.enable_auth_state
c.WorkspaceSpawner.allow_negative_only_claims = False  # NOT EQUALS/NOT IN alone grants nothing
# c.Authenticator.manage_groups = True      # hub groups mirror the identity provider's
# c.Authenticator.refresh_pre_spawn = True  # a start sees current auth_state claims
c.WorkspaceSpawner.expiring_days = 7  # highlight workspaces expiring sooner than this
# Leave empty to use the form template's message; plain text (escaped) otherwise.
c.WorkspaceSpawner.no_workspaces_message = ""

# -- Storage ----------------------------------------------------------------------------------
# Workspace PVC name: spec.jupyterWorkspace.persistentVolumeClaim.name, else this prefix + the
# workspace name. Created when missing, labelled xlscsde.nhs.uk/workspace=<workspace>; an
# existing PVC is mounted only when it carries that label (or matches trusted_claim_selector).
c.WorkspaceSpawner.workspace_claim_prefix = "workspace-"
c.WorkspaceSpawner.workspace_storage_class = "azurefile-csi"  # None: the cluster default
c.WorkspaceSpawner.workspace_access_modes = ["ReadWriteMany"]
c.WorkspaceSpawner.workspace_capacity = "10Gi"
c.WorkspaceSpawner.workspace_mount_path_template = "/home/jovyan/{workspace}"
# Data sources bound to the workspace: their PVC is named by this annotation on the
# AnalyticsDataSource, else by the template; they must already exist.
c.WorkspaceSpawner.datasource_claim_annotation = "xlscsde.nhs.uk/persistent-volume-claim"
c.WorkspaceSpawner.datasource_claim_template = "datasource-{datasource}"
# Inside JupyterLab's root (the home directory), so the file browser shows the data sources under
# data/; never inside workspace storage (nothing is written to the workspace PVC).
c.WorkspaceSpawner.datasource_mount_template = "/home/jovyan/data/{datasource}"
# Data-source PVCs are always mounted read-only, and only when labelled
# xlscsde.nhs.uk/datasource=<data source>.
# PVCs (besides each workspace's own) that any workspace may mount, e.g. legacy shared storage:
c.WorkspaceSpawner.trusted_claim_selector = ""
# Keep volumes configured here (e.g. a z2jh per-user home directory) beside the workspace's.
c.WorkspaceSpawner.keep_admin_volumes = True

# -- Inside the server ------------------------------------------------------------------------
# JupyterLab opens in the workspace's folder unless the workspace sets its own defaultUri
# ("" falls back to c.KubeSpawner.default_url). Change it with workspace_mount_path_template.
c.WorkspaceSpawner.workspace_default_url = "/lab/tree/{workspace}"
# LSCSDE_WORKSPACE, LSCSDE_WORKSPACE_EXPIRES, LSCSDE_DATASOURCE_<NAME>_PATH, ... describe the
# workspace to notebooks (README: "Inside the server"); "" sets none.
c.WorkspaceSpawner.environment_prefix = "LSCSDE_"


# -- Admin policy: what a workspace author may ask for ------------------------------------------
# A workspace that asks for more is not offered, and a start of it gets a 403 naming the rule.
c.WorkspaceSpawner.allowed_toleration_keys = ["nvidia.com/gpu"]
c.WorkspaceSpawner.allow_wildcard_tolerations = False  # `operator: Exists` without a key
c.WorkspaceSpawner.allowed_node_selector_keys = [
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone",
    "nvidia.com/gpu.product",
]
c.WorkspaceSpawner.max_resources = {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "2"}
# System paths and the home root are refused as mount paths by default (see
# refused_mount_path_prefixes and refused_mount_paths); add your own with .append("/srv/x").


# -- Optional: adjust each workspace's profile ------------------------------------------------
def profile_hook(spawner, workspace, profile):
    """Called for every offered workspace; return a changed profile or None to keep it."""
    if workspace.name.startswith("gpu-"):
        profile["kubespawner_override"].setdefault("node_selector", {})["gpu"] = "true"
    return profile


c.WorkspaceSpawner.profile_hook = profile_hook

# -- Named servers: one server per workspace ---------------------------------------------------
# POST /hub/api/users/{name}/servers/{server} {"user_options": {"profile": "<workspace>"}}
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 5

# -- Authentication ---------------------------------------------------------------------------
# The authenticator goes here. Usernames must match AnalyticsWorkspaceBinding spec.username
# as the authenticator normalises them, e.g. with Entra ID / Azure AD:
# c.JupyterHub.authenticator_class = "azuread"
# c.AzureAdOAuthenticator.tenant_id = "..."
# c.AzureAdOAuthenticator.client_id = "..."
# c.AzureAdOAuthenticator.client_secret = "..."
# c.AzureAdOAuthenticator.oauth_callback_url = "https://jupyter.example.org/hub/oauth_callback"
# c.AzureAdOAuthenticator.username_claim = "upn"
# c.Authenticator.allow_all = True

# -- Optional: the workspaces service at /services/workspaces/ ------------------------------------
# Workspace admins (bindings annotated xlscsde.nhs.uk/access-level: admin) manage members,
# sessions and the audit trail there. Give it its own Role (examples/kubernetes/
# workspaces-service.yaml) and mount that account's token at token_dir. See README.md.
# from lscsde_spawner.service import configure as enable_workspaces_service
# enable_workspaces_service(c, token_dir="/var/run/secrets/workspaces")

# -- Last: check the settings now, so a typo stops the hub at start ----------------------------
# JupyterHub builds a spawner (and so checks its settings) only at a user's first start. This
# checks every WorkspaceSpawner setting above, and the templates against the admin policy, and
# raises an error naming the bad setting.
from lscsde_spawner.spawner import WorkspaceSpawner  # noqa: E402

# The hub's home page shows each running server's workspace and days left (JupyterHub's own page,
# extended; see README, "Inside the server").
WorkspaceSpawner.enable_home_page(c)
WorkspaceSpawner.validate_config(c)
