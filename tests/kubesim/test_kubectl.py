"""The real kubectl binary against the embedded API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import yaml

from kubesim import LocalCluster
from tests.support.kubectl import KUBECTL, Kubectl
from tests.support.sample_crds import WIDGET_CRD, widget

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]


@pytest.fixture(scope="module")
def kubectl(module_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    k = Kubectl(module_cluster, tmp_path_factory.mktemp("kubectl-home"))
    k("apply", "-f", "-", stdin=yaml.safe_dump(WIDGET_CRD))
    return k


@pytest.fixture
def widgets(kubectl: Kubectl) -> Iterator[None]:
    yield
    kubectl("delete", "widgets", "--all")


def test_version_selects_a_matching_kubectl(kubectl: Kubectl) -> None:
    out = json.loads(kubectl("version", "-o", "json"))
    assert out["serverVersion"]["major"] == "1"


def test_apply_custom_resource_with_default_validation(kubectl: Kubectl, widgets: None) -> None:
    manifest = yaml.safe_dump(widget("applied"))
    assert "created" in kubectl("apply", "-f", "-", stdin=manifest)
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=manifest)
    changed = widget("applied", colour="green")
    assert "configured" in kubectl("apply", "-f", "-", stdin=yaml.safe_dump(changed))
    # Default (strict) validation reaches the server, which names the unknown field.
    bad = widget("strict")
    bad["spec"]["bogus"] = 1
    out = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(bad), check=False)
    assert 'unknown field "spec.bogus"' in out
    # A schema violation is refused with the field path.
    bad = widget("invalid", colour="blue")
    out = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(bad), check=False)
    assert "spec.colour" in out and "Unsupported value" in out


def test_get_prints_printer_columns_selectors_and_json(kubectl: Kubectl, widgets: None) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(widget("w-red")))
    green = widget("w-green", colour="green")
    green["metadata"]["labels"] = {"team": "g"}
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(green))
    lines = kubectl("get", "widgets").splitlines()
    assert lines[0].split() == ["NAME", "COLOUR", "UNTIL", "STATE"]
    assert lines[1].split() == ["w-green", "green", "2030-01-31"]
    assert lines[2].split() == ["w-red", "red", "2030-01-31"]
    assert kubectl("get", "wdg", "-l", "team=g", "-o", "name").split() == [
        "widget.example.lscsde.test/w-green"
    ]
    doc = json.loads(kubectl("get", "widget", "w-red", "-o", "json"))
    assert doc["spec"] == {"colour": "red", "until": "2030-01-31", "replicas": 0}
    assert kubectl("get", "gadgets", "-o", "name").count("widget") == 2  # category


def test_patch_merge_and_json_then_delete(kubectl: Kubectl, widgets: None) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(widget("p")))
    kubectl("patch", "widget", "p", "--type", "merge", "-p", '{"spec":{"colour":"green"}}')
    kubectl(
        "patch", "widget", "p", "--type", "json",
        "-p", '[{"op":"replace","path":"/spec/until","value":"2031-05-06"}]',
    )  # fmt: skip
    doc = json.loads(kubectl("get", "widget", "p", "-o", "json"))
    assert (doc["spec"]["colour"], doc["spec"]["until"]) == ("green", "2031-05-06")
    assert "deleted" in kubectl("delete", "widget", "p")
    out = kubectl("get", "widget", "p", check=False)
    assert 'widgets.example.lscsde.test "p" not found' in out


def test_scale_a_custom_resource(kubectl: Kubectl, widgets: None) -> None:
    """kubectl decodes the Scale it gets back: status.selector must be a string or absent."""
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(widget("scaled")))
    assert kubectl("scale", "widget", "scaled", "--replicas=3").strip() == (
        "widget.example.lscsde.test/scaled scaled"
    )
    path = "/apis/example.lscsde.test/v1/namespaces/default/widgets/scaled/scale"
    scale = json.loads(kubectl("get", "--raw", path))
    assert (scale["spec"], scale["status"]) == ({"replicas": 3}, {"replicas": 0})
    doc = json.loads(kubectl("get", "widget", "scaled", "-o", "json"))
    assert doc["spec"]["replicas"] == 3


def test_errors_print_as_from_a_real_server(kubectl: Kubectl, widgets: None) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(widget("e")))
    # Each cause's message leaves out its field, which kubectl prints once before it.
    out = kubectl("patch", "widget", "e", "--type=merge", "-p", '{"spec":{"colour":"blue"}}',
                  check=False)  # fmt: skip
    assert out.strip() == (
        'The Widget "e" is invalid: spec.colour: Unsupported value: "blue": supported values: '
        '"red", "green"'
    )
    # Server-side strict validation: the decoder's words.
    typo = widget("t", x=1)
    out = kubectl("create", "--validate=strict", "-f", "-", stdin=yaml.safe_dump(typo),
                  check=False)  # fmt: skip
    assert out.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Widget in version "v1" '
        'cannot be handled as a Widget: strict decoding error: unknown field "spec.x"'
    )
    # The default (Warn) keeps the object and warns, in a header kubectl can read.
    out = kubectl("patch", "widget", "e", "--type=merge", "-p", '{"spec":{"x":1}}', check=False)
    assert 'Warning: unknown field "spec.x"' in out


def test_get_watch_sees_a_change(kubectl: Kubectl, widgets: None) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(widget("watched")))
    proc = kubectl.popen("get", "widgets", "-w", "--request-timeout", "20s", merge_stderr=True)
    try:
        time.sleep(1.5)
        kubectl(
            "patch", "widget", "watched", "--type", "merge", "-p", '{"spec":{"colour":"green"}}'
        )
        deadline = time.monotonic() + 15
        seen = []
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if "green" in line:
                break
        assert any("watched" in s and "green" in s for s in seen), seen
    finally:
        proc.kill()
        proc.wait()


def test_pods_run_and_logs(kubectl: Kubectl) -> None:
    kubectl("run", "logger", "--image=busybox:1.36", "--port=8080")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pod = json.loads(kubectl("get", "pod", "logger", "-o", "json"))
        if pod["status"].get("phase") == "Running":
            break
        time.sleep(0.1)
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["podIP"].startswith("127.") and pod["status"]["podIP"] != "127.0.0.1"
    assert "busybox:1.36" in kubectl("logs", "logger")
    events = kubectl("get", "events", "--field-selector", "involvedObject.name=logger")
    assert "Started" in events and "Scheduled" in events
    kubectl("delete", "pod", "logger")
    assert "not found" in kubectl("get", "pod", "logger", check=False)
