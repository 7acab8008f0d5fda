"""How a username is compared, and the collision-free label derived from it.

Normalisation (``normalise_username``), applied to both the hub's username and every binding's
``spec.username`` before an exact string comparison:

1. Unicode NFC, so the composed and decomposed spellings of one name (``zoë`` written with
   U+00EB or with ``e`` + U+0308) are the same user;
2. strip surrounding whitespace (``str.strip``: Unicode whitespace, including no-break space);
   inner characters are never touched, so ``joe+a``, ``joe-a`` and ``joe_a`` stay three users;
3. unless ``case_sensitive``: ``str.casefold()``, then NFC again (case folding can leave a
   string that is no longer NFC; normalising afterwards keeps equal names byte-equal).

Case folding is full Unicode case folding, not ``lower()``: ``JOE`` = ``joe``, ``ẞ`` = ``ß`` =
``ss`` (so ``straße@x.com`` and ``strasse@x.com`` are the *same* user by default) and the
ligature ``ﬁ`` = ``fi``. Deployments whose identity provider treats such names as different
accounts should configure case-sensitive matching, which compares the NFC, stripped names exactly.

A name that normalises to the empty string is nobody: it never matches anything.

``username_label`` is a label *value* for server-side narrowing of list/watch queries: lowercase
base32 (no padding) of the SHA-256 of the normalised name, 52 characters of ``[a-z2-7]``. Unlike
the ``xlscsde.nhs.uk/username`` label other tools write, distinct normalised names get distinct
labels. Labels only narrow queries; ``spec.username`` alone decides access.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata

#: Our own label key. The ``xlscsde.nhs.uk/username`` label belongs to other tools and is lossy.
USER_LABEL = "lscsde-spawner.xlscsde.nhs.uk/user-sha256"


def normalise_username(name: str, *, case_sensitive: bool = False) -> str:
    """The form in which usernames are compared: NFC, stripped, casefolded unless case_sensitive."""
    normal = unicodedata.normalize("NFC", name).strip()
    if not case_sensitive:
        normal = unicodedata.normalize("NFC", normal.casefold())
    return normal


def username_label(name: str, *, case_sensitive: bool = False) -> str:
    """A valid, collision-free label value for ``name``: base32(sha256(normalised name))."""
    digest = hashlib.sha256(
        normalise_username(name, case_sensitive=case_sensitive).encode("utf-8")
    ).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()
