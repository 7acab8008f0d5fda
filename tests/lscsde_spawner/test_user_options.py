"""Which user_options a start may carry (the pure rule; the hub tests drive it end to end)."""

from __future__ import annotations

import pytest

from lscsde_spawner.user_options import USER_OPTIONS_MAX_BYTES, options_ok, options_problem


@pytest.mark.parametrize("options", [{}, {"profile": "ws1"}, {"profile": ""}])
def test_accepted(options: dict[str, object]) -> None:
    assert options_problem(options) is None and options_ok(options)


@pytest.mark.parametrize(
    ("options", "text"),
    [
        (["ws1"], "must be an object"),
        (None, "must be an object"),
        ({"profile": "ws1", "image": "evil"}, "Unknown user_options 'image'"),
        ({"profile": "x" * USER_OPTIONS_MAX_BYTES}, f"at most {USER_OPTIONS_MAX_BYTES}"),
        ({"profile": {1, 2}}, "plain JSON"),
        ({"k" * 500: 1}, "Unknown user_options 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk'"),
    ],
)
def test_refused(options: object, text: str) -> None:
    problem = options_problem(options)
    assert problem is not None and text in problem
    assert len(problem) < 300  # a refusal never echoes the input back in full
