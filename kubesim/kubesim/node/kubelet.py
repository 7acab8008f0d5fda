"""A simulated node for the embedded API: scheduler, kubelet and PersistentVolumeClaim binder.

The node watches pods and PVCs through the store (like an informer) and writes back through
`Api.system_write`, so clients see the status changes, events and watch traffic of a real
single-node cluster. Containers are run by a pluggable `ContainerRuntime` (runtimes/base.py):
`StubRuntime` serves each container port with a tiny HTTP responder; `ProcessRuntime` runs the
real commands. Pod IPs come from pod_ips.py; the API server reads logs through `Kubelet.logs`.

Work is level-triggered and serialised per pod: a change only marks the pod dirty, and one
worker per pod re-reads the stored object and does what it needs now. A failure is logged and
the pod retried later; it never stops the node.

Simplifications: one node that fits every pod (nodeSelector, affinity, taints and resources are
not considered); PersistentVolumes are not served (controllers.py); startup and readiness probes
run (probes.py), liveness probes do not; init containers run inside `start_pod` and are not
retried; Linux routes all of 127.0.0.0/8 to loopback, other systems may need aliases for pod IPs.
Exec, attach and portforward are served to the API server by streams.py.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from kubesim.apiserver.admission import WriteOptions
from kubesim.apiserver.api import Api, now_rfc3339
from kubesim.apiserver.store import Subscription, object_key
from kubesim.node.controllers import Writer, bind_claim, schedule_pod
from kubesim.node.pod_ips import POD_IPS, tcp_ports
from kubesim.node.pod_status import (
    TERMINAL,
    Status,
    build_status,
    check_log_access,
    drop_empty,
    initial_statuses,
    terminated_state,
    uid,
)
from kubesim.node.probes import PROBES, Prober, initial_flags, probe_exec
from kubesim.node.registration import conditions, node_labels, node_object
from kubesim.registry.errors import ApiError
from kubesim.registry.pod_resources import qos_class
from kubesim.registry.quantities import parse_quantity
from kubesim.runtimes.base import (
    ContainerExit,
    ContainerResult,
    ContainerRuntime,
    ExitHandler,
    read_logs,
)
from kubesim.runtimes.stub import StubRuntime

log = logging.getLogger(__name__)
MANAGER = "kubelet"  # the field manager its writes are recorded as, as on a real node

Key = tuple[str, str]  # (namespace, name)
PODS = ("", "pods")
PVCS = ("", "persistentvolumeclaims")
MAX_BACKOFF = 300  # seconds, the kubelet's cap on CrashLoopBackOff
CONFIG_ERROR = "CreateContainerConfigError"
CONFIG_RETRY = 2.0  # seconds until a container that could not be configured is tried again


@dataclass
class _Run:
    """A pod this node has started; its container statuses are the kubelet's truth."""

    uid: str
    ip: str
    pod: dict[str, Any]  # the latest version seen
    statuses: dict[str, Status]
    init_statuses: dict[str, Status]
    exits: list[ContainerExit] = field(default_factory=list)
    restart_at: dict[str, float] = field(default_factory=dict)  # container -> loop time
    probers: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # probes.py
    stopped: bool = False


