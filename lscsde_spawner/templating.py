"""Where the spawn form template (``form.html``) lives, and a Jinja environment like KubeSpawner's;
where the hub page templates live (``hub/``: the home page and the running-servers partial).

The template is kept at the repository's top level in ``templates/``. A built wheel ships it
inside the package as ``lscsde_spawner/templates/`` (hatch ``force-include`` in pyproject.toml);
an editable install has no such directory, so the repository's ``templates/`` is used instead.

Admins override the form the KubeSpawner way: a directory holding their own ``form.html`` in
``additional_profile_form_template_paths`` is searched before :data:`TEMPLATE_DIR`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader

FORM_TEMPLATE = "form.html"


def _template_dir() -> Path:
    here = Path(__file__).resolve().parent
    installed = here / "templates"  # a wheel install (force-include)
    if (installed / FORM_TEMPLATE).is_file():
        return installed
    return here.parent / "templates"  # an editable install or a source checkout


TEMPLATE_DIR: str = str(_template_dir())
#: JupyterHub page templates (``c.JupyterHub.template_paths``): ``home.html`` extends the hub's
#: own and includes ``RUNNING_TEMPLATE``, which the spawn page renders too.
HUB_TEMPLATE_DIR: str = str(Path(TEMPLATE_DIR) / "hub")
RUNNING_TEMPLATE = "lscsde-running.html"


def form_environment(additional_paths: Iterable[str] = ()) -> Environment:
    """A Jinja environment configured as KubeSpawner 7.1's ``_render_options_form`` builds it:
    a ChoiceLoader over ``additional_paths`` (the admin's override directories), then
    :data:`TEMPLATE_DIR`; autoescape off (the template escapes every value itself); ``tojson``
    keeps dict order."""
    loader = ChoiceLoader(
        [FileSystemLoader(list(additional_paths)), FileSystemLoader(TEMPLATE_DIR)]
    )
    env = Environment(loader=loader)
    env.policies["json.dumps_kwargs"] = {"sort_keys": False}
    return env


def hub_environment(additional_paths: Iterable[str] = ()) -> Environment:
    """A Jinja environment for the hub page partials: ``additional_paths`` (the admin's override
    directories) before :data:`HUB_TEMPLATE_DIR`, autoescape on (as JupyterHub's own)."""
    loader = ChoiceLoader(
        [FileSystemLoader(list(additional_paths)), FileSystemLoader(HUB_TEMPLATE_DIR)]
    )
    return Environment(loader=loader, autoescape=True)
