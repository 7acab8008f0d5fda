"""The Secret and ConfigMap strategies: the two kinds whose payload is a map of data keys.

Both check their keys alike (IsConfigMapKey), share a size limit, and freeze their data once
created `immutable: true`; secrets also decode base64 and know the well-known secret types.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from kubesim.registry.field import forbidden, immutable, invalid, invalid_each, required, too_long
from kubesim.registry.names import max_len_error, regex_error
from kubesim.registry.strategy import (
    Errors,
    Obj,
    Strategies,
    Strategy,
    as_dict,
    default,
    owned_dict,
    same,
    sorted_map,
)

# -- shared checks ------------------------------------------------------------------------------

_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
MAX_DATA_SIZE = 1 << 20  # core.MaxSecretSize, which ConfigMaps share


def config_key_errors(key: str) -> list[str]:
    """validation.IsConfigMapKey."""
    errs = []
    if len(key.encode()) > 253:
        errs.append(max_len_error(253))
    if not re.fullmatch(_CONFIG_KEY_FMT, key):
        errs.append(
            regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name")
        )
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def base64_error(value: str) -> str | None:
    """What Go's base64.StdEncoding says of a value that JSON decoding of []byte rejects."""
    s = value.replace("\r", "").replace("\n", "")  # the decoder skips line breaks
    bad = next((i for i, ch in enumerate(s) if ch not in _B64_CHARS and ch != "="), None)
    pad = s.find("=")
    if bad is not None and (pad < 0 or bad < pad):
        return f"illegal base64 data at input byte {bad}"
    if pad < 0:
        return f"illegal base64 data at input byte {len(s) - len(s) % 4}" if len(s) % 4 else None
    position = pad % 4  # of the first "=" within its 4-character quantum
    if position < 2:
        return f"illegal base64 data at input byte {pad}"  # padding too early
    if position == 2:
        if pad + 1 == len(s):
            return f"illegal base64 data at input byte {len(s)}"  # "==" cut short
        if s[pad + 1] != "=":
            return f"illegal base64 data at input byte {pad}"
    end = pad + (2 if position == 2 else 1)
    # Anything after the padding is garbage.
    return f"illegal base64 data at input byte {end}" if end < len(s) else None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "object" if isinstance(value, dict) else "array"


def _data_map_errors(kind: str, field: str, data: Any, *, binary: bool) -> tuple[int, Errors]:
    """Keys and values of a data map, and its size in bytes as the server would store it."""
    size, errs = 0, []
    for key, value in as_dict(data).items():
        path = f"{field}[{key}]"
        errs += invalid_each(path, key, config_key_errors(key))
        if value is None:
            continue
        if not isinstance(value, str):
            go_type = "[]uint8" if binary else "string"
            detail = f"json: cannot unmarshal {_json_type(value)} into Go struct field "
            errs.append(invalid(path, value, f"{detail}{kind}.{field} of type {go_type}"))
        elif not binary:
            size += len(value.encode())
        elif problem := base64_error(value):
            # A real server fails to decode the body (400); reported here on the field.
            errs.append(invalid(path, "<secret contents redacted>", problem))
        else:
            size += len(base64.b64decode(value.replace("\r", "").replace("\n", "")))
    return size, errs


def _immutable_data(new: Obj, old: Obj, fields: tuple[str, ...]) -> Errors:
    """An object created `immutable: true` keeps its data and the flag."""
    if old.get("immutable") is not True:
        return []
    errs = []
    detail = "field is immutable when `immutable` is set"
    if new.get("immutable") is not True:
        errs.append(forbidden("immutable", detail))
    for field in fields:
        if not same(new.get(field), old.get(field)):
            errs.append(forbidden(field, detail))
    return errs


# -- secrets and config maps -------------------------------------------------------------------


def default_secret(secret: Obj) -> None:
    # v1 conversion: stringData is written into data (overriding it) and never stored.
    string_data = secret.get("stringData")
    if isinstance(string_data, dict) and all(isinstance(v, str) for v in string_data.values()):
        data = owned_dict(secret, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(value.encode()).decode()
        del secret["stringData"]
    if "data" in secret:
        secret["data"] = sorted_map(secret["data"])
    default(secret, "type", "Opaque")


def _decoded(secret: Obj, key: str) -> bytes | None:
    value = as_dict(secret.get("data")).get(key)
    if not isinstance(value, str) or base64_error(value):
        return None
    return base64.b64decode(value.replace("\r", "").replace("\n", ""))


def _secret_type_errors(secret: Obj) -> Errors:
    """The keys each well-known secret type must carry (ValidateSecret)."""
    data, kind = as_dict(secret.get("data")), secret.get("type")
    if kind == "kubernetes.io/service-account-token":
        annotations = as_dict(as_dict(secret.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            return [required("metadata.annotations[kubernetes.io/service-account.name]")]
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            return [required(f"data[{key}]")]
        raw = _decoded(secret, key)
        try:
            json.loads(raw or b"")
        except ValueError as e:
            return [invalid(f"data[{key}]", "<secret contents redacted>", str(e))]
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            return [required("data[username]"), required("data[password]")]
    elif kind == "kubernetes.io/ssh-auth":
        if not _decoded(secret, "ssh-privatekey"):
            return [required("data[ssh-privatekey]")]
    elif kind == "kubernetes.io/tls":
        return [required(f"data[{k}]") for k in ("tls.crt", "tls.key") if k not in data]
    return []


def validate_secret(secret: Obj, old: Obj | None) -> Errors:
    errs: Errors = []
    if old is not None:
        errs += immutable("type", secret.get("type"), old.get("type"))
        errs += _immutable_data(secret, old, ("data",))
    size, found = _data_map_errors("Secret", "data", secret.get("data"), binary=True)
    errs += found
    for key, value in as_dict(secret.get("stringData")).items():  # only left when not strings
        errs.append(invalid(f"stringData[{key}]", value, "must be a string"))
    if size > MAX_DATA_SIZE:
        errs.append(too_long("data", MAX_DATA_SIZE))
    return errs + _secret_type_errors(secret)


def default_config_map(cm: Obj) -> None:
    for field in ("data", "binaryData"):
        if field in cm:
            cm[field] = sorted_map(cm[field])


def validate_config_map(cm: Obj, old: Obj | None) -> Errors:
    errs = _immutable_data(cm, old, ("data", "binaryData")) if old is not None else []
    size, found = _data_map_errors("ConfigMap", "data", cm.get("data"), binary=False)
    binary_size, binary_found = _data_map_errors(
        "ConfigMap", "binaryData", cm.get("binaryData"), binary=True
    )
    errs += found + binary_found
    for key in as_dict(cm.get("binaryData")):
        if key in as_dict(cm.get("data")):
            errs.append(invalid(f"binaryData[{key}]", key, "duplicate of key present in data"))
    if size + binary_size > MAX_DATA_SIZE:
        errs.append(too_long("", MAX_DATA_SIZE))
    return errs


STRATEGIES: Strategies = {
    ("", "secrets"): Strategy(defaults=default_secret, validate=validate_secret),
    ("", "configmaps"): Strategy(defaults=default_config_map, validate=validate_config_map),
}
