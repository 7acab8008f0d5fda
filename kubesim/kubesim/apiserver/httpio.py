"""The HTTP side of a request: query parameters, bodies, DeleteOptions, and JSON responses.

Parameters are checked as strictly as the real server checks them, with the same 400 messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from kubesim.apiserver import encoding
from kubesim.apiserver.admission import WriteOptions
from kubesim.apiserver.listing import ListOptions
from kubesim.apiserver.selectors import FieldSelector, LabelSelector
from kubesim.registry import deepjson
from kubesim.registry.errors import ApiError, bad_request
from kubesim.registry.resources import ResourceType

if TYPE_CHECKING:
    from multidict import MultiMapping

    Query = MultiMapping[str]  # a request's query parameters (aiohttp's MultiDictProxy)

TRUE = {"1", "t", "T", "true", "True", "TRUE"}
FALSE = {"0", "f", "F", "false", "False", "FALSE"}


def query_bool(q: Query, key: str) -> bool:
    value = q.get(key)
    if value is None or value == "":
        return False
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise bad_request(f'invalid boolean value for {key}: "{value}"')


def query_int(q: Query, key: str) -> int | None:
    value = q.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f'{key}: invalid value "{value}": must be an integer') from None


def field_selector(q: Query, rt: ResourceType, name: str | None = None) -> FieldSelector:
    text = q.get("fieldSelector") or ""
    if name is not None:
        # A watch on one object is a watch on the collection with a name selector.
        text = ",".join(filter(None, [f"metadata.name={name}", text]))
    return FieldSelector.parse(text, rt.selectable_fields, rt.plural)


def list_options(q: Query, rt: ResourceType) -> ListOptions:
    return ListOptions(
        labels=LabelSelector.parse(q.get("labelSelector")),
        fields=field_selector(q, rt),
        limit=query_int(q, "limit") or 0,
        continue_token=q.get("continue") or None,
        resource_version=q.get("resourceVersion"),
        resource_version_match=q.get("resourceVersionMatch") or None,
    )


def write_options(q: Query) -> WriteOptions:
    dry_run = q.getall("dryRun", [])
    for value in dry_run:
        if value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    validation = q.get("fieldValidation") or "Warn"
    if validation not in ("Strict", "Warn", "Ignore"):
        raise bad_request(
            f'fieldValidation: Unsupported value: "{validation}": supported values: '
            '"Ignore", "Strict", "Warn"'
        )
    return WriteOptions(dry_run=bool(dry_run), field_validation=validation)


async def _read_text(request: web.Request) -> str:
    try:
        return await request.text()
    except UnicodeDecodeError:
        raise bad_request("the request body is not valid UTF-8") from None


async def read_body(request: web.Request) -> Any:
    """A create/update body: JSON (or YAML, which a real server also accepts)."""
    ctype = request.content_type
    text = await _read_text(request)
    if ctype in ("application/json", "application/octet-stream", ""):
        try:
            return deepjson.loads(text)
        except ValueError as err:  # JSONDecodeError, or an integer of over 4,300 digits
            raise bad_request(f"json parse error: {err}") from None
    if ctype in ("application/yaml", "application/x-yaml"):
        try:
            body = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise bad_request(f"yaml parse error: {err}") from None
        except RecursionError:  # PyYAML recurses (Go's YAML decoder would allow 10,000 levels)
            raise bad_request("yaml parse error: nested too deeply") from None
        return deepjson.replace_lone_surrogates(body) if "\\" in text else body
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f'application/json, application/yaml (got "{ctype}")',
    )


async def read_patch(request: web.Request) -> Any:
    text = await _read_text(request)
    try:
        return deepjson.loads(text)
    except ValueError as err:
        raise bad_request(f"json parse error in patch: {err}") from None


async def delete_options(request: web.Request) -> dict[str, Any]:
    """DeleteOptions from the body and the query (the query wins, as on a real server)."""
    options: dict[str, Any] = {}
    if request.can_read_body:
        text = await _read_text(request)
        if text.strip():
            try:
                body = deepjson.loads(text)
            except ValueError as err:
                raise bad_request(f"json parse error in DeleteOptions: {err}") from None
            if not isinstance(body, dict):
                raise bad_request("DeleteOptions must be a JSON object")
            options.update(body)
    q = request.query
    grace = query_int(q, "gracePeriodSeconds")
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    if q.get("propagationPolicy"):
        options["propagationPolicy"] = q["propagationPolicy"]
    if q.getall("dryRun", []):
        options["dryRun"] = q.getall("dryRun")
    if options.get("propagationPolicy") not in (None, "Orphan", "Background", "Foreground"):
        raise bad_request(f"propagationPolicy: Unsupported value: {options['propagationPolicy']!r}")
    return options


def json_response(
    doc: Any,
    *,
    status: int = 200,
    content_type: str = "application/json",
    warnings: list[str] | None = None,
) -> web.Response:
    headers = {"Content-Type": content_type}
    # The real server writes with json.Encoder.Encode, which ends the document with a newline.
    body = encoding.dumps(doc).encode() + b"\n"  # (shared managedFields encoded once)
    response = web.Response(body=body, status=status, headers=headers)
    for warning in warnings or ():
        # net.NewWarningHeader: the text is a quoted-string, its `"` and `\` escaped.
        text = warning.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        response.headers.add("Warning", f'299 - "{text}"')
    return response


def status_response(err: ApiError) -> web.Response:
    return json_response(err.status(), status=err.code)
