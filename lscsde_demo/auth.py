"""The demo's authenticator: a fixed list of users sharing one password.

JupyterHub's DummyAuthenticator and SharedPasswordAuthenticator refuse or warn about a short
shared password; the demo wants the memorable ``demo``, so it brings its own few lines.
"""

from __future__ import annotations

import hmac
from typing import Any

from jupyterhub.auth import Authenticator
from traitlets import Unicode, default

from .sample import PASSWORD, USERS


# JupyterHub ships no type information (mypy sees Authenticator as Any), hence the ignore.
class DemoAuthenticator(Authenticator):  # type: ignore[misc]
    """Accepts the allowed users (alice, bob, carol, dave) with one shared password. Demo only.

    It manages no groups: the hub config loads the demo's groups (dave's ``cardiac-team``)."""

    password = Unicode(PASSWORD, config=True, help="The password every demo user logs in with.")

    @default("allowed_users")
    def _allowed_users_default(self) -> set[str]:
        return set(USERS)

    async def authenticate(self, handler: Any, data: dict[str, str]) -> str | None:
        username = data.get("username", "")
        password = data.get("password", "")
        # Constant time, so the answer's timing does not tell how much of the password matched.
        if username and hmac.compare_digest(password.encode(), self.password.encode()):
            return username  # JupyterHub then normalises it and checks allowed_users
        return None


__all__ = ["DemoAuthenticator"]
