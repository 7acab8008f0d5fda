"""Our CRDs (`lscsde-spawner crds`) against the ones the LSC-SDE chart publishes
(tests/support/published_crds): the same structure, the same verdicts from an API server, and
models that take every object the published schemas admit.

A drift on either side fails here: a field, type, default, required field, anyOf rule, enum,
pattern, name, category or printer column that differs, other than the deliberate differences
the README lists ("Differences from the published CRDs").
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import LocalCluster
from kubesim.testing import client_configuration
from lscsde_spawner.crds import load_crds
from lscsde_spawner.models import (
    GROUP,
    VERSION,
    AnalyticsCrate,
    AnalyticsDataSource,
    AnalyticsDataSourceBinding,
    AnalyticsWorkspace,
    AnalyticsWorkspaceBinding,
    ParseError,
    parse_one,
)
from lscsde_spawner.models.base import Resource
from tests.support.crds import install_crds
from tests.support.factories import DELETE, FIELD_OBJECTS, GPU_WORKSPACE, Obj, changed
from tests.support.published_crds import SOURCE_COMMIT, load_published_crds

README = Path(__file__).resolve().parents[2] / "README.md"
NS = "lsc-sde"
OURS = {crd["spec"]["names"]["kind"]: crd for crd in load_crds()}
THEIRS = {crd["spec"]["names"]["kind"]: crd for crd in load_published_crds()}
KINDS = list(THEIRS)
MODELS: dict[str, type[Resource]] = {
    m.KIND: m
    for m in (
        AnalyticsWorkspace,
        AnalyticsWorkspaceBinding,
        AnalyticsDataSource,
        AnalyticsDataSourceBinding,
        AnalyticsCrate,
    )
}
# kubernetes_asyncio sends dict bodies as JSON patches unless told otherwise.
MERGE_PATCH: Obj = {"_content_type": "application/merge-patch+json"}
PUBLISHED_IMAGE_PATTERN = r"^[a-z0-9\-\/]*\:([a-zA-Z0-9\-\_\.]*)"

# (kind, schema path, keyword) -> the published value our schema leaves out, on purpose. The
# README's "Differences from the published CRDs" explains each.
DELIBERATE: dict[tuple[str, str, str], Any] = {
    ("AnalyticsWorkspace", "spec.jupyterWorkspace.image", "pattern"): PUBLISHED_IMAGE_PATTERN,
}


def schema_of(crd: Obj) -> Obj:
    [version] = crd["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"])


# -- the manifests, compared -------------------------------------------------------------------


def normalized(node: Any) -> Any:
    """A schema without what changes nothing a server accepts or stores: descriptions, and the
    empty `properties:` the published anyOf alternatives carry (`- properties:` / `required:`)."""
    if isinstance(node, list):
        return [normalized(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: Obj = {}
    for key, value in node.items():
        if key == "description" or (key == "properties" and value is None):
            continue
        if key == "properties":
            out[key] = {name: normalized(sub) for name, sub in value.items()}
        else:
            out[key] = normalized(value)
    return out


def flattened(schema: Obj, path: str = "") -> dict[str, Obj]:
    """{field path: its keywords}, one entry per schema node (`[]` an array's items, `{}` a map's
    values), so that a difference names the field."""
    here = {k: v for k, v in schema.items() if k not in ("properties", "items")}
    if isinstance(here.get("additionalProperties"), dict):
        del here["additionalProperties"]
    out = {path or "<root>": here}
    for name, sub in schema.get("properties", {}).items():
        out.update(flattened(sub, f"{path}.{name}" if path else name))
    if isinstance(schema.get("items"), dict):
        out.update(flattened(schema["items"], f"{path}[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        out.update(flattened(schema["additionalProperties"], f"{path}{{}}"))
    return out


def test_the_fixtures_are_the_five_published_kinds() -> None:
    assert list(THEIRS) == list(OURS)
    for crd in THEIRS.values():
        assert crd["spec"]["group"] == GROUP
        [version] = crd["spec"]["versions"]
        assert version["name"] == VERSION
    assert len(SOURCE_COMMIT) == 40


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_the_published_one(kind: str) -> None:
    """Fields, types, formats, defaults, nullable, required, anyOf, enums, patterns,
    int-or-string and preserve-unknown-fields: the same at every path."""
    theirs = flattened(normalized(schema_of(THEIRS[kind])))
    for (k, path, keyword), value in DELIBERATE.items():
        if k == kind:
            assert theirs[path].pop(keyword) == value, (path, keyword)
    ours = flattened(normalized(schema_of(OURS[kind])))
    assert ours == theirs


@pytest.mark.parametrize("kind", KINDS)
def test_names_subresources_and_printer_columns_are_the_published_ones(kind: str) -> None:
    ours, theirs = OURS[kind], THEIRS[kind]
    assert ours["metadata"] == theirs["metadata"]
    assert {k: v for k, v in ours["spec"].items() if k not in ("names", "versions")} == {
        k: v for k, v in theirs["spec"].items() if k not in ("names", "versions")
    }
    names = dict(ours["spec"]["names"])
    assert names.pop("listKind") == f"{kind}List"  # what a server derives when it is absent
    assert names == theirs["spec"]["names"]  # kind, plural, singular, shortNames, categories
    [our_version] = ours["spec"]["versions"]
    [their_version] = theirs["spec"]["versions"]
    for key in ("name", "served", "storage", "subresources", "additionalPrinterColumns"):
        assert our_version.get(key) == their_version.get(key), key
    assert set(our_version) == set(their_version)


def _readme_differences() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("**Differences from the published CRDs**")
    return text[start : text.index("\n\n", text.index("\n- ", start))]


def test_the_readme_lists_every_deliberate_difference() -> None:
    listed = _readme_differences()
    for kind, path, keyword in DELIBERATE:
        assert f"`{path}` ({kind}) has no {keyword}" in listed
    assert PUBLISHED_IMAGE_PATTERN in listed
    assert "`listKind`" in listed and "Descriptions" in listed


def test_the_published_image_pattern_is_why() -> None:
    """What the README says the published image pattern refuses (Go's regexp and Python's agree
    on this pattern: ASCII classes and escaped punctuation only)."""
    pattern = re.compile(PUBLISHED_IMAGE_PATTERN)
    admitted = ["lscsde/datascience-notebook-default:0.1.0", "jupyter/base-notebook:latest"]
    refused = [
        "quay.io/jupyter/scipy-notebook:2024-05-01",
        "ghcr.io/lsc-sde/x@sha256:" + "a" * 64,
        "jupyter/base-notebook",
    ]
    assert [bool(pattern.search(i)) for i in admitted + refused] == [True] * 2 + [False] * 3


# -- the same verdicts from an API server -------------------------------------------------------


class Server:
    """One embedded cluster with one set of CRDs, in namespace NS."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.co = client.CustomObjectsApi(api)

    async def create(self, o: Obj) -> tuple[int, Any]:
        """(201, what was stored) or (status, the sorted fields the error names)."""
        plural = MODELS[o["kind"]].PLURAL
        try:
            made = await self.co.create_namespaced_custom_object(
                GROUP, VERSION, NS, plural, o, field_validation="Strict"
            )
        except ApiException as exc:
            body = json.loads(exc.body or b"{}")
            causes = (body.get("details") or {}).get("causes") or []
            return exc.status, sorted({c.get("field", "") for c in causes}) or body.get("message")
        await self.co.delete_namespaced_custom_object(
            GROUP, VERSION, NS, plural, o["metadata"]["name"]
        )
        return 201, {k: made[k] for k in made if k != "metadata"}

    async def create_with_status(self, o: Obj, status: Obj | None) -> Obj:
        """Create `o`, then write `status` (if any) through the status subresource; the object
        as the server then returns it."""
        plural = MODELS[o["kind"]].PLURAL
        name = o["metadata"]["name"]
        made: Obj = await self.co.create_namespaced_custom_object(
            GROUP, VERSION, NS, plural, o, field_validation="Strict"
        )
        if status is not None:
            made = await self.co.patch_namespaced_custom_object_status(
                GROUP, VERSION, NS, plural, name, {"status": status}, **MERGE_PATCH,
                field_validation="Strict",
            )  # fmt: skip
        return made


