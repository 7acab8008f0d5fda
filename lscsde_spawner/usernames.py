"""Whose binding is it: the hub's own identity rule, and the label derived from a hub name.

A binding belongs to exactly the hub user whose name equals the hub's own normalisation of
``spec.username``::

    authenticator.normalize_username(spec.username) == user.name

Nothing here merges more names than the hub does. JupyterHub's default ``normalize_username``
only lowercases (and applies ``username_map``), so ``straße`` and ``strasse``, long-s
``\u017fam`` and ``sam``, ligature ``\ufb01ona`` and ``fiona``, or the NFC and NFD spellings
of ``zoë`` are different users, and each binding grants to one of them only. A custom
authenticator's normalisation is respected (whatever it merges, the hub merges too).
``exact`` compares ``spec.username`` with the hub name as it is, for deployments that want
bindings written exactly as the hub spells names.

A normaliser that raises, or returns anything but a string with a non-blank character, makes the
binding nobody's: it never matches anyone.

``username_label`` is a label *value* for server-side narrowing of list/watch queries: lowercase
base32 (no padding) of the SHA-256 of a hub username, 52 characters of ``[a-z2-7]``. Unlike the
``xlscsde.nhs.uk/username`` label other tools write, distinct names get distinct labels. Labels
only narrow queries; ``spec.username`` alone decides access.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

#: Our own label key. The ``xlscsde.nhs.uk/username`` label belongs to other tools and is lossy.
USER_LABEL = "lscsde-spawner.xlscsde.nhs.uk/user-sha256"

#: A hub's username normalisation: ``Authenticator.normalize_username`` or one of those below.
Normalize = Callable[[str], str]


def hub_default(name: str) -> str:
    """JupyterHub's default ``Authenticator.normalize_username`` without a ``username_map``."""
    return name.lower()


def exact(name: str) -> str:
    """No normalisation: ``spec.username`` must be the hub name, character for character."""
    return name


def owner(raw: object, normalize: Normalize) -> str | None:
    """The hub username a binding's raw ``spec.username`` names, or None when it names nobody."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        name = normalize(raw)
    except Exception:  # an authenticator that cannot normalise a name does not grant to anyone
        return None
    return name if isinstance(name, str) and name.strip() else None


def username_label(name: str) -> str:
    """A valid, collision-free label value for the hub username ``name``."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()
