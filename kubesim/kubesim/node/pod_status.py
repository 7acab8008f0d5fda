"""Pod status as a real kubelet reports it: conditions, container states, phase, QoS class.

Pure functions over pod dicts; the simulated kubelet (kubelet.py) decides when to apply them.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from kubesim.apiserver.api import now_rfc3339
from kubesim.registry.errors import bad_request
from kubesim.registry.pod_resources import qos_class

HOST_IP = "127.0.0.1"
TERMINAL = ("Succeeded", "Failed")
CONDITION_ORDER = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)

Status = dict[str, Any]


def uid(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("uid", ""))


def drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in ("", None)}


def find_condition(pod: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def set_condition(
    pod: dict[str, Any], kind: str, ok: bool, reason: str = "", message: str = ""
) -> None:
    """Set a condition in pod["status"]; lastTransitionTime stays while its status does."""
    status = pod.setdefault("status", {})
    value = "True" if ok else "False"
    old = find_condition(pod, kind)
    same = old is not None and old.get("status") == value and old.get("lastTransitionTime")
    cond: dict[str, Any] = {
        "type": kind,
        "status": value,
        "lastProbeTime": None,
        "lastTransitionTime": old["lastTransitionTime"] if old and same else now_rfc3339(),
        **drop_empty({"reason": reason, "message": message}),
    }
    others = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    status["conditions"] = sorted(
        [*others, cond],
        key=lambda c: CONDITION_ORDER.index(c["type"]) if c["type"] in CONDITION_ORDER else 9,
    )


def initial_statuses(
    pod: dict[str, Any], *, fresh: bool
) -> tuple[dict[str, Status], dict[str, Status]]:
    """(containers, init containers) by name: the stored statuses, or fresh waiting ones."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    out = []
    for kind, stored_key, waiting in (
        ("containers", "containerStatuses", "ContainerCreating"),
        ("initContainers", "initContainerStatuses", "PodInitializing"),
    ):
        stored = {s.get("name"): s for s in status.get(stored_key) or []}
        by_name: dict[str, Status] = {}
        for c in spec.get(kind) or []:
            image = c.get("image", "")
            st: Status = {
                "name": c["name"],
                "image": image,
                "imageID": image_id(image),
                "containerID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": waiting}},
                "lastState": {},
            }
            if not fresh and c["name"] in stored:
                st.update(copy.deepcopy(stored[c["name"]]))
            by_name[c["name"]] = st
        out.append(by_name)
    return out[0], out[1]


def image_id(image: str) -> str:
    """A plausible imageID: the fully qualified repository with a (made-up) digest."""
    repo = image.split("@")[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]  # drop the tag
    first = repo.split("/")[0]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    elif "." not in first and ":" not in first and first != "localhost":
        repo = f"docker.io/{repo}"
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def terminated_state(st: Status, exit_code: int, reason: str = "", message: str = "") -> Status:
    """state.terminated for a container that was running as `st` describes."""
    running = (st.get("state") or {}).get("running") or {}
    now = now_rfc3339()
    return drop_empty(
        {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "message": message,
            "startedAt": running.get("startedAt", now),
            "finishedAt": now,
            "containerID": st.get("containerID", ""),
        }
    )


def pod_phase(policy: str, inits: list[Status], statuses: list[Status], terminating: bool) -> str:
    """The pod phase from its container states, as the kubelet's getPhase computes it."""
    for st in inits:
        term = st["state"].get("terminated")
        if term and term.get("exitCode") != 0 and policy == "Never":
            return "Failed"
        if not term or term.get("exitCode") != 0:
            return "Failed" if terminating else "Pending"
    waiting = running = stopped = succeeded = 0
    for st in statuses:
        state = st["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif (st.get("lastState") or {}).get("terminated"):
            stopped += 1  # waiting to be restarted after an exit
        else:
            waiting += 1
    if terminating:  # since Kubernetes 1.27 a deleted pod ends in a terminal phase
        return "Succeeded" if stopped == succeeded and not waiting else "Failed"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def build_status(
    pod: dict[str, Any],
    statuses: dict[str, Status],
    init_statuses: dict[str, Status],
    *,
    ip: str,
    sandbox: bool,
    terminating: bool = False,
) -> Status:
    """The whole pod status for the given container statuses (keys in spec order)."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    app = [statuses[c["name"]] for c in spec.get("containers") or []]
    init = [init_statuses[c["name"]] for c in spec.get("initContainers") or []]
    phase = old.get("phase")
    if phase not in TERMINAL:  # terminal phases are final
        phase = pod_phase(spec.get("restartPolicy") or "Always", init, app, terminating)
    not_ready = [s["name"] for s in app if not s["ready"]]
    not_init = [s["name"] for s in init if not s["ready"]]
    ready: tuple[bool, str, str] = (True, "", "")
    if phase == "Succeeded":
        ready = (False, "PodCompleted", "")
    elif not_ready:
        ready = (False, "ContainersNotReady", f"containers with unready status: {_list(not_ready)}")
    new = {**pod, "status": copy.deepcopy(old)}
    set_condition(new, "PodReadyToStartContainers", sandbox and phase not in TERMINAL)
    if not_init:
        message = f"containers with incomplete status: {_list(not_init)}"
        set_condition(new, "Initialized", False, "ContainersNotInitialized", message)
    else:
        set_condition(new, "Initialized", True)
    set_condition(new, "Ready", *ready)
    set_condition(new, "ContainersReady", *ready)
    set_condition(new, "PodScheduled", True)
    status: Status = new["status"]
    status.update(
        phase=phase,
        hostIP=HOST_IP,
        hostIPs=[{"ip": HOST_IP}],
        startTime=old.get("startTime") or now_rfc3339(),
        qosClass=qos_class(spec),
        containerStatuses=copy.deepcopy(app),
    )
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    if init:
        status["initContainerStatuses"] = copy.deepcopy(init)
    return status


def _list(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"  # Go's %v of a string slice


def check_log_access(pod: dict[str, Any], container: str, *, previous: bool) -> bool:
    """Whether a container has logs to read; raises 400 where the real kubelet refuses.

    False means an empty answer: the API server returns no lines for an unscheduled pod.
    """
    name = pod["metadata"]["name"]
    if not (pod.get("spec") or {}).get("nodeName"):
        return False
    status = pod.get("status") or {}
    found = [
        s
        for s in (status.get("containerStatuses") or [])
        + (status.get("initContainerStatuses") or [])
        if s.get("name") == container
    ]
    st = found[0] if found else {"state": {"waiting": {"reason": "ContainerCreating"}}}
    state, last = st.get("state") or {}, (st.get("lastState") or {}).get("terminated")
    where = f'container "{container}" in pod "{name}"'
    if previous:
        if not last or not last.get("containerID"):
            raise bad_request(f"previous terminated {where} not found")
        return True
    if "running" in state or "terminated" in state or last:
        return True
    if "waiting" in state:
        reason = state["waiting"].get("reason", "")
        reason = {
            "ErrImagePull": "image can't be pulled",
            "ImagePullBackOff": "trying and failing to pull image",
        }.get(reason, reason)
        raise bad_request(f"{where} is waiting to start: {reason}")
    raise bad_request(f"{where} is waiting to start - no logs yet")
