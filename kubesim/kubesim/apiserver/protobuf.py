"""Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`).

kube-apiserver accepts protobuf for every built-in kind, and kubectl's typed clients send it:
`kubectl create configmap|secret|service|deployment|job|...`, `kubectl create token`, `kubectl
auth can-i`, and more. The body is the `k8s\\x00` magic, then a runtime.Unknown naming the
apiVersion and kind around the object's own message (k8s.io/api/.../generated.proto).

This turns such a body into the JSON form the rest of the server works with, exactly as the
real server would write the object it decoded (protobuf_decode.py, by the generated tables of
protobuf_schema.py). A body that does not decode gets the real server's 400 (the protobuf
serializer's error, worded by handlers.transformDecodeError); custom resources, which a real
server serves only as JSON and YAML, get its 415. Answers stay JSON, which these clients accept.
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver.protobuf_decode import (
    MAGIC,
    WireError,
    decode_message,
    envelope,
    message_for,
)
from kubesim.registry.errors import ApiError, bad_request

PROTOBUF = "application/vnd.kubernetes.protobuf"
JSON_MEDIA_TYPES = ("application/json", "application/yaml")
BUILTIN_MEDIA_TYPES = (*JSON_MEDIA_TYPES, PROTOBUF)
# The scheme kube-apiserver's built-in kinds are registered in, as its errors name it.
SCHEME = "pkg/api/legacyscheme/scheme.go:30"


def unsupported_media_type(accepted: tuple[str, ...]) -> ApiError:
    """negotiation.NewUnsupportedMediaTypeError, as the create and update handlers answer it."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def _summary(body: bytes) -> str:
    """handlers.summarizeData(body, 30)."""
    if not body:
        return "<empty>"
    if body[:1] == b"{":
        text = body[:30].decode("utf-8", "replace")
        return text + " ..." if len(body) > 30 else text
    return body[:30].hex() + (" ..." if len(body) > 30 else "")


def _group_version(api_version: str) -> tuple[str, str] | None:
    """schema.ParseGroupVersion: (group, version), or None when it is not one."""
    if not api_version:
        return "", ""
    if api_version.count("/") > 1:
        return None
    group, _, version = api_version.rpartition("/")
    return group, version


def decode(body: bytes, api_version: str, kind: str, *, custom: bool = False) -> dict[str, Any]:
    """The JSON form of a protobuf body sent where an `api_version` `kind` is expected.

    As the real decoder, a body naming no apiVersion or kind takes them from the URL's; one
    naming another kind decodes as that kind (the caller then refuses the mismatch).
    """
    if custom:
        raise unsupported_media_type(JSON_MEDIA_TYPES)
    unrecognized = f"the object provided is unrecognized (must be of type {kind})"
    if not body:
        raise bad_request(f"{unrecognized}: empty data ({_summary(body)})")
    if not body.startswith(MAGIC):
        expected = "[" + " ".join(str(b) for b in MAGIC) + "]"
        message = (
            f"provided data does not appear to be a protobuf message, expected prefix {expected}"
        )
        raise bad_request(f"{unrecognized}: {message} ({_summary(body)})")
    if body == MAGIC:
        raise bad_request(f"{unrecognized}: empty body ({_summary(body)})")
    try:
        sent_version, sent_kind, raw = envelope(body)
    except WireError as err:
        raise bad_request(f"{unrecognized}: {err} ({_summary(body)})") from None
    # copyKindDefaults: what the body leaves out comes from the URL's kind.
    parsed = _group_version(sent_version)
    actual_version = sent_version if parsed and parsed[1] else api_version
    actual_kind = sent_kind or kind
    version = (_group_version(actual_version) or ("", ""))[1]
    cannot = f'{actual_kind} in version "{version}" cannot be handled as a {kind}'
    name = message_for(actual_version, actual_kind)
    if name is None:
        raise bad_request(
            f'{cannot}: no kind "{actual_kind}" is registered for version "{actual_version}" '
            f'in scheme "{SCHEME}"'
        )
    try:
        obj = decode_message(name, raw)
    except WireError as err:
        raise bad_request(f"{cannot}: {err}") from None
    return {"kind": actual_kind, "apiVersion": actual_version, **obj}