@pytest.fixture
def second_cluster() -> Iterator[LocalCluster]:
    with LocalCluster() as cluster:
        yield cluster


async def _server(api: ApiClient, crds: list[Obj]) -> Server:
    await install_crds(api, crds)
    namespace: Any = {"metadata": {"name": NS}}
    await client.CoreV1Api(api).create_namespace(namespace)
    return Server(api)


@pytest_asyncio.fixture
async def published(kube_client: ApiClient) -> Server:
    """An embedded cluster with the published CRDs."""
    return await _server(kube_client, load_published_crds())


@pytest_asyncio.fixture
async def ours(second_cluster: LocalCluster) -> AsyncIterator[Server]:
    """Another embedded cluster, with ours."""
    async with ApiClient(client_configuration(second_cluster)) as api:
        yield await _server(api, load_crds())


# Samples for fields whose value must have a form: the published pattern's, or the spawner's
# rules (which a sample valid for both must meet). By schema path.
FIELD_SAMPLES: dict[str, Any] = {
    "spec.jupyterWorkspace.image": "lscsde/datascience-notebook-default:0.1.0",
    "spec.jupyterWorkspace.persistentVolumeClaim.name": "sample-pvc",
    "spec.jupyterWorkspace.additionalStorage[].mountPath": "/data/sample",
    "spec.jupyterWorkspace.additionalStorage[].persistentVolumeClaim": "sample-data",
    "spec.jupyterWorkspace.extraLabels": {"team": "omop"},
    "spec.jupyterWorkspace.nodeSelector": {"kubernetes.azure.com/agentpool": "userpool"},
    "spec.jupyterWorkspace.tolerations[]": {
        "key": "spot",
        "operator": "Exists",
        "effect": "NoSchedule",
        "fromTheFuture": {"nested": [1, "two", True, None, 2.5]},
    },
    "spec.jupyterWorkspace.resources": {
        "requests": {"cpu": "500m", "memory": "4Gi", "nvidia.com/gpu": 1},
        "limits": {"cpu": 2.5, "memory": "16Gi"},
        "claims": [{"name": "gpu"}],
    },
    "spec.claims[]": {"name": "groups", "operator": "NOT IN", "value": "guests"},
    "spec.connections[].roCrate.spec": {
        "@context": "https://w3id.org/ro/crate/1.1/context",
        "@graph": [{"@id": "./", "@type": ["Dataset"], "size": 42, "public": False}],
    },
    "status.additionalStorage": {"sample-data": "sample-data"},
}


