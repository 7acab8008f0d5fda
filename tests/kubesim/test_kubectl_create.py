"""kubectl's imperative commands, whose typed clients send protobuf bodies, against kubesim.

Each `kubectl create ...` is run twice: with `--dry-run=client -o json`, which prints the object
as kubectl's Go types write it, and for real, which sends the same object in protobuf. The body
the server decoded must be that JSON exactly (same fields, values and order), and the object
stored must carry every field of it.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubesim import LocalCluster
from kubesim.apiserver import protobuf
from tests.support.kubectl import KUBECTL, Kubectl

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]

Decoded = list[dict[str, Any]]


@pytest.fixture(scope="module")
def decoded() -> Iterator[Decoded]:
    """Every protobuf body the server decodes while the module runs."""
    seen: Decoded = []
    real = protobuf.decode

    def spy(body: bytes, api_version: str, kind: str, *, custom: bool = False) -> Any:
        obj = real(body, api_version, kind, custom=custom)
        seen.append(obj)
        return obj

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(protobuf, "decode", spy)
        yield seen


@pytest.fixture(scope="module")
def kubectl(module_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(module_cluster, tmp_path_factory.mktemp("kubectl-home"))


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "tls.crt", where / "tls.key"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor openssl is available")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=x"],
            check=True, capture_output=True,
        )  # fmt: skip
        return cert, key
    import datetime

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubesim.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )  # fmt: skip
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def served(cluster: LocalCluster, group: str, plural: str) -> bool:
    assert cluster.api is not None
    return cluster.api.registry.get(group, "v1", plural) is not None


def covers(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Where the stored object lacks a field of the one sent (the server may add fields, and
    fill in an empty struct or a null it defaults)."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [f"{path}: {stored!r} is not an object"]
        out: list[str] = []
        for k, v in sent.items():
            if k not in stored and v is not None:
                out.append(f"{path}.{k}: missing")
            elif k in stored:
                out += covers(v, stored[k], f"{path}.{k}")
        return out
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [f"{path}: {stored!r} != {sent!r}"]
        return [e for i, v in enumerate(sent) for e in covers(v, stored[i], f"{path}[{i}]")]
    if sent is None:
        return []
    return [] if sent == stored else [f"{path}: {stored!r} != {sent!r}"]


def create_and_compare(
    kubectl: Kubectl, decoded: Decoded, args: list[str], resource: str, name: str
) -> dict[str, Any]:
    """Run `kubectl create <args>` dry and for real; check what was decoded and stored."""
    dry = json.loads(kubectl("create", "--dry-run=client", "-o", "json", *args))
    before = len(decoded)
    kubectl("create", *args)
    assert len(decoded) == before + 1, "kubectl did not send a protobuf body"
    # The decoded body is the Go JSON of kubectl's object: same fields, values, order.
    assert json.dumps(decoded[-1]) == json.dumps(dry)
    stored: dict[str, Any] = json.loads(kubectl("get", resource, name, "-o", "json"))
    # The server owns the creation time and resets the status of a new object.
    sent = {k: v for k, v in dry.items() if k != "status"}
    sent["metadata"] = {k: v for k, v in dry["metadata"].items() if k != "creationTimestamp"}
    assert covers(sent, stored) == []
    return stored


def test_create_configmap_and_secrets(
    kubectl: Kubectl, decoded: Decoded, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)))
    cm = create_and_compare(
        kubectl, decoded,
        ["configmap", "pb-cm", "--from-literal=a=1", "--from-literal=empty=",
         f"--from-file={binary}"],
        "configmap", "pb-cm",
    )  # fmt: skip
    assert cm["data"] == {"a": "1", "empty": ""}
    assert base64.b64decode(cm["binaryData"]["blob.bin"]) == bytes(range(256))

    generic = create_and_compare(
        kubectl, decoded,
        ["secret", "generic", "pb-generic", "--from-literal=user=admin", "--type=example/x"],
        "secret", "pb-generic",
    )  # fmt: skip
    assert (generic["type"], generic["data"]) == ("example/x", {"user": "YWRtaW4="})

    cert, key = tls_files
    tls = create_and_compare(
        kubectl, decoded, ["secret", "tls", "pb-tls", f"--cert={cert}", f"--key={key}"],
        "secret", "pb-tls",
    )  # fmt: skip
    assert tls["type"] == "kubernetes.io/tls"
    assert base64.b64decode(tls["data"]["tls.crt"]) == cert.read_bytes()

    registry = create_and_compare(
        kubectl, decoded,
        ["secret", "docker-registry", "pb-registry", "--docker-username=u",
         "--docker-password=p", "--docker-server=registry.example"],
        "secret", "pb-registry",
    )  # fmt: skip
    config = json.loads(base64.b64decode(registry["data"][".dockerconfigjson"]))
    assert set(config["auths"]) == {"registry.example"}


def test_create_services(kubectl: Kubectl, decoded: Decoded) -> None:
    svc = create_and_compare(
        kubectl, decoded, ["service", "clusterip", "pb-svc", "--tcp=80:8080", "--tcp=443:https"],
        "service", "pb-svc",
    )  # fmt: skip
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == [8080, "https"]
    assert svc["spec"]["clusterIP"]  # allocated by the server
    headless = create_and_compare(
        kubectl, decoded, ["service", "clusterip", "pb-headless", "--clusterip=None"],
        "service", "pb-headless",
    )  # fmt: skip
    assert headless["spec"]["clusterIP"] == "None"
    create_and_compare(
        kubectl, decoded, ["service", "externalname", "pb-ext", "--external-name=db.example"],
        "service", "pb-ext",
    )  # fmt: skip


def test_create_namespace_serviceaccount_and_rbac(kubectl: Kubectl, decoded: Decoded) -> None:
    create_and_compare(kubectl, decoded, ["namespace", "pb-ns"], "namespace", "pb-ns")
    create_and_compare(kubectl, decoded, ["serviceaccount", "pb-sa"], "serviceaccount", "pb-sa")
    role = create_and_compare(
        kubectl, decoded, ["role", "pb-role", "--verb=get,list", "--resource=pods,pods/log"],
        "role", "pb-role",
    )  # fmt: skip
    assert role["rules"][0]["verbs"] == ["get", "list"]
    create_and_compare(
        kubectl, decoded, ["rolebinding", "pb-rb", "--role=pb-role", "--user=bob"],
        "rolebinding", "pb-rb",
    )  # fmt: skip


def test_create_invalid_objects_get_the_servers_field_errors(kubectl: Kubectl) -> None:
    out = kubectl("create", "configmap", "Pb-Upper", "--from-literal=a=1", check=False)
    assert 'ConfigMap "Pb-Upper" is invalid: metadata.name: Invalid value: "Pb-Upper"' in out
    out = kubectl("create", "service", "clusterip", "pb-port", "--tcp=0:80", check=False)
    assert "spec.ports[0].port: Invalid value: 0" in out


def _workload(module_cluster: LocalCluster, group: str, plural: str) -> None:
    if not served(module_cluster, group, plural):
        pytest.skip(f"{plural}.{group} are not served yet")


def test_create_deployment_then_label_annotate_and_scale(
    module_cluster: LocalCluster, kubectl: Kubectl, decoded: Decoded
) -> None:
    _workload(module_cluster, "apps", "deployments")
    dep = create_and_compare(
        kubectl, decoded, ["deployment", "pb-dep", "--image=x", "--replicas=2", "--port=8080"],
        "deployment", "pb-dep",
    )  # fmt: skip
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 8080, "protocol": "TCP"}
    ]
    kubectl("label", "deployment", "pb-dep", "tier=web")
    kubectl("annotate", "deployment", "pb-dep", "note=hello")
    kubectl("scale", "deployment", "pb-dep", "--replicas=3")
    got = json.loads(kubectl("get", "deployment", "pb-dep", "-o", "json"))
    assert got["metadata"]["labels"]["tier"] == "web"
    assert got["metadata"]["annotations"]["note"] == "hello"
    assert got["spec"]["replicas"] == 3


def test_create_job_and_cronjob(
    module_cluster: LocalCluster, kubectl: Kubectl, decoded: Decoded
) -> None:
    _workload(module_cluster, "batch", "jobs")
    job = create_and_compare(
        kubectl, decoded, ["job", "pb-job", "--image=busybox", "--", "echo", "hi"],
        "job", "pb-job",
    )  # fmt: skip
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    _workload(module_cluster, "batch", "cronjobs")
    cron = create_and_compare(
        kubectl, decoded, ["cronjob", "pb-cron", "--image=busybox", "--schedule=0 3 * * *"],
        "cronjob", "pb-cron",
    )  # fmt: skip
    assert cron["spec"]["schedule"] == "0 3 * * *"


# A pod template with most kinds of field: int64 pointers, quantities, int-or-string ports,
# probes, env sources, inline volume sources, tolerations, affinity.
RICH_POD: dict[str, Any] = {
    "securityContext": {"supplementalGroups": [1, 2], "runAsUser": 0, "fsGroup": 100},
    "restartPolicy": "OnFailure",
    "containers": [{
        "name": "c", "image": "nginx", "args": ["a"],
        "ports": [{"containerPort": 80, "name": "http"}],
        "resources": {"limits": {"cpu": "1500m", "memory": "1024Mi"}, "requests": {"cpu": "0.5"}},
        "readinessProbe": {"httpGet": {"port": "http", "path": "/"}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": 80}},
        "env": [{"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "E", "value": ""}],
        "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": True}],
    }],
    "volumes": [
        {"name": "v", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "s", "secret": {"secretName": "x", "defaultMode": 420, "optional": False}},
        {"name": "p", "projected": {"sources": [
            {"configMap": {"name": "c", "items": [{"key": "a", "path": "b"}]}}]}},
    ],
    "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 30,
                     "effect": "NoExecute"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "a", "operator": "In", "values": ["b"]}]}]}}},
}  # fmt: skip


def test_create_job_from_a_cronjob_with_a_rich_pod_template(
    module_cluster: LocalCluster, kubectl: Kubectl, decoded: Decoded
) -> None:
    """`create job --from=cronjob/...` sends the stored template back in protobuf."""
    _workload(module_cluster, "batch", "cronjobs")
    cron = {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "pb-rich"},
        "spec": {"schedule": "0 0 * * *", "jobTemplate": {
            "metadata": {"labels": {"t": "1"}},
            "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 100,
                     "template": {"metadata": {"labels": {"p": "1"}}, "spec": RICH_POD}}}},
    }  # fmt: skip
    kubectl("apply", "-f", "-", stdin=json.dumps(cron))
    job = create_and_compare(
        kubectl, decoded, ["job", "pb-from-cron", "--from=cronjob/pb-rich"], "job", "pb-from-cron"
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "1500m", "memory": "1Gi"}
    assert container["readinessProbe"]["httpGet"]["port"] == "http"
    assert job["metadata"]["ownerReferences"][0]["name"] == "pb-rich"


def test_label_and_annotate_configmaps(kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "pb-labels")
    kubectl("label", "configmap", "pb-labels", "a=1", "b=2")
    kubectl("label", "configmap", "pb-labels", "b-")
    kubectl("annotate", "configmap", "pb-labels", "note=x")
    got = json.loads(kubectl("get", "configmap", "pb-labels", "-o", "json"))
    assert got["metadata"]["labels"] == {"a": "1"}
    assert got["metadata"]["annotations"] == {"note": "x"}
