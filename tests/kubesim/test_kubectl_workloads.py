"""The real kubectl against the workload kinds: apply, the `get` tables (and -o wide), scale,
rollout status/history/undo, describe, and deletes that cascade."""

from __future__ import annotations

import time

import pytest
import yaml

from kubesim import LocalCluster
from tests.support.kubectl import KUBECTL, Kubectl
from tests.support.workloads import cronjob, daemonset, deployment, job, statefulset

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]


@pytest.fixture(scope="module")
def kubectl(module_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(module_cluster, tmp_path_factory.mktemp("kubectl-home"))


def table(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_deployment_lifecycle_with_kubectl(kubectl: Kubectl) -> None:
    manifest = yaml.safe_dump(deployment("web", replicas=2))
    assert kubectl("apply", "-f", "-", stdin=manifest).strip() == "deployment.apps/web created"
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=manifest)
    out = kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert out.strip().endswith('deployment "web" successfully rolled out')
    rows = table(kubectl("get", "deploy", "web"))
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[1][:4] == ["web", "2/2", "2", "2"]
    wide = table(kubectl("get", "deploy", "web", "-o", "wide"))
    assert wide[0][-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1][-3:] == ["main", "nginx:1.25", "app=web"]
    rs_rows = table(kubectl("get", "rs", "-l", "app=web", "-o", "wide"))
    assert rs_rows[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES",
                          "SELECTOR"]  # fmt: skip
    assert rs_rows[1][1:4] == ["2", "2", "2"]
    assert rs_rows[1][-1].startswith("app=web,pod-template-hash=")

    assert kubectl("scale", "deploy/web", "--replicas=3").strip() == "deployment.apps/web scaled"
    kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert table(kubectl("get", "deploy", "web"))[1][1] == "3/3"
    kubectl("set", "image", "deployment/web", "main=nginx:1.26")
    kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    history = table(kubectl("rollout", "history", "deployment/web"))
    assert history[1:] == [["REVISION", "CHANGE-CAUSE"], ["1", "<none>"], ["2", "<none>"]]
    assert "rolled back" in kubectl("rollout", "undo", "deployment/web")
    kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    image = kubectl(
        "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    )
    assert image == "nginx:1.25"
    assert [r[0] for r in table(kubectl("rollout", "history", "deployment/web"))[2:]] == ["2", "3"]

    described = kubectl("describe", "deployment", "web")
    assert (
        "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable"
        in described
    )
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in described
    assert "Available      True    MinimumReplicasAvailable" in described
    assert "Progressing    True    NewReplicaSetAvailable" in described
    assert "NewReplicaSet:   web-" in described and "(3/3 replicas created)" in described
    assert "ScalingReplicaSet" in described and "deployment-controller" in described

    assert kubectl("delete", "deploy", "web").strip() == 'deployment.apps "web" deleted'
    deadline = time.monotonic() + 10
    while kubectl("get", "rs,pods", "-l", "app=web", "-o", "name").strip():
        assert time.monotonic() < deadline, "the replica sets and pods were not collected"
        time.sleep(0.1)


def test_get_tables_of_every_workload_kind(kubectl: Kubectl) -> None:
    docs = [statefulset("db", replicas=1), daemonset("agent"), job("once"),
            cronjob("nightly", schedule="0 3 * * *", timeZone="Europe/London"),
            {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "old"},
             "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "old"}},
                      "spec": {"containers": [{"name": "main", "image": "nginx"}]}}}}]  # fmt: skip
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    kubectl("rollout", "status", "statefulset/db", "--timeout=30s")
    kubectl("rollout", "status", "daemonset/agent", "--timeout=30s")
    tables = {}
    for kind in ("sts", "ds", "rc", "job", "cj"):
        tables[kind] = table(kubectl("get", kind))
    assert tables["sts"] == [["NAME", "READY", "AGE"], ["db", "1/1", tables["sts"][1][2]]]
    assert tables["ds"][0] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE",
                               "NODE", "SELECTOR", "AGE"]  # fmt: skip
    assert tables["ds"][1][:7] == ["agent", "1", "1", "1", "1", "1", "<none>"]
    assert tables["rc"][0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert tables["job"][0] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert tables["job"][1][:3] == ["once", "Running", "0/1"]
    assert tables["cj"][0] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE",
                               "LAST", "SCHEDULE", "AGE"]  # fmt: skip
    assert tables["cj"][1][:6] == ["nightly", "0", "3", "*", "*", "*"]
    assert tables["cj"][1][6:10] == ["Europe/London", "False", "0", "<none>"]
    names = kubectl("get", "all", "-o", "name").split()
    for expected in ("statefulset.apps/db", "daemonset.apps/agent", "job.batch/once",
                     "cronjob.batch/nightly", "replicationcontroller/old"):  # fmt: skip
        assert expected in names
    revisions = table(kubectl("get", "controllerrevisions", "-l", "app=db"))
    assert revisions[0] == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert revisions[1][1:3] == ["statefulset.apps/db", "1"]
    kubectl("delete", "sts/db", "ds/agent", "rc/old", "cj/nightly")
    kubectl("delete", "job/once", "--cascade=background")