def sample(schema: Obj, path: str, mode: str, alternative: int = 0, hosts: Any = 3) -> Any:
    """A value valid under the published `schema` at `path`. `mode`: "full" sets every field;
    "minimal" only required ones (and the chosen anyOf `alternative`); "defaults" every field
    but those with a default, for the server to fill in."""
    if path in FIELD_SAMPLES:
        return copy.deepcopy(FIELD_SAMPLES[path])
    if schema.get("x-kubernetes-int-or-string"):
        return hosts
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        if not props:
            values = schema.get("additionalProperties")
            if isinstance(values, dict):
                return {"sample": sample(values, f"{path}{{}}", mode, alternative, hosts)}
            return {"free": {"form": [1, "x"]}}  # x-kubernetes-preserve-unknown-fields
        if mode == "minimal":
            names = list(schema.get("required", []))
            alternatives = schema.get("anyOf") or []
            if alternatives:
                names += alternatives[alternative]["required"]
            names = [n for n in names if n in props]  # roCrate's `path` is no field of it
        else:
            names = [n for n, s in props.items() if mode == "full" or "default" not in s]
        return {
            n: sample(props[n], f"{path}.{n}" if path else n, mode, alternative, hosts)
            for n in names
        }
    if kind == "array":
        return [sample(schema["items"], f"{path}[]", mode, alternative, hosts)]
    if kind == "integer":
        return 2
    assert kind == "string", (path, schema)
    fmt = schema.get("format")
    if fmt == "date":
        return "2030-12-31"
    if fmt == "date-time":
        return "2024-03-01T10:15:00Z"
    return f"sample {path}"


# (id, mode, anyOf alternative, maxHosts)
VARIANTS = [
    ("full", "full", 0, 3),
    ("full-string-hosts", "full", 0, "3"),
    ("minimal", "minimal", 0, 3),
    ("minimal-other-alternative", "minimal", -1, "two"),
    ("defaults", "defaults", 0, 3),
]


def published_sample(kind: str, mode: str, alternative: int = 0, hosts: Any = 3) -> Obj:
    schema = schema_of(THEIRS[kind])
    name = f"{kind.lower()}-{mode}-{alternative % 2}"
    spec = sample(schema["properties"]["spec"], "spec", mode, alternative, hosts)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "labels": {"sample": mode}},
        "spec": spec,
    }


