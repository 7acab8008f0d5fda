"""What the server's environment says about its workspace: pure functions, no I/O.

A notebook or an extension reads these to find its workspace and data without knowing where they
are mounted. With the default prefix ``LSCSDE_``:

    LSCSDE_WORKSPACE                 the workspace's name (``metadata.name``)
    LSCSDE_WORKSPACE_DISPLAY_NAME    its display name (the name when it has none)
    LSCSDE_WORKSPACE_EXPIRES         the last day of this grant, an ISO date (inclusive, in the
                                     hub's ``time_zone``): the server is stopped after it
    LSCSDE_WORKSPACE_PATH            where the workspace's storage is mounted
    LSCSDE_DATASOURCES               the attached data sources' names, comma-separated, sorted
                                     ("" when none)
    LSCSDE_DATASOURCE_PATHS          a JSON object: data source name -> mount path
    LSCSDE_DATASOURCE_<NAME>_PATH    one per data source: the name upper-cased, every character
                                     other than A-Z and 0-9 as ``_`` (``hospital-episodes`` ->
                                     ``LSCSDE_DATASOURCE_HOSPITAL_EPISODES_PATH``)

Values come from custom resources, so they are untrusted:
- Names are fixed patterns: only the ``<NAME>`` part comes from an object, and it is reduced to
  ``[A-Z0-9_]``, so no object can name ``JUPYTERHUB_*`` or any variable outside these patterns.
  Two data sources whose names reduce alike (``a-b`` and ``a.b``) both go without a
  ``..._PATH`` variable (neither may take the other's); ``LSCSDE_DATASOURCE_PATHS`` names both.
- Values are plain text: control, format and line-separator characters in the display name
  become spaces and it is cut to ``MAX_TEXT`` characters. ``for_pod`` doubles every ``$``, so the
  kubelet's ``$(VAR)`` expansion gives the value back as written instead of another variable.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date

DEFAULT_PREFIX = "LSCSDE_"
MAX_TEXT = 256
# Upper-case, ending in "_", and not in JupyterHub's or Jupyter's own namespaces.
_PREFIX = re.compile(r"[A-Z][A-Z0-9_]*_")
RESERVED_PREFIXES = ("JUPYTER", "JPY_")
_SPACES = re.compile(r"\s+")


def check_prefix(prefix: str, setting: str = "environment_prefix") -> str:
    """``prefix`` when it is empty or a valid prefix; ValueError naming ``setting`` otherwise."""
    if prefix == "":
        return prefix
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"{setting}: {prefix!r} must be upper-case letters, digits and '_', starting with "
            "a letter and ending in '_' (empty: no variables)"
        )
    if prefix.startswith(RESERVED_PREFIXES):
        raise ValueError(
            f"{setting}: {prefix!r} is in JupyterHub's or Jupyter's own namespace "
            f"({', '.join(p + '*' for p in RESERVED_PREFIXES)}); choose another prefix"
        )
    return prefix


def env_key(name: str) -> str:
    """``name`` as part of a variable name: ASCII letters upper-cased, digits kept, every other
    character ``_``."""
    return "".join(c.upper() if c.isascii() and c.isalnum() else "_" for c in name)


def plain_text(value: str, limit: int = MAX_TEXT) -> str:
    """One line of visible text: control, format, surrogate, private-use, unassigned and
    line/paragraph-separator characters become spaces; runs of spaces one; trimmed; at most
    ``limit`` characters."""
    visible = "".join(
        " " if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") else c
        for c in value
    )
    return _SPACES.sub(" ", visible).strip()[:limit].rstrip()


def workspace_environment(
    *,
    workspace: str,
    display_name: str,
    expires: date,
    workspace_path: str,
    datasources: Iterable[tuple[str, str]] = (),
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, str]:
    """The variables describing a workspace (``datasources``: (name, mount path) pairs). Empty
    when ``prefix`` is empty."""
    if not prefix:
        return {}
    paths: dict[str, str] = {}
    for name, path in datasources:
        paths.setdefault(name, path)  # the first mount of a name, as the storage plan has it
    names = sorted(paths)
    env = {
        f"{prefix}WORKSPACE": workspace,
        f"{prefix}WORKSPACE_DISPLAY_NAME": plain_text(display_name) or workspace,
        f"{prefix}WORKSPACE_EXPIRES": expires.isoformat(),
        f"{prefix}WORKSPACE_PATH": workspace_path,
        f"{prefix}DATASOURCES": ",".join(names),
        f"{prefix}DATASOURCE_PATHS": json.dumps({n: paths[n] for n in names}, ensure_ascii=True),
    }
    keys: dict[str, list[str]] = {}
    for name in names:
        keys.setdefault(env_key(name), []).append(name)
    for key, owners in keys.items():
        if len(owners) == 1 and key.strip("_"):
            env[f"{prefix}DATASOURCE_{key}_PATH"] = paths[owners[0]]
    return env


def for_pod(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` as container ``env`` values: every ``$`` doubled, so Kubernetes' ``$(VAR)``
    expansion leaves the text as it was (``$$`` is a literal ``$``)."""
    return {name: value.replace("$", "$$") for name, value in env.items()}


__all__ = [
    "DEFAULT_PREFIX",
    "check_prefix",
    "env_key",
    "for_pod",
    "plain_text",
    "workspace_environment",
]
