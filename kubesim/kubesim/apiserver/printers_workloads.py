"""The Table columns and rows of the workload kinds, as the real printers make them
(pkg/printers/internalversion: printDeployment, printReplicaSet, printStatefulSet,
printDaemonSet, printReplicationController, printJob, printCronJob, printControllerRevision).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kubesim.apiserver.cells import Row, human_duration, metadata, parse_time, since
from kubesim.registry.labelselector import format_labels, format_selector, selector_string

Printer = Callable[[dict[str, Any], datetime], Row]
Column = dict[str, Any]
_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."


def _col(name: str, kind: str = "string", doc: str = "", *, wide: bool = False,
         fmt: str = "") -> Column:  # fmt: skip
    return {"name": name, "type": kind, "format": fmt, "description": doc,
            "priority": 1 if wide else 0}  # fmt: skip


_NAME = _col("Name", doc=_NAME_DOC, fmt="name")
_AGE = _col("Age", doc=_AGE_DOC)
_CONTAINERS = _col("Containers", doc=_CONTAINERS_DOC, wide=True)
_IMAGES = _col("Images", doc=_IMAGES_DOC, wide=True)


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj.get("spec") or {}
    return spec


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = obj.get("status") or {}
    return status


def _num(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _containers(template: Any) -> tuple[str, str]:
    """layoutContainerCells: names and images, comma-separated."""
    spec = (template or {}).get("spec") or {} if isinstance(template, dict) else {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    names = ",".join(str(c.get("name") or "") for c in containers)
    return names, ",".join(str(c.get("image") or "") for c in containers)


def _age(obj: dict[str, Any], now: datetime) -> str:
    return since(metadata(obj).get("creationTimestamp"), now)


def _deployment(obj: dict[str, Any], now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    names, images = _containers(spec.get("template"))
    selector = selector_string(spec.get("selector"))
    cells = [
        metadata(obj).get("name", ""),
        f"{_num(status.get('readyReplicas'))}/{_num(spec.get('replicas'))}",
        _num(status.get("updatedReplicas")),
        _num(status.get("availableReplicas")),
        _age(obj, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]
    return cells, None


def _replicaset(obj: dict[str, Any], now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    names, images = _containers(spec.get("template"))
    cells = [
        metadata(obj).get("name", ""),
        _num(spec.get("replicas")),
        _num(status.get("replicas")),
        _num(status.get("readyReplicas")),
        _age(obj, now),
        names,
        images,
        selector_string(spec.get("selector")) or "",
    ]
    return cells, None


def _rc(obj: dict[str, Any], now: datetime) -> Row:
    cells, conditions = _replicaset(obj, now)
    cells[-1] = format_labels(_spec(obj).get("selector"))
    return cells, conditions


def _statefulset(obj: dict[str, Any], now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    names, images = _containers(spec.get("template"))
    ready = f"{_num(status.get('readyReplicas'))}/{_num(spec.get('replicas'))}"
    return [metadata(obj).get("name", ""), ready, _age(obj, now), names, images], None


def _daemonset(obj: dict[str, Any], now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    template = spec.get("template") or {}
    names, images = _containers(template)
    node_selector = (template.get("spec") or {}).get("nodeSelector") if isinstance(
        template, dict) else None  # fmt: skip
    cells = [
        metadata(obj).get("name", ""),
        _num(status.get("desiredNumberScheduled")),
        _num(status.get("currentNumberScheduled")),
        _num(status.get("numberReady")),
        _num(status.get("updatedNumberScheduled")),
        _num(status.get("numberAvailable")),
        format_labels(node_selector),
        _age(obj, now),
        names,
        images,
        format_selector(spec.get("selector")),
    ]
    return cells, None


def _has(status: dict[str, Any], kind: str) -> bool:
    return any(
        isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _job_state(obj: dict[str, Any]) -> str:
    status = _status(obj)
    if _has(status, "Complete"):
        return "Complete"
    if _has(status, "Failed"):
        return "Failed"
    if metadata(obj).get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _has(status, kind):
            return kind
    return "Running"


def _job(obj: dict[str, Any], now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    names, images = _containers(spec.get("template"))
    succeeded = _num(status.get("succeeded"))
    if isinstance(spec.get("completions"), int):
        completions = f"{succeeded}/{spec['completions']}"
    elif _num(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    started, ended = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration((ended or now) - started)
    cells = [
        metadata(obj).get("name", ""),
        _job_state(obj),
        completions,
        duration,
        _age(obj, now),
        names,
        images,
        format_selector(spec.get("selector")),
    ]
    return cells, None


def _bool(value: Any) -> str:
    """printBoolPtr."""
    return "<unset>" if value is None else ("True" if value else "False")


def _cronjob(obj: dict[str, Any], now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    names, images = _containers(job_spec.get("template"))
    last = status.get("lastScheduleTime")
    cells = [
        metadata(obj).get("name", ""),
        spec.get("schedule") or "",
        spec.get("timeZone") or "<none>",
        _bool(spec.get("suspend")),
        len(status.get("active") or []),
        since(last, now) if last else "<none>",
        _age(obj, now),
        names,
        images,
        format_selector(job_spec.get("selector")),
    ]
    return cells, None


def _revision(obj: dict[str, Any], now: datetime) -> Row:
    controller = "<none>"
    for ref in metadata(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            kind = str(ref.get("kind") or "").lower()
            name = ref.get("name")
            controller = f"{kind}.{group}/{name}" if group else f"{kind}/{name}"
    cells = [metadata(obj).get("name", ""), controller, _num(obj.get("revision")), _age(obj, now)]
    return cells, None


_REPLICA_COLUMNS = [
    _NAME,
    _col("Desired", "integer", "Replicas is the number of desired replicas."),
    _col("Current", "integer", "Replicas is the most recently observed number of replicas."),
    _col("Ready", "integer", "readyReplicas is the number of pods targeted by this "
         "ReplicaSet with a Ready Condition."),
    _AGE, _CONTAINERS, _IMAGES,
    _col("Selector", doc="Selector is a label query over pods that should match the replica "
         "count.", wide=True),
]  # fmt: skip

PRINTERS: dict[tuple[str, str], tuple[list[Column], Printer]] = {
    ("apps", "deployments"): ([
        _NAME, _col("Ready", doc="Number of the pod with ready state"),
        _col("Up-to-date", doc="Total number of non-terminated pods targeted by this deployment "
             "that have the desired template spec."),
        _col("Available", doc="Total number of available pods (ready for at least "
             "minReadySeconds) targeted by this deployment."),
        _AGE, _CONTAINERS, _IMAGES,
        _col("Selector", doc="Label selector for pods. Existing ReplicaSets whose pods are "
             "selected by this will be the ones affected by this deployment.", wide=True),
    ], _deployment),
    ("apps", "replicasets"): (_REPLICA_COLUMNS, _replicaset),
    ("", "replicationcontrollers"): (_REPLICA_COLUMNS, _rc),
    ("apps", "statefulsets"): ([
        _NAME, _col("Ready", doc="Number of the pod with ready state"), _AGE, _CONTAINERS,
        _IMAGES,
    ], _statefulset),
    ("apps", "daemonsets"): ([
        _NAME,
        _col("Desired", "integer", "The total number of nodes that should be running the "
             "daemon pod (including nodes correctly running the daemon pod)."),
        _col("Current", "integer", "The number of nodes that are running at least 1 daemon pod "
             "and are supposed to run the daemon pod."),
        _col("Ready", "integer", "numberReady is the number of nodes that should be running the "
             "daemon pod and have one or more of the daemon pod running with a Ready Condition."),
        _col("Up-to-date", "integer", "The total number of nodes that are running updated "
             "daemon pod"),
        _col("Available", "integer", "The number of nodes that should be running the daemon pod "
             "and have one or more of the daemon pod running and available (ready for at least "
             "spec.minReadySeconds)"),
        _col("Node Selector", doc="NodeSelector is a selector which must be true for the pod to "
             "fit on a node."),
        _AGE, _CONTAINERS, _IMAGES,
        _col("Selector", doc="A label query over pods that are managed by the daemon set.",
             wide=True),
    ], _daemonset),
    ("batch", "jobs"): ([
        _NAME, _col("Status", doc="Status of the job."),
        _col("Completions", doc="The number of pods which reached phase Succeeded."),
        _col("Duration", doc="Time required to complete the job."), _AGE, _CONTAINERS, _IMAGES,
        _col("Selector", doc="A label query over pods that should match the pod count.",
             wide=True),
    ], _job),
    ("batch", "cronjobs"): ([
        _NAME, _col("Schedule", doc="The schedule in Cron format."),
        _col("Timezone", doc="The time zone name for the given schedule."),
        _col("Suspend", "boolean", "This flag tells the controller to suspend subsequent "
             "executions."),
        _col("Active", "integer", "A list of pointers to currently running jobs."),
        _col("Last Schedule", doc="Information when was the last time the job was successfully "
             "scheduled."),
        _AGE, _CONTAINERS, _IMAGES,
        _col("Selector", doc="A label query over pods that should match the pod count.",
             wide=True),
    ], _cronjob),
    ("apps", "controllerrevisions"): ([
        _NAME, _col("Controller", doc="Controller of the object"),
        _col("Revision", doc="Revision indicates the revision of the state represented by "
             "Data."),
        _AGE,
    ], _revision),
}  # fmt: skip