def status_sample(kind: str, mode: str) -> Obj:
    status: Obj = sample(schema_of(THEIRS[kind])["properties"]["status"], "status", mode)
    return status


def _defaults(schema: Obj, value: Any) -> list[tuple[str, Any]]:
    """(dotted path, default) of each default the published schema sets under `value`."""
    found: list[tuple[str, Any]] = []
    props = schema.get("properties") or {}
    if isinstance(value, dict):
        for name, sub in props.items():
            if name not in value:
                if "default" in sub:
                    found.append((name, sub["default"]))
                continue
            found += [(f"{name}.{p}", d) for p, d in _defaults(sub, value[name])]
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += [(f"{i}.{p}", d) for p, d in _defaults(schema["items"], item)]
    return found


def _at(o: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        o = o[int(part)] if isinstance(o, list) else o[part]
    return o


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("mode", "alternative", "hosts"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS]
)
async def test_models_take_every_object_the_published_crds_admit(
    published: Server, kind: str, mode: str, alternative: int, hosts: Any
) -> None:
    """Stored by a server with the published CRDs, its defaults applied, status too: the model
    parses it and writes back exactly what it read."""
    o = published_sample(kind, mode, alternative, hosts)
    status = status_sample(kind, mode)
    got = await published.create_with_status(o, status)
    spec_schema = schema_of(THEIRS[kind])["properties"]["spec"]
    for path, default in _defaults(spec_schema, o["spec"]):
        assert _at(got["spec"], path) == default, path
    if mode == "defaults" and kind in ("AnalyticsWorkspace", "AnalyticsCrate"):
        assert got["status"]["statusText"] == "Waiting"
    parsed = parse_one(MODELS[kind], got)
    assert not isinstance(parsed, ParseError), parsed
    assert parsed.to_dict() == got


def test_the_samples_reach_every_published_field() -> None:
    """The full samples set every field the published schemas declare (so the test above tries
    each), and the defaults samples leave each default to the server."""
    for kind in KINDS:
        schema = schema_of(THEIRS[kind])
        full = {
            "spec": published_sample(kind, "full")["spec"],
            "status": status_sample(kind, "full"),
        }
        declared = {p for p in flattened(normalized(schema)) if p != "<root>" and not _free(p)}
        assert declared <= set(_paths(full)), (kind, declared - set(_paths(full)))
        defaults = published_sample(kind, "defaults")
        assert bool(_defaults(schema["properties"]["spec"], defaults["spec"])) == (
            kind in ("AnalyticsWorkspaceBinding", "AnalyticsDataSource", "AnalyticsCrate")
        ), kind


def _free(path: str) -> bool:
    """Whether `path` lies inside a value the samples fill by hand."""
    return any(path.startswith(p) and path != p for p in FIELD_SAMPLES)


def _paths(value: Any, path: str = "") -> Iterator[str]:
    """The schema paths of every value in a sample."""
    if path:
        yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for v in value:
            yield from _paths(v, f"{path}[]")


def _mutations(kind: str) -> Iterator[tuple[str, Obj]]:
    """Single breakages of the full sample, one per rule of the published schema: each required
    field removed, each anyOf left unmet, each value of the wrong type, format or pattern."""
    base = published_sample(kind, "full")
    schema = schema_of(THEIRS[kind])["properties"]["spec"]
    for path, node in flattened(normalized(schema), "spec").items():
        where = path.replace("[]", ".0").replace("{}", ".sample")
        for name in node.get("required", []):
            yield f"{path}: no {name}", changed(base, f"{where}.{name}", DELETE)
        alternatives = [a.get("required") for a in node.get("anyOf", [])]
        if alternatives and all(alternatives):
            broken = copy.deepcopy(base)
            for names in alternatives:
                for name in names:
                    _at(broken, where).pop(name, None)
            yield f"{path}: anyOf", broken
        if "." not in where:
            continue
        wrong: Any = {
            "string": 5, "integer": "five", "object": "an object", "array": {"an": "array"}
        }.get(str(node.get("type")), True)  # fmt: skip
        yield f"{path}: type", changed(base, where, wrong)
        if node.get("format"):
            yield f"{path}: format", changed(base, where, "2024-02-30T25:00:00")
        if node.get("pattern") or path == "spec.jupyterWorkspace.image":
            yield f"{path}: pattern", changed(base, where, "quay.io/jupyter/base:latest")