class Kubelet:
    """Scheduler, kubelet and PVC binder of the single node `node_name`."""

    def __init__(
        self,
        api: Api,
        runtime: ContainerRuntime | None = None,
        node_name: str = "local-node",
        *,
        resync_interval: float = 10.0,
        shutdown_grace: float = 0.0,
        heartbeat_interval: float = 60.0,
    ) -> None:
        if runtime is None:
            runtime = StubRuntime()
        self.api = api
        self.runtime = runtime
        self.node_name = node_name
        self.resync_interval = resync_interval  # retry of unschedulable and failed pods
        self.shutdown_grace = shutdown_grace  # for each pod's containers when the node stops
        self.heartbeat_interval = heartbeat_interval  # renewal of the Node's conditions
        self.writer = Writer(api, node_name)
        self._runs: dict[Key, _Run] = {}
        self._workers: dict[Key, asyncio.Task[None]] = {}
        self._dirty: set[Key] = set()
        self._retry: set[Key] = set()
        self._subs: dict[tuple[str, str], Subscription] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._started = False
        runtime.set_exit_handler(self._container_exited)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        # Subscribe before listing, so nothing between the two is missed.
        for key in (PVCS, PODS):
            self._subs[key] = self.api.store.subscribe(key, None)
        self._register_node()
        self._resync()
        self._tasks = [
            asyncio.create_task(self._pump(PVCS)),
            asyncio.create_task(self._pump(PODS)),
            asyncio.create_task(self._resync_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]

    async def stop(self) -> None:
        """Stop every pod's containers; stored objects stay as they are (a node going down)."""
        if not self._started:
            return
        self._started = False
        for sub in self._subs.values():
            sub.close()
        for timer in self._timers:
            timer.cancel()
        tasks = [*self._tasks, *self._workers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(
            *(self._stop_runtime(run, self.shutdown_grace) for run in self._runs.values())
        )
        for run in self._runs.values():
            POD_IPS.release(run.ip)
        self._runs.clear()
        self._workers.clear()
        self._dirty.clear()
        self._timers.clear()
        await self.runtime.close()

    # -- the Node object ---------------------------------------------------------------------

    def _register_node(self) -> None:
        """Create this node's Node, or bring an existing one (from a data dir) up to date."""
        rt = self.api.registry.get("", "v1", "nodes")
        assert rt is not None
        fresh = node_object(self.node_name, self.runtime, now_rfc3339())
        for _ in range(10):
            current = self.api.store.get(rt.storage_key, None, self.node_name)
            try:
                if current is None:
                    self.api.create(rt, None, fresh, WriteOptions(manager=MANAGER))
                    return
                new = copy.deepcopy(current)
                meta = new["metadata"]
                meta["labels"] = {**(meta.get("labels") or {}), **node_labels(self.node_name)}
                new["status"] = fresh["status"]
                self.api.system_write(rt, new, manager=MANAGER)
                return
            except ApiError as e:
                if e.code not in (404, 409):
                    raise

    def heartbeat(self) -> None:
        """The periodic node status report: renew the conditions' lastHeartbeatTime."""
        rt = self.api.registry.get("", "v1", "nodes")
        assert rt is not None
        for _ in range(10):
            current = self.api.store.get(rt.storage_key, None, self.node_name)
            if current is None:
                self._register_node()  # deleted: register again
                return
            new = copy.deepcopy(current)
            status = new.setdefault("status", {})
            since = {
                c.get("type", ""): c.get("lastTransitionTime", "")
                for c in status.get("conditions") or []
                if isinstance(c, dict) and c.get("lastTransitionTime")
            }
            status["conditions"] = conditions(now_rfc3339(), since)
            try:
                self.api.system_write(rt, new, manager=MANAGER, subresource="status")
                return
            except ApiError as e:
                if e.code not in (404, 409):
                    raise

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                self.heartbeat()
            except Exception:
                log.exception("kubelet: updating node %s failed", self.node_name)

    def _resync(self) -> None:
        for pvc in self.api.store.items(PVCS):
            bind_claim(self.writer, pvc)
        for pod in self.api.store.items(PODS):
            self._kick(object_key(pod))

    async def _pump(self, key: tuple[str, str]) -> None:
        while self._started:
            change = await self._subs[key].queue.get()
            if change is None:
                if not self._started or self._subs[key].close_reason == "server shutting down":
                    return
                # Dropped (e.g. too slow): watch again and re-list, as an informer would.
                self._subs[key] = self.api.store.subscribe(key, None)
                self._resync()
                continue
            try:
                if key == PODS:
                    self._kick(object_key(change.obj))
                elif change.type != "DELETED":
                    bind_claim(self.writer, change.obj)
                    # A claim appeared or changed: retry the pods waiting for one.
                    ns = change.obj["metadata"].get("namespace") or ""
                    for pod_key in [k for k in self._retry if k[0] == ns]:
                        self._kick(pod_key)
            except Exception:
                log.exception("kubelet: handling a %s change failed", key[1])

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_interval)
            for key in list(self._retry):
                self._kick(key)

    def _kick(self, key: Key) -> None:
        if not self._started:
            return
        self._dirty.add(key)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key))

    def _kick_later(self, delay: float, key: Key) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            self._kick(key)

        timer = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(timer)

    async def _work(self, key: Key) -> None:
        try:
            while key in self._dirty and self._started:
                self._dirty.discard(key)
                self._retry.discard(key)
                try:
                    await self._reconcile(key)
                except Exception:
                    log.exception("kubelet: processing pod %s/%s failed; will retry", *key)
                    self._retry.add(key)
        finally:
            self._workers.pop(key, None)

    def _container_exited(self, ex: ContainerExit) -> None:
        run = self._runs.get((ex.namespace, ex.pod))
        if run is not None and run.uid == ex.uid:
            run.exits.append(ex)
            self._kick((ex.namespace, ex.pod))

    # -- per pod ---------------------------------------------------------------------------

    async def _reconcile(self, key: Key) -> None:
        pod = self.api.store.get(PODS, key[0], key[1])
        run = self._runs.get(key)
        if run is not None and (pod is None or uid(pod) != run.uid):
            await self._halt(key, run)  # deleted with grace 0, or replaced by a namesake
            run = None
        if pod is None:
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if pod["metadata"].get("deletionTimestamp"):
            if node == self.node_name:
                await self._terminate(key, pod, run)
        elif not node:
            if not schedule_pod(self.writer, key, pod):
                self._retry.add(key)
        elif node != self.node_name:
            return  # bound to a node that does not exist: Pending forever, as on a real cluster
        elif run is None:
            if (pod.get("status") or {}).get("phase") not in TERMINAL:
                await self._start(key, pod)
        elif not run.stopped:
            run.pod = pod
            await self._sync_containers(key, run)

    async def _start(self, key: Key, pod: dict[str, Any]) -> None:
        status = pod.get("status") or {}
        ip = status.get("podIP")
        resumed = bool(ip) and status.get("phase") == "Running"  # the node restarted
        if ip and not POD_IPS.claim(ip):
            log.warning("kubelet: pod IP %s of %s/%s is in use; assigning another", ip, *key)
            ip = None
        if not ip:
            # Never the IP of a pod that still exists, whatever its phase (e.g. from disk).
            taken = {(p.get("status") or {}).get("podIP") for p in self.api.store.items(PODS)}
            ip = POD_IPS.allocate({t for t in taken if t}, tcp_ports(pod))
        run = _Run(uid(pod), ip, pod, *initial_statuses(pod, fresh=not resumed))
        self._runs[key] = run
        if not resumed:
            self._write_status(key, run)  # Pending, ContainerCreating, with its IP
        try:
            results = await self.runtime.start_pod(pod, ip)
        except Exception as e:
            log.exception("kubelet: the runtime failed to start pod %s/%s", *key)
            results = {}
            failure = ContainerResult.waiting("CreateContainerError", str(e) or type(e).__name__)
        else:
            failure = ContainerResult.waiting("CreateContainerError", "not started by the runtime")
        for kind in ("initContainers", "containers"):
            for c in (pod.get("spec") or {}).get(kind) or []:
                result = results.get(c["name"]) or failure
                self._apply(run, kind, c, result, pulled=not resumed)
        await self._sync_containers(key, run)

    def _apply(
        self, run: _Run, kind: str, c: dict[str, Any], r: ContainerResult, *, pulled: bool
    ) -> None:
        """Record one start result in the container's status, with the kubelet's events."""
        name, image = c["name"], c.get("image", "")
        path = f"spec.{kind}{{{name}}}"
        st = (run.init_statuses if kind == "initContainers" else run.statuses)[name]
        event = self.writer.event
        if pulled:
            event(run.pod, "Pulling", f'Pulling image "{image}"', path=path)
            pulled_message = (
                f'Successfully pulled image "{image}" in 0s (0s including waiting). '
                "Image size: 0 bytes."
            )
            event(run.pod, "Pulled", pulled_message, path=path)
        failed = f"Error: {r.message or r.reason}"
        if r.state == "waiting":
            waiting = drop_empty({"reason": r.reason, "message": r.message})
            st.update(ready=False, started=False, state={"waiting": waiting})
            event(run.pod, "Failed", failed, kind="Warning", path=path)
            return
        running = {"running": {"startedAt": now_rfc3339()}}
        started, ready = initial_flags(c) if kind == "containers" else (True, True)
        st.update(containerID=r.container_id, ready=ready, started=started, state=running)
        if kind == "containers" and r.state == "running":
            self._probe(run, c, r.container_id)
        event(run.pod, "Created", f"Created container: {name}", path=path)
        if r.reason == "StartError":
            event(run.pod, "Failed", failed, kind="Warning", path=path)
        else:
            event(run.pod, "Started", f"Started container {name}", path=path)
        if kind == "initContainers":
            done = r.state == "terminated" and r.exit_code == 0
            term = terminated_state(st, r.exit_code, r.reason, r.message)
            st.update(ready=done, started=False, state={"terminated": term})
        elif r.state == "terminated":
            ns, pod_name = object_key(run.pod)
            exit_ = ContainerExit(ns, pod_name, run.uid, name, r.exit_code, r.reason, r.message)
            run.exits.append(exit_)

    async def _sync_containers(self, key: Key, run: _Run) -> None:
        """Apply container exits and due restarts (restartPolicy), then write the status."""
        spec = run.pod.get("spec") or {}
        policy = spec.get("restartPolicy") or "Always"
        loop = asyncio.get_running_loop()
        exits, run.exits = run.exits, []
        for ex in exits:
            st = run.statuses.get(ex.container)
            if st is None or "running" not in st["state"]:
                continue  # a stale report
            term = terminated_state(st, ex.exit_code, ex.reason, ex.message)
            if not (policy == "Always" or (policy == "OnFailure" and ex.exit_code != 0)):
                st.update(state={"terminated": term}, ready=False, started=False)
                continue
            st["restartCount"] += 1
            # The first restart is immediate, then 10s, 20s, ... up to 5 minutes.
            n = st["restartCount"]
            delay = 0 if n == 1 else min(10 * 2 ** (n - 2), MAX_BACKOFF)
            who = f"{key[1]}_{key[0]}({run.uid})"
            message = f"back-off {delay}s restarting failed container={ex.container} pod={who}"
            waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
            st.update(lastState={"terminated": term}, ready=False, started=False, state=waiting)
            run.restart_at[ex.container] = loop.time() + delay
            if delay:
                self._kick_later(delay, key)
                message = f"Back-off restarting failed container {ex.container} in pod {who}"
                path = f"spec.containers{{{ex.container}}}"
                self.writer.event(run.pod, "BackOff", message, kind="Warning", path=path)
        for c in spec.get("containers") or []:
            waiting = run.statuses[c["name"]]["state"].get("waiting") or {}
            if waiting.get("reason") == CONFIG_ERROR and c["name"] not in run.restart_at:
                # Tried again on a later sync: the secret or config map may exist by then
                # (KubeSpawner creates a pod's certificate secret after the pod).
                run.restart_at[c["name"]] = loop.time() + CONFIG_RETRY
                self._kick_later(CONFIG_RETRY, key)
        for c in spec.get("containers") or []:
            due = run.restart_at.get(c["name"])
            if due is not None and due <= loop.time():
                del run.restart_at[c["name"]]
                result = await self.runtime.restart_container(run.pod, run.ip, c["name"])
                self._apply(run, "containers", c, result, pulled=False)
        if run.exits:
            self._kick(key)  # a restarted container exited at once
        pod = self._write_status(key, run)
        if pod is not None and pod["status"].get("phase") in TERMINAL:
            await self._stop_runtime(run, 0)  # frees its ports; logs stay readable

    async def _terminate(self, key: Key, pod: dict[str, Any], run: _Run | None) -> None:
        """A graceful delete: stop the containers, write the final status, remove the pod."""
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        if run is None:  # e.g. marked for deletion while the node was down: nothing runs
            run = _Run(uid(pod), "", pod, *initial_statuses(pod, fresh=False), stopped=True)
        else:
            run.pod = pod
            if not run.stopped:
                self._kill_events(run)
            await self._stop_runtime(run, grace)
        reported = {ex.container: ex for ex in run.exits}  # exit codes seen while stopping
        run.exits = []
        for name, st in run.statuses.items():
            state = st["state"]
            if "running" in state:
                ex = reported.get(name)
                code, why = (ex.exit_code, ex.reason) if ex else (0, "")
                state = {"terminated": terminated_state(st, code, why)}
            elif "waiting" in state:  # never started: what a real kubelet reports then
                message = "The container could not be located when the pod was terminated"
                term = terminated_state(st, 137, "ContainerStatusUnknown", message)
                state = {"terminated": term}
            st.update(state=state, ready=False, started=False)
        finalizers = bool(pod["metadata"].get("finalizers"))

        def final(p: dict[str, Any]) -> None:
            p["status"] = self._status(p, run, terminating=True)
            if finalizers:  # the kubelet's grace-0 delete: the API removes it with the last one
                p["metadata"]["deletionGracePeriodSeconds"] = 0

        stored = self.writer.update(self.writer.pods, key, run.uid, final)
        if stored is not None and not finalizers:
            self.api.force_remove(self.writer.pods, key[0], key[1])
        await self._forget(key, run)

    def _kill_events(self, run: _Run) -> None:
        for name, st in run.statuses.items():
            if "running" in st["state"]:
                path = f"spec.containers{{{name}}}"
                self.writer.event(run.pod, "Killing", f"Stopping container {name}", path=path)

    def _probe(self, run: _Run, c: dict[str, Any], container_id: str) -> None:
        """Run the container's startup and readiness probes while this instance runs."""
        name = c["name"]
        old = run.probers.pop(name, None)
        if old is not None:
            old.cancel()
        if not any(c.get(p) for p in PROBES):
            return
        key = object_key(run.pod)

        def changed(started: bool, ready: bool) -> None:
            st = run.statuses.get(name)
            if run.stopped or st is None or st.get("containerID") != container_id:
                return
            if "running" in st["state"]:
                st.update(started=started, ready=ready)
                self._write_status(key, run)

        def failed(message: str) -> None:
            if not run.stopped:
                path = f"spec.containers{{{name}}}"
                self.writer.event(run.pod, "Unhealthy", message, kind="Warning", path=path)

        async def run_exec(command: list[str], limit: float) -> tuple[int, str]:
            return await probe_exec(self.runtime, run.pod, name, command, limit)

        prober = Prober(c, run.ip, run_exec, changed, failed)
        run.probers[name] = asyncio.create_task(prober.run())

    async def _stop_runtime(self, run: _Run, grace: float) -> None:
        for task in run.probers.values():
            task.cancel()
        run.probers.clear()
        if run.stopped:
            return
        run.stopped = True
        try:
            # The runtime kills after the grace period itself; the margin only guards a hang.
            await asyncio.wait_for(self.runtime.stop_pod(run.pod, grace), grace + 10)
        except Exception:
            log.exception("kubelet: stopping pod %s/%s failed", *object_key(run.pod))

    async def _halt(self, key: Key, run: _Run) -> None:
        if not run.stopped:
            self._kill_events(run)
        await self._stop_runtime(run, 0)
        await self._forget(key, run)

    async def _forget(self, key: Key, run: _Run) -> None:
        if self._runs.get(key) is run:
            del self._runs[key]
        if run.ip:
            POD_IPS.release(run.ip)
            try:
                await self.runtime.remove_pod(run.pod)
            except Exception:
                log.exception("kubelet: removing pod %s/%s from the runtime failed", *key)

    def _write_status(self, key: Key, run: _Run) -> dict[str, Any] | None:
        def write(p: dict[str, Any]) -> None:
            p["status"] = self._status(p, run)

        return self.writer.update(
            self.writer.pods, key, run.uid, write, manager=MANAGER, subresource="status"
        )

    def _status(self, pod: dict[str, Any], run: _Run, *, terminating: bool = False) -> Status:
        return build_status(
            pod,
            run.statuses,
            run.init_statuses,
            ip=run.ip,
            sandbox=not run.stopped and bool(run.ip),
            terminating=terminating,
        )

    # -- streams (exec, attach, portforward: streams.py) -------------------------------------

    def running_containers(self, pod: dict[str, Any]) -> tuple[str, set[str]] | None:
        """The IP and the running containers of this pod (same uid) on this node, while its
        sandbox is up; None when the node is not running it."""
        run = self._runs.get(object_key(pod))
        if run is None or run.uid != uid(pod) or run.stopped or not run.ip:
            return None
        statuses = [*run.statuses.items(), *run.init_statuses.items()]
        return run.ip, {name for name, st in statuses if "running" in st["state"]}

    # -- logs ------------------------------------------------------------------------------

    def logs(
        self,
        pod: dict[str, Any],
        container: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        timestamps: bool = False,
        previous: bool = False,
    ) -> AsyncIterator[str]:
        """A container's output as lines; raises ApiError (400) where a real kubelet refuses.

        Not a coroutine, so the refusal comes before the HTTP response starts.
        """
        if not check_log_access(pod, container, previous=previous):
            return read_logs(None)  # an unscheduled pod: no lines, and no error
        return self.runtime.logs(
            pod,
            container,
            follow=follow,
            tail_lines=tail_lines,
            timestamps=timestamps,
            previous=previous,
        )


__all__ = [
    "ContainerExit",
    "ContainerResult",
    "ContainerRuntime",
    "ExitHandler",
    "Kubelet",
    "parse_quantity",
    "qos_class",
]
