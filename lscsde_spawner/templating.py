"""Where the spawn form template (``form.html``) lives, and a Jinja environment like KubeSpawner's.

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