# The verdicts that differ, on purpose (README: "Differences from the published CRDs").
DIFFERENT_VERDICTS = {"spec.jupyterWorkspace.image: pattern"}


async def test_both_servers_give_the_same_verdicts(published: Server, ours: Server) -> None:
    """Every sample and every single breakage of one: stored the same (defaults included) or
    refused the same (status and fields named), under the published CRDs and under ours."""
    cases: list[tuple[str, Obj]] = []
    for kind in KINDS:
        cases += [(f"{kind} {v[0]}", published_sample(kind, *v[1:])) for v in VARIANTS]
        cases += [(f"{kind} {label}", o) for label, o in _mutations(kind)]
    cases += [(f"field object {case}", _as_written(raw)) for case, _, raw in FIELD_OBJECTS]
    assert len(cases) > 100
    differences = {}
    refused = 0
    for label, o in cases:
        theirs, mine = await published.create(o), await ours.create(o)
        refused += theirs[0] != 201
        if theirs != mine:
            differences[label.split(" ", 1)[1]] = (theirs, mine)
    assert refused > 50  # the breakages were refused
    assert set(differences) == DIFFERENT_VERDICTS, differences
    [(theirs, mine)] = differences.values()
    assert theirs == (422, ["spec.jupyterWorkspace.image"]) and mine[0] == 201


def _as_written(raw: Obj) -> Obj:
    """A field object as a tool would send it: no server metadata, no status."""
    meta = raw["metadata"]
    kept = {k: meta[k] for k in ("name", "labels", "annotations") if k in meta}
    return copy.deepcopy({**{k: raw[k] for k in ("apiVersion", "kind", "spec")}, "metadata": kept})


async def test_ours_admits_images_the_published_pattern_refuses(
    published: Server, ours: Server
) -> None:
    """The one deliberate difference: a registry host, a digest."""
    o = _as_written(GPU_WORKSPACE)
    for image in ("quay.io/jupyter/scipy-notebook:2024-05-01", "ghcr.io/x/y@sha256:" + "a" * 64):
        o = changed(o, "spec.jupyterWorkspace.image", image)
        assert (await published.create(o))[0] == 422
        assert (await ours.create(o))[0] == 201


# Objects the published CRDs admit that the spawner will not use (the README lists them): the
# model names the field. (id, object, field)
_WS = published_sample("AnalyticsWorkspace", "full")
_BINDING = published_sample("AnalyticsWorkspaceBinding", "full")
_STORAGE = "spec.jupyterWorkspace.additionalStorage.0"
NOT_USED: list[tuple[str, Obj, str]] = [
    ("workspace-without-spec", {k: v for k, v in _WS.items() if k != "spec"}, "spec"),
    ("binding-without-spec", {k: v for k, v in _BINDING.items() if k != "spec"}, "spec"),
    ("claims-empty-no-username",
     changed(changed(_BINDING, "spec.username", DELETE), "spec.claims", []), "spec"),
    ("claim-without-value", changed(_BINDING, "spec.claims.0.value", DELETE),
     "spec.claims.0.value"),
    ("image-with-whitespace", changed(_WS, "spec.jupyterWorkspace.image", "python:3.11 sh -c x"),
     "spec.jupyterWorkspace.image"),
    ("invalid-pvc-name", changed(_WS, "spec.jupyterWorkspace.persistentVolumeClaim.name", "A B"),
     "spec.jupyterWorkspace.persistentVolumeClaim.name"),
    ("relative-mount-path", changed(_WS, f"{_STORAGE}.mountPath", "data"),
     f"{_STORAGE}.mountPath"),
    ("storage-without-claim", changed(_WS, f"{_STORAGE}.persistentVolumeClaim", DELETE),
     f"{_STORAGE}.persistentVolumeClaim"),
    ("requests-not-a-map", changed(_WS, "spec.jupyterWorkspace.resources.requests", "1 CPU"),
     "spec.jupyterWorkspace.resources.requests"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "o", "field"), NOT_USED, ids=[n[0] for n in NOT_USED])
async def test_objects_the_spawner_will_not_use(
    published: Server, case: str, o: Obj, field: str
) -> None:
    got = await published.create_with_status(o, None)  # the published CRDs admit it
    err = parse_one(MODELS[o["kind"]], got)
    assert isinstance(err, ParseError)
    assert err.reason.startswith(f"{field}: ") or f"; {field}: " in err.reason, err.reason
