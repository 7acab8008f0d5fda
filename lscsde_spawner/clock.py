"""The hub's idea of "now", in one place, so a test can move it (midnight without waiting)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
