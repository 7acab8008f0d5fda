"""Generate kubesim's protobuf field tables from the Kubernetes API's own sources.

kube-apiserver accepts request bodies in Kubernetes' protobuf encoding for every built-in kind
(kubectl's typed clients send them). kubesim decodes them with tables of each message's fields
(kubesim/kubesim/apiserver/protobuf_schema.py), which this script writes from:

- the `generated.proto` files of k8s.io/api, k8s.io/apimachinery and
  k8s.io/apiextensions-apiserver (field numbers, proto types, repeated and map fields), and
- the Go types beside them (`types.go` and friends): the JSON name of each field, whether Go's
  encoder omits it when empty (`omitempty`), whether it is a pointer (absent means nil, not a
  zero value), whether it is an embedded struct whose fields JSON inlines, and the Go field name
  the decoder's errors name; and which types are API kinds (`runtime.Object`).

Each source is a git directory (a bare mirror) or a checkout, read at `--ref` (default: the
release kubesim emulates); the module it holds is read from its go.mod.

    .venv/bin/python scripts/protobuf_tables.py \\
        /work/.mirror/kubernetes+api/repo /work/.mirror/kubernetes+apimachinery/repo \\
        /work/.mirror/kubernetes+apiextensions-apiserver/repo [--ref v0.32.5] [--check]

The output is deterministic (sorted, no timestamps); `--check` exits 1 when the checked-in
module differs from what the sources give.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "kubesim" / "kubesim" / "apiserver" / "protobuf_schema.py"
DEFAULT_REF = "v0.32.5"  # the staging tag of Kubernetes v1.32.5, the version kubesim reports

# The Go packages whose messages are tabled: every group version kubesim serves or kubectl's
# typed clients write, and the apimachinery types they use.
PACKAGES = (
    "k8s.io/apimachinery/pkg/apis/meta/v1",
    "k8s.io/apimachinery/pkg/runtime",
    "k8s.io/apimachinery/pkg/util/intstr",
    "k8s.io/apimachinery/pkg/api/resource",
    "k8s.io/api/core/v1",
    "k8s.io/api/apps/v1",
    "k8s.io/api/batch/v1",
    "k8s.io/api/autoscaling/v1",
    "k8s.io/api/autoscaling/v2",
    "k8s.io/api/policy/v1",
    "k8s.io/api/networking/v1",
    "k8s.io/api/scheduling/v1",
    "k8s.io/api/rbac/v1",
    "k8s.io/api/authentication/v1",
    "k8s.io/api/authorization/v1",
    "k8s.io/api/events/v1",
    "k8s.io/api/coordination/v1",
    "k8s.io/api/storage/v1",
    "k8s.io/api/discovery/v1",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1",
)

# Messages whose JSON form is their Go type's own MarshalJSON, not a struct's fields:
# protobuf.py converts them by these names.
SPECIAL = {
    "apimachinery.pkg.apis.meta.v1.Time": "time",
    "apimachinery.pkg.apis.meta.v1.MicroTime": "microtime",
    "apimachinery.pkg.apis.meta.v1.Duration": "duration",
    "apimachinery.pkg.apis.meta.v1.FieldsV1": "raw",
    "apimachinery.pkg.runtime.RawExtension": "raw",
    "apimachinery.pkg.api.resource.Quantity": "quantity",
    "apimachinery.pkg.api.resource.QuantityValue": "quantity",
    "apimachinery.pkg.util.intstr.IntOrString": "intorstring",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON": "raw",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "schemaorarray",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "schemaorbool",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": (
        "schemaorstrings"
    ),
}
# Go field names of messages whose Go type has no protobuf tags (a custom Unmarshal): the names
# its errors use.
GO_NAMES = {
    "apimachinery.pkg.apis.meta.v1.Time": {1: "Seconds", 2: "Nanos"},
    "apimachinery.pkg.apis.meta.v1.MicroTime": {1: "Seconds", 2: "Nanos"},
    "apimachinery.pkg.api.resource.Quantity": {1: "String_"},
    "apimachinery.pkg.api.resource.QuantityValue": {1: "String_"},
}
# meta/v1 kinds every group version registers (metav1.AddToGroupVersion).
META_KINDS = ("CreateOptions", "DeleteOptions", "GetOptions", "ListOptions", "PatchOptions",
              "UpdateOptions", "WatchEvent")  # fmt: skip

SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float"}


# -- reading the sources -----------------------------------------------------------------------


@dataclass
class Source:
    """One module's files at one ref: a git directory (bare or not) or a plain checkout."""

    path: Path
    ref: str
    module: str = ""

    def __post_init__(self) -> None:
        self.module = re.search(r"^module (\S+)", self.read("go.mod"), re.M).group(1)  # type: ignore[union-attr]

    @property
    def is_git(self) -> bool:
        return (self.path / "HEAD").is_file() or (self.path / ".git").exists()

    def _git(self, *args: str) -> str:
        git_dir = self.path / ".git" if (self.path / ".git").exists() else self.path
        out = subprocess.run(
            ["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True
        )
        return out.stdout.decode()

    def read(self, name: str) -> str:
        if self.is_git:
            return self._git("show", f"{self.ref}:{name}")
        return (self.path / name).read_text()

    def files(self, directory: str) -> list[str]:
        if self.is_git:
            listing = self._git("ls-tree", "--name-only", f"{self.ref}:{directory}")
            return sorted(f"{directory}/{n}" for n in listing.split())
        return sorted(f"{directory}/{p.name}" for p in (self.path / directory).iterdir())


def locate(sources: list[Source], package: str) -> tuple[Source, str]:
    for source in sources:
        if package == source.module or package.startswith(source.module + "/"):
            return source, package[len(source.module) + 1 :]
    raise SystemExit(f"no source given holds {package}")


# -- generated.proto ---------------------------------------------------------------------------


@dataclass
class ProtoField:
    number: int
    name: str
    type: str  # a scalar, or a message's full name
    label: str  # "opt", "rep" or "map" (string keys; type is the value's)


@dataclass
class ProtoMessage:
    name: str  # full name, without the leading "k8s.io."
    fields: list[ProtoField]
    nullable: bool  # +protobuf.nullable: a named Go slice, JSON is its `items`


_FIELD = re.compile(r"^\s+(optional|repeated) ([\w.]+) (\w+) = (\d+);$")
_MAP = re.compile(r"^\s+map<string, ([\w.]+)> (\w+) = (\d+);$")


def short(name: str) -> str:
    return name.removeprefix(".").removeprefix("k8s.io.")


def parse_proto(text: str) -> tuple[str, list[ProtoMessage]]:
    package = short(re.search(r"^package ([\w.]+);", text, re.M).group(1))  # type: ignore[union-attr]
    messages: list[ProtoMessage] = []
    current: ProtoMessage | None = None
    comments: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if current is None:
            if stripped.startswith("//"):
                comments.append(stripped)
                continue
            match = re.match(r"^message (\w+) \{$", line)
            if match:
                nullable = "// +protobuf.nullable=true" in comments
                current = ProtoMessage(f"{package}.{match.group(1)}", [], nullable)
            comments = []
            continue
        if line == "}":
            messages.append(current)
            current = None
        elif not stripped or stripped.startswith("//"):
            continue
        elif m := _FIELD.match(line):
            label = "rep" if m.group(1) == "repeated" else "opt"
            current.fields.append(ProtoField(int(m.group(4)), m.group(3), m.group(2), label))
        elif m := _MAP.match(line):
            current.fields.append(ProtoField(int(m.group(3)), m.group(2), m.group(1), "map"))
        else:
            raise SystemExit(f"unexpected line in message {current.name}: {line!r}")
    for message in messages:
        for f in message.fields:
            if f.type not in SCALARS:
                f.type = short(f.type) if f.type.startswith(".") else f"{package}.{f.type}"
    return package, messages


# -- the Go types ------------------------------------------------------------------------------


@dataclass
class GoField:
    name: str  # the Go field name (the type's name for an embedded struct)
    type: str
    json: str  # "" when inlined or unnamed
    omitempty: bool
    embedded: bool
    skip_json: bool  # json:"-"
    number: int | None  # its protobuf field number, if it has one


@dataclass
class GoStruct:
    name: str
    fields: list[GoField] = field(default_factory=list)


_TYPE_LINE = re.compile(r"^type (\w+) struct \{$")
_NAMED = re.compile(r"^(\w+)\s+(\S+)\s+`([^`]*)`")
_EMBEDDED = re.compile(r"^(\*?[\w.]+)\s+`([^`]*)`")
_TAG = re.compile(r'(?:^|\s)(\w+):"([^"]*)"')
_OBJECT_MARKER = "+k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object"


def parse_go(text: str) -> tuple[dict[str, GoStruct], list[str]]:
    """The structs of a Go file (their tagged fields, in order) and the API kinds it declares."""
    structs: dict[str, GoStruct] = {}
    kinds: list[str] = []
    current: GoStruct | None = None
    marked = False
    for line in text.splitlines():
        stripped = line.strip()
        if current is None:
            if _OBJECT_MARKER in stripped:
                marked = True
            match = _TYPE_LINE.match(line)
            if match:
                current = structs.setdefault(match.group(1), GoStruct(match.group(1)))
                if marked:
                    kinds.append(match.group(1))
                marked = False
            elif stripped.startswith("type "):
                marked = False
            continue
        if line == "}":
            current = None
            continue
        if not stripped or stripped.startswith("//"):
            continue
        named, embedded = _NAMED.match(stripped), _EMBEDDED.match(stripped)
        if named:
            go_name, go_type, tag = named.groups()
        elif embedded:
            go_type, tag = embedded.groups()
            go_name = go_type.lstrip("*").rpartition(".")[2]
        else:
            continue  # an untagged field: not on the wire
        tags = dict(_TAG.findall(tag))
        json_tag = tags.get("json")
        json_name, _, options = (json_tag or "").partition(",")
        proto = tags.get("protobuf", "")
        number = int(proto.split(",")[1]) if proto and proto != "-" else None
        current.fields.append(
            GoField(
                name=go_name,
                type=go_type,
                json=json_name if json_name or embedded else go_name,
                omitempty="omitempty" in options.split(","),
                embedded=bool(embedded and not named),
                skip_json=json_tag == "-",
                number=number,
            )
        )
    return structs, kinds


# -- joining the two ---------------------------------------------------------------------------


@dataclass
class Package:
    proto_package: str
    group_version: str
    messages: list[ProtoMessage]
    structs: dict[str, GoStruct]
    kinds: list[str]


def load_package(sources: list[Source], package: str) -> Package:
    source, directory = locate(sources, package)
    proto_package, messages = parse_proto(source.read(f"{directory}/generated.proto"))
    structs: dict[str, GoStruct] = {}
    kinds: list[str] = []
    group: str | None = None
    for name in source.files(directory):
        base = name.rpartition("/")[2]
        if not base.endswith(".go") or base.endswith("_test.go"):
            continue
        if base.startswith(("zz_generated", "generated.")):
            continue
        text = source.read(name)
        found, declared = parse_go(text)
        structs.update(found)
        kinds += declared
        # register.go's GroupName (else doc.go's +groupName marker) names the API group.
        match = re.search(r'^const GroupName = "([^"]*)"', text, re.M) or re.search(
            r"^// \+groupName=(\S*)$", text, re.M
        )
        if match and group is None:
            group = match.group(1)
    version = directory.rpartition("/")[2]
    group_version = f"{group}/{version}" if group else version
    return Package(proto_package, group_version, messages, structs, sorted(set(kinds)))


def flags(proto: ProtoField, go: GoField | None) -> str:
    """r repeated, m map, p pointer, o omitempty, i inlined, - not in JSON."""
    out = {"rep": "r", "map": "m"}.get(proto.label, "")
    if go is not None:
        out += "p" if go.type.startswith("*") else ""
        out += "o" if go.omitempty else ""
        out += "i" if go.embedded and not go.json else ""
        out += "-" if go.skip_json else ""
    return out


def table(package: Package) -> dict[str, list[tuple[int, str, str, str]]]:
    """message -> [(number, "json|GoName", type, flags)] in Go's field order."""
    out: dict[str, list[tuple[int, str, str, str]]] = {}
    for message in package.messages:
        by_number = {f.number: f for f in message.fields}
        struct = package.structs.get(message.name.rpartition(".")[2])
        rows: list[tuple[int, str, str, str]] = []
        if struct is not None and message.name not in GO_NAMES:
            go_fields = [f for f in struct.fields if f.number is not None]
            numbers = {f.number for f in go_fields}
            if numbers != set(by_number):
                raise SystemExit(f"{message.name}: Go fields {numbers} != proto {set(by_number)}")
            for go in go_fields:
                assert go.number is not None
                proto = by_number[go.number]
                default_go = go.json[:1].upper() + go.json[1:]
                name = go.json if go.name == default_go else f"{go.json}|{go.name}"
                rows.append((proto.number, name, proto.type, flags(proto, go)))
        else:
            go_names = GO_NAMES.get(message.name, {})
            for proto in sorted(message.fields, key=lambda f: f.number):
                go_name = go_names.get(proto.number, proto.name[:1].upper() + proto.name[1:])
                rows.append(
                    (proto.number, f"{proto.name}|{go_name}", proto.type, flags(proto, None))
                )
        out[message.name] = rows
    return out


# -- writing -----------------------------------------------------------------------------------

HEADER = '''"""Protobuf field tables of the Kubernetes API, to decode request bodies (protobuf.py).

Generated by scripts/protobuf_tables.py from k8s.io/api, k8s.io/apimachinery and
k8s.io/apiextensions-apiserver at {ref}; do not edit. For each message (named by its proto name
without the leading "k8s.io."): field number -> (JSON name, type, flags), in Go's field order.
The JSON name is followed by "|" and the Go field name where that is not the JSON name with a
capital (decoding errors name the Go field). The type is a proto scalar or a message. Flags:
r repeated, m map (string keys; the type is the value's), p a Go pointer (absent is nil, not
the zero value), o omitempty, i an embedded struct whose fields JSON inlines, - not in JSON.
"""

# ruff: noqa: E501
# fmt: off

from __future__ import annotations

Field = tuple[str, str, str]

'''


def render(packages: list[Package], ref: str) -> str:
    messages: dict[str, list[tuple[int, str, str, str]]] = {}
    nullable: list[str] = []
    kinds: dict[str, tuple[str, list[str]]] = {}
    for package in packages:
        messages.update(table(package))
        nullable += [m.name for m in package.messages if m.nullable]
        names = {m.name.rpartition(".")[2] for m in package.messages}
        served = [k for k in package.kinds if k in names]
        if not package.proto_package.startswith("apimachinery."):
            kinds[package.group_version] = (package.proto_package, served)
    for name, rows in messages.items():
        for _, _, kind, _ in rows:
            if kind not in SCALARS and kind not in messages:
                raise SystemExit(f"{name} refers to {kind}, which no package given declares")
    out = [HEADER.format(ref=ref), "MESSAGES: dict[str, dict[int, Field]] = {\n"]
    for name in sorted(messages):
        fields = ", ".join(f"{n}: ({j!r}, {t!r}, {f!r})" for n, j, t, f in messages[name])
        out.append(f"    {name!r}: {{{fields}}},\n")
    out.append("}\n\n# Messages whose JSON is their Go type's own MarshalJSON (see protobuf.py).\n")
    out.append("SPECIAL: dict[str, str] = {\n")
    specials = {**SPECIAL, **{n: "items" for n in nullable}}
    out += [f"    {n!r}: {specials[n]!r},\n" for n in sorted(specials) if n in messages]
    out.append("}\n\n# Group version -> (proto package, the API kinds it declares).\n")
    out.append("KINDS: dict[str, tuple[str, tuple[str, ...]]] = {\n")
    for gv in sorted(kinds):
        package_name, kind_names = kinds[gv]
        out.append(f"    {gv!r}: ({package_name!r}, {tuple(kind_names)!r}),\n")
    out.append("}\n\n# meta/v1 kinds every group version registers (metav1.AddToGroupVersion).\n")
    out.append(f"META_KINDS: tuple[str, ...] = {META_KINDS!r}\n")
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path, help="git directories or checkouts")
    parser.add_argument("--ref", default=DEFAULT_REF, help="git ref to read (git sources)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    sources = [Source(path, args.ref) for path in args.sources]
    text = render([load_package(sources, p) for p in PACKAGES], args.ref)
    if args.check:
        same = args.output.exists() and args.output.read_text() == text
        print(f"{args.output}: {'up to date' if same else 'differs from the sources'}")
        return 0 if same else 1
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
