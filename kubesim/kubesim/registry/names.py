"""Name and object-metadata validation with the messages a real kube-apiserver gives.

Ported from k8s.io/apimachinery: pkg/util/validation (the string checks),
pkg/api/validation (ObjectMeta, name functions) and pkg/api/validation/path (path segments).
Lengths are counted in UTF-8 bytes, as Go's len() does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubesim.registry.errors import FieldError
from kubesim.registry.field import invalid, invalid_each, too_long, type_invalid

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * (1 << 10)

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)


def _blen(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


def _match(regex: re.Pattern[str], value: str) -> bool:
    return regex.fullmatch(value) is not None


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, including its doubled space before each 'or'."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    msg += " (e.g. "
    for i, example in enumerate(examples):
        if i > 0:
            msg += " or "
        msg += f"'{example}', "
    return msg + f"regex used for validation is '{fmt}')"


def dns1123_label_errors(value: str) -> list[str]:
    errs = []
    if _blen(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _match(_DNS1123_LABEL_RE, value):
        if _match(_DNS1123_SUBDOMAIN_RE, value):
            # A valid subdomain that is not a label: it can only be the dots.
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _match(_DNS1123_SUBDOMAIN_RE, value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    errs = []
    if _blen(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _match(_DNS1035_LABEL_RE, value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def qualified_name_errors(value: str) -> list[str]:
    """IsQualifiedName: label and annotation keys, finalizers: `[prefix/]name`."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    else:
        example = regex_error(
            _QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
        )
        return [
            f"a qualified name {example} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _blen(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _match(_QUALIFIED_NAME_RE, name):
        errs.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def label_value_errors(value: str) -> list[str]:
    errs = []
    if _blen(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _match(_LABEL_VALUE_RE, value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def port_name_errors(name: str) -> list[str]:
    """validation.IsValidPortName (IANA_SVC_NAME)."""
    errs = []
    if len(name) > 15:
        errs.append(max_len_error(15))
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name[:1] == "-" or name[-1:] == "-":
        errs.append("must not begin or end with a hyphen")
    return errs


def path_segment_errors(value: str, prefix: bool = False) -> list[str]:
    """path.ValidatePathSegmentName: the generic check every object's name gets."""
    if not prefix and value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def _mask_trailing_dash(name: str) -> str:
    # Upstream's maskTrailingDash drops two characters, not one; kept for identical results.
    return name[:-2] + "a" if name.endswith("-") else name


def _name_fn(check: Callable[[str], list[str]]) -> Callable[[str, bool], list[str]]:
    def validate(name: str, prefix: bool) -> list[str]:
        return check(_mask_trailing_dash(name) if prefix else name)

    return validate


# name_rule -> ValidateNameFunc(name, prefix). "prefix" is true for generateName.
NAME_FUNCS: dict[str, Callable[[str, bool], list[str]]] = {
    "subdomain": _name_fn(dns1123_subdomain_errors),  # NameIsDNSSubdomain
    "label": _name_fn(dns1123_label_errors),  # NameIsDNSLabel
    "dns1035": _name_fn(dns1035_label_errors),  # NameIsDNS1035Label
    "path": path_segment_errors,  # ValidatePathSegmentName
}

# The name rule each built-in kind's strategy uses, by plural.
NAME_RULES: dict[str, str] = {
    "pods": "subdomain",
    "persistentvolumeclaims": "subdomain",
    # core/v1 Events skip strict metadata validation; only the generic path check applies.
    "events": "path",
    "secrets": "subdomain",
    "configmaps": "subdomain",
    "services": "dns1035",  # ValidateServiceName = NameIsDNS1035Label
    "serviceaccounts": "subdomain",
    "namespaces": "label",
    "nodes": "subdomain",
    "statefulsets": "label",  # its pods are named after it (ValidateStatefulSetName)
    # Plus a CRD-specific "must be spec.names.plural+"."+spec.group" check, not made here.
    "customresourcedefinitions": "subdomain",
    # Plus the "must be spec.version+"."+spec.group" check (registry/apiservices.py).
    "apiservices": "path",
    # rbac's minimalNameRequirements: ValidatePathSegmentName.
    "roles": "path",
    "clusterroles": "path",
    "rolebindings": "path",
    "clusterrolebindings": "path",
}
# The apiextensions customResourceValidator uses NameIsDNSSubdomain.
CUSTOM_RESOURCE_NAME_RULE = "subdomain"


def name_rule_for(plural: str, group: str = "", *, custom: bool = False) -> str:
    """The name rule for a served resource, including the cases NAME_RULES cannot key."""
    if custom:
        return CUSTOM_RESOURCE_NAME_RULE
    if group == "events.k8s.io":
        return "subdomain"  # events.k8s.io/v1 validates Event metadata strictly
    return NAME_RULES.get(plural, "subdomain")


def name_errors(value: str, rule: str = "subdomain", *, prefix: bool = False) -> list[str]:
    return NAME_FUNCS[rule](value, prefix)


def _type_error(path: str, value: Any, type_name: str) -> FieldError:
    return type_invalid(path, value, f"must be of type {type_name}")


def _string_map(
    meta: dict[str, Any], key: str, path: str
) -> tuple[dict[str, str], list[FieldError]]:
    """A labels/annotations map, or the type errors that stop it being checked further."""
    value = meta.get(key)
    if value is None:
        return {}, []
    if not isinstance(value, dict):
        return {}, [_type_error(path, value, "object")]
    errs = [
        _type_error(f"{path}[{k}]", v, "string") for k, v in value.items() if not isinstance(v, str)
    ]
    return {k: v for k, v in value.items() if isinstance(v, str)}, errs


def _validate_labels(labels: dict[str, str], path: str) -> list[FieldError]:
    errs = []
    for key, value in labels.items():
        errs += invalid_each(path, key, qualified_name_errors(key))
        errs += invalid_each(path, value, label_value_errors(value))
    return errs


def _validate_annotations(annotations: dict[str, str], path: str) -> list[FieldError]:
    errs = []
    for key in annotations:
        # Annotation keys are qualified names, except that case does not matter.
        errs += invalid_each(path, key, qualified_name_errors(key.lower()))
    size = sum(_blen(k) + _blen(v) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [_type_error(path, refs, "array")]
    errs: list[FieldError] = []
    controller = ""
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict):
            errs.append(_type_error(f"{path}[{i}]", ref, "object"))
            continue
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        # schema.ParseGroupVersion: more than one '/' is an error, leaving no version.
        version = api_version.split("/")[-1] if api_version.count("/") <= 1 else ""
        group = api_version.split("/")[0] if api_version.count("/") == 1 else ""
        if not version:
            errs.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        for key, value in (("kind", kind), ("name", ref.get("name")), ("uid", ref.get("uid"))):
            if not value:
                errs.append(invalid(f"{path}.{key}", value or "", "must not be empty"))
        if (group, version, kind) == ("", "v1", "Event"):
            errs.append(invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name') or ''}"
            if controller:
                detail = (
                    'Only one reference can have Controller set to true. Found "true" in '
                    f"references for {controller} and {current}"
                )
                errs.append(invalid(path, refs, detail))
            else:
                controller = current
    return errs


def _validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    if finalizers is None:
        return []
    if not isinstance(finalizers, list):
        return [_type_error(path, finalizers, "array")]
    errs = []
    for i, name in enumerate(finalizers):
        if isinstance(name, str):
            errs += invalid_each(path, name, qualified_name_errors(name))
        else:
            errs.append(_type_error(f"{path}[{i}]", name, "string"))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        detail = "finalizer orphan and foregroundDeletion cannot be both set"
        errs.append(invalid(path, finalizers, detail))
    return errs


def validate_object_meta(
    meta: Any, *, namespaced: bool, name_rule: str = "subdomain", path: str = "metadata"
) -> list[FieldError]:
    """ValidateObjectMetaAccessor for a create or update, after name generation.

    Not checked here, because the server's request handling does it: a missing name ("name or
    generateName is required"), a missing namespace, and a namespace on a cluster-scoped kind
    (the real server clears it).
    """
    if not isinstance(meta, dict):
        return [_type_error(path, meta, "object")]
    name_fn = NAME_FUNCS[name_rule]
    errs: list[FieldError] = []
    for key, prefix in (("generateName", True), ("name", False)):
        value = meta.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            errs += invalid_each(f"{path}.{key}", value, name_fn(value, prefix))
        else:
            errs.append(_type_error(f"{path}.{key}", value, "string"))
    namespace = meta.get("namespace")
    if namespaced and namespace:
        if isinstance(namespace, str):
            errs += invalid_each(f"{path}.namespace", namespace, dns1123_label_errors(namespace))
        else:
            errs.append(_type_error(f"{path}.namespace", namespace, "string"))
    generation = meta.get("generation")
    if generation is not None:
        if isinstance(generation, bool) or not isinstance(generation, int):
            errs.append(_type_error(f"{path}.generation", generation, "integer"))
        elif generation < 0:
            detail = "must be greater than or equal to 0"
            errs.append(invalid(f"{path}.generation", generation, detail))
    labels, type_errs = _string_map(meta, "labels", f"{path}.labels")
    errs += type_errs + _validate_labels(labels, f"{path}.labels")
    annotations, type_errs = _string_map(meta, "annotations", f"{path}.annotations")
    errs += type_errs + _validate_annotations(annotations, f"{path}.annotations")
    errs += _validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences")
    errs += _validate_finalizers(meta.get("finalizers"), f"{path}.finalizers")
    return errs
