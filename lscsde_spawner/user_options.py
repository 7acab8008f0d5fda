"""Which user_options a start may carry: only ``profile``, and a few KiB at most.

JupyterHub stores a start's options in its database before any spawner hook runs, so anything
else is refused (and the last accepted options put back) rather than kept.
"""

from __future__ import annotations

import json

#: The user_options a start may carry, and their largest JSON size.
USER_OPTION_KEYS = frozenset({"profile"})
USER_OPTIONS_MAX_BYTES = 4096


def options_problem(options: object) -> str | None:
    """Why these user_options are refused, or None when they are acceptable."""
    if not isinstance(options, dict):
        return "user_options must be an object"
    unknown = sorted(str(k)[:40] for k in options if k not in USER_OPTION_KEYS)
    if unknown:
        allowed = ", ".join(sorted(USER_OPTION_KEYS))
        return f"Unknown user_options {', '.join(map(repr, unknown[:5]))}: only {allowed} is used"
    try:
        size = len(json.dumps(options).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        return "user_options must be plain JSON"
    if size > USER_OPTIONS_MAX_BYTES:
        return f"user_options are {size} bytes; at most {USER_OPTIONS_MAX_BYTES} are accepted"
    return None


def options_ok(options: object) -> bool:
    return options_problem(options) is None
