"""The Job controller (pkg/controller/job): pods until completions succeed, the backoff limit
or the active deadline is reached, or the job is suspended; pods tracked with the
`batch.kubernetes.io/job-tracking` finalizer and counted through uncountedTerminatedPods, as 1.32
does; terminal conditions preceded by SuccessCriteriaMet / FailureTarget; TTL after finishing.

With the stub runtime containers never exit, so such a job stays active; with the process
runtime its pods end as their commands do, and the job completes or fails.

Simplified: pod failure policies, success policies and per-index backoff limits are not
evaluated; a failed pod is replaced after the real back-off (10 s, doubling, at most 6 min).
"""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.apiserver.api import now_rfc3339
from kubesim.apiserver.store import StorageKey
from kubesim.node.control import PODS, Context, Key, Obj
from kubesim.node.owners import (
    find,
    generate_prefix,
    int_field,
    is_ready,
    labels_of,
    owner_reference,
    parse_time,
    pod_from_template,
    set_condition,
)
from kubesim.registry import labelselector
from kubesim.registry.errors import ApiError
from kubesim.registry.strategy import as_dict, dicts
from kubesim.registry.workload_fields import compact

COMPONENT = "job-controller"
TRACKING = "batch.kubernetes.io/job-tracking"
INDEX = "batch.kubernetes.io/job-completion-index"
TIMES = ("lastProbeTime", "lastTransitionTime")
COMPLETE_MESSAGE = "Reached expected number of succeeded pods"
BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"
MAX_BACKOFF = 360.0
BURST = 500  # pods created in one sync at most


def finished(job: Obj) -> str | None:
    """ "Complete" or "Failed" once the job has the condition; None while it runs."""
    status = as_dict(job.get("status"))
    for kind in ("Complete", "Failed"):
        cond = find(status, kind)
        if cond is not None and cond.get("status") == "True":
            return kind
    return None


class Jobs:
    children: tuple[StorageKey, ...] = (PODS,)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rt = ctx.rt("batch", "jobs")
        self.kind = self.rt.storage_key
        self.pods = ctx.rt("", "pods")

    def selects(self, owner: Obj, child: Obj) -> bool:
        selector = as_dict(owner.get("spec")).get("selector")
        return labelselector.matches(selector, labels_of(child))

    # -- sync ----------------------------------------------------------------------------------

    def sync(self, key: Key) -> float | None:
        job = self.ctx.get(self.kind, key)
        if job is None:
            return None
        pods = self.ctx.owned(PODS, job)
        for _, orphan in self.ctx.take_candidates(self.kind, key):
            pods.append(orphan)  # a manual selector's orphans are counted, not adopted here
        if finished(job) is not None:
            self._release_all(pods)
            return self._ttl(job)
        if job["metadata"].get("deletionTimestamp"):
            self._release_all(pods)
            return None
        job = self._count_terminated(job, pods) or job
        pods = self.ctx.owned(PODS, job)
        return self._reconcile(job, key, pods)

    def _reconcile(self, job: Obj, key: Key, pods: list[Obj]) -> float | None:
        spec, status = as_dict(job.get("spec")), copy.deepcopy(as_dict(job.get("status")))
        active = [p for p in pods if _active(p)]
        succeeded, failed = int(status.get("succeeded") or 0), int(status.get("failed") or 0)
        completions = spec.get("completions")
        suspended = spec.get("suspend") is True
        now = datetime.now(UTC)
        delay: float | None = None
        if not suspended and not status.get("startTime"):
            status["startTime"] = now_rfc3339()
        self._suspension(job, status, suspended)
        failure = self._failure(job, status, failed + _restarts(job, active), now)
        ended = "Failed" if failure else None
        done = succeeded >= completions if isinstance(completions, int) else succeeded > 0
        if ended is None and done and (isinstance(completions, int) or not active):
            ended = "Complete"
        if ended is not None or suspended:
            for pod in active:
                self._delete(job, pod)
            if ended == "Failed":  # the pods a failed job's controller deletes count as failed
                status["failed"] = failed + len(active)
            active = []
        else:
            active, delay = self._manage(job, key, active, succeeded, failed, now)
        if ended == "Complete":
            for kind in ("SuccessCriteriaMet", "Complete"):
                set_condition(status, kind, "True", "CompletionsReached", COMPLETE_MESSAGE,
                              times=TIMES)  # fmt: skip
            status["completionTime"] = now_rfc3339()
            self.ctx.event(job, "Completed", "Job completed", COMPONENT)
        elif failure is not None:
            reason, message = failure
            set_condition(status, "Failed", "True", reason, message, times=TIMES)
            self.ctx.event(job, reason, message, COMPONENT, warning=True)
        status["active"] = len(active)
        status["ready"] = len([p for p in active if is_ready(p)])
        status["terminating"] = len([p for p in pods if p["metadata"].get("deletionTimestamp")
                                     and as_dict(p.get("status")).get("phase") not in
                                     ("Succeeded", "Failed")])  # fmt: skip
        status.setdefault("uncountedTerminatedPods", {})
        self._write(job, status)
        if ended is not None:
            return self._ttl(self.ctx.get(self.kind, key) or job)
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime"))
        if isinstance(deadline, int) and started is not None and not suspended:
            left = (started + timedelta(seconds=deadline) - now).total_seconds() + 0.05
            delay = left if delay is None else min(delay, left)
        return delay

    def _suspension(self, job: Obj, status: Obj, suspended: bool) -> None:
        cond = find(status, "Suspended")
        if suspended and (cond is None or cond.get("status") != "True"):
            set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended",
                          times=TIMES)  # fmt: skip
            self.ctx.event(job, "Suspended", "Job suspended", COMPONENT)
        elif not suspended and cond is not None and cond.get("status") == "True":
            set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", times=TIMES)
            status["startTime"] = now_rfc3339()
            self.ctx.event(job, "Resumed", "Job resumed", COMPONENT)

    def _failure(self, job: Obj, status: Obj, failed: int, now: datetime) -> tuple[str, str] | None:
        """The backoff limit or the active deadline passed: the reason and message, with
        FailureTarget set first, as 1.32 does."""
        spec = as_dict(job.get("spec"))
        limit = int_field(job, "spec", "backoffLimit", default=6)
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime"))
        reason = None
        if failed > limit:
            reason = "BackoffLimitExceeded"
        elif isinstance(deadline, int) and started and now >= started + timedelta(seconds=deadline):
            reason = "DeadlineExceeded"
        if reason is None:
            return None
        message = BACKOFF_MESSAGE if reason == "BackoffLimitExceeded" else DEADLINE_MESSAGE
        set_condition(status, "FailureTarget", "True", reason, message, times=TIMES)
        return reason, message

    def _manage(self, job: Obj, key: Key, active: list[Obj], succeeded: int, failed: int,
                now: datetime) -> tuple[list[Obj], float | None]:  # fmt: skip
        spec = as_dict(job.get("spec"))
        parallelism = int_field(job, "spec", "parallelism", default=1)
        completions = spec.get("completions")
        if isinstance(completions, int):
            wanted = min(parallelism, max(0, completions - succeeded))
        else:
            wanted = parallelism if succeeded == 0 else 0
        if len(active) > wanted:
            for pod in sorted(active, key=lambda p: p["metadata"]["name"])[wanted:]:
                self._delete(job, pod)
            return active[:wanted], None
        if len(active) < wanted and failed:
            backoff = min(10.0 * 2 ** (failed - 1), MAX_BACKOFF)
            last = self._last_failure(job)
            if last is not None and (now - last).total_seconds() < backoff:
                return active, backoff - (now - last).total_seconds()
        used = {as_dict(p["metadata"].get("annotations")).get(INDEX) for p in active}
        missing = wanted - len(active)
        if missing > BURST:
            self.ctx.requeue(self.kind, key, 0)  # the rest in the next sync
        for _ in range(min(missing, BURST)):
            index = None
            if spec.get("completionMode") == "Indexed":
                index = next(str(i) for i in range(len(used) + wanted + succeeded + 1)
                             if str(i) not in used)  # fmt: skip
                used.add(index)
            created = self._create(job, key, index)
            if created is None:
                return active, self.ctx.backoff(self.kind, key)
            active.append(created)
        return active, None

    def _last_failure(self, job: Obj) -> datetime | None:
        """When the newest failed pod of the job finished (for the replacement back-off)."""
        latest = None
        for pod in self.ctx.owned(PODS, job):
            if as_dict(pod.get("status")).get("phase") != "Failed":
                continue
            for cs in dicts(as_dict(pod.get("status")).get("containerStatuses")):
                when = parse_time(as_dict(as_dict(cs.get("state")).get("terminated")).get(
                    "finishedAt"))  # fmt: skip
                if when is not None and (latest is None or when > latest):
                    latest = when
        return latest

    def _create(self, job: Obj, key: Key, index: str | None) -> Obj | None:
        template = copy.deepcopy(as_dict(as_dict(job.get("spec")).get("template")))
        prefix = generate_prefix(key[1] if index is None else f"{key[1]}-{index}")
        pod = pod_from_template(template, owner_reference(job, "batch/v1", "Job"), prefix)
        meta = pod["metadata"]
        meta["finalizers"] = [*(meta.get("finalizers") or []), TRACKING]
        if index is not None:
            meta["annotations"] = {**as_dict(meta.get("annotations")), INDEX: index}
            meta["labels"] = {**as_dict(meta.get("labels")), INDEX: index}
            pod["spec"].setdefault("hostname", f"{key[1]}-{index}")
        try:
            created = self.ctx.create(self.pods, key[0], pod)
        except ApiError as err:
            self.ctx.event(job, "FailedCreate", f"Error creating: {err.message}", COMPONENT,
                           warning=True)  # fmt: skip
            return None
        self.ctx.event(job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                       COMPONENT)  # fmt: skip
        return created

    def _delete(self, job: Obj, pod: Obj) -> None:
        if self.ctx.delete(self.pods, pod):
            message = f"Deleted pod: {pod['metadata']['name']}"
            self.ctx.event(job, "SuccessfulDelete", message, COMPONENT)

    # -- finalizer tracking --------------------------------------------------------------------

    def _count_terminated(self, job: Obj, pods: list[Obj]) -> Obj | None:
        """Terminal pods still holding the finalizer go to uncountedTerminatedPods, lose the
        finalizer, and are then counted as succeeded or failed."""
        status = copy.deepcopy(as_dict(job.get("status")))
        uncounted = as_dict(status.get("uncountedTerminatedPods"))
        lists = {k: list(uncounted.get(k) or []) for k in ("succeeded", "failed")}
        tracked = [p for p in pods if TRACKING in (p["metadata"].get("finalizers") or [])]
        changed = False
        for pod in tracked:
            phase = as_dict(pod.get("status")).get("phase")
            uid = pod["metadata"].get("uid")
            if phase in ("Succeeded", "Failed"):
                bucket = lists["succeeded" if phase == "Succeeded" else "failed"]
                if uid not in bucket:
                    bucket.append(uid)
                    changed = True
        if changed:
            status["uncountedTerminatedPods"] = {k: v for k, v in lists.items() if v}
            job = self._write(job, status) or job
        for pod in tracked:
            if as_dict(pod.get("status")).get("phase") in ("Succeeded", "Failed"):
                self._release(pod)
        if not any(lists.values()):
            return job
        still = {p["metadata"].get("uid") for p in self.ctx.owned(PODS, job)
                 if TRACKING in (p["metadata"].get("finalizers") or [])}  # fmt: skip
        status = copy.deepcopy(as_dict(job.get("status")))
        for name in ("succeeded", "failed"):
            done = [u for u in lists[name] if u not in still]
            status[name] = int(status.get(name) or 0) + len(done)
            lists[name] = [u for u in lists[name] if u in still]
        status["uncountedTerminatedPods"] = {k: v for k, v in lists.items() if v}
        return self._write(job, status)

    def _release(self, pod: Obj) -> None:
        def drop(p: Obj) -> None:
            finalizers = [f for f in p["metadata"].get("finalizers") or [] if f != TRACKING]
            if finalizers:
                p["metadata"]["finalizers"] = finalizers
            else:
                p["metadata"].pop("finalizers", None)

        with contextlib.suppress(ApiError):
            self.ctx.update(self.pods, pod, drop)

    def gone(self, job: Obj) -> None:
        """A deleted job's pods keep nothing for it: their finalizers go."""
        self._release_all(self.ctx.owned(PODS, job))

    def orphaned(self, pod: Obj) -> None:
        """An orphaned pod (its job deleted with orphan propagation) loses the finalizer."""
        if TRACKING in (pod["metadata"].get("finalizers") or []):
            self._release(pod)

    def _release_all(self, pods: list[Obj]) -> None:
        for pod in pods:
            if TRACKING in (pod["metadata"].get("finalizers") or []):
                self._release(pod)

    def _ttl(self, job: Obj) -> float | None:
        """The TTL-after-finished controller: delete the job (and its pods) when it is up."""
        ttl = as_dict(job.get("spec")).get("ttlSecondsAfterFinished")
        finished_at = parse_time(as_dict(job.get("status")).get("completionTime"))
        cond = find(as_dict(job.get("status")), finished(job) or "")
        finished_at = finished_at or parse_time((cond or {}).get("lastTransitionTime"))
        if not isinstance(ttl, int) or finished_at is None:
            return None
        left = (finished_at + timedelta(seconds=ttl) - datetime.now(UTC)).total_seconds()
        if left > 0:
            return left + 0.05
        meta = job["metadata"]
        with contextlib.suppress(ApiError):
            self.ctx.api.delete(self.rt, meta["namespace"], meta["name"],
                                preconditions={"uid": meta["uid"]},
                                propagation="Background")  # fmt: skip
        return None

    def _write(self, job: Obj, status: Obj) -> Obj | None:
        order = ("conditions", "startTime", "completionTime", "active", "succeeded", "failed",
                 "terminating", "completedIndexes", "failedIndexes", "uncountedTerminatedPods",
                 "ready")  # fmt: skip
        ordered: dict[str, Any] = {k: status[k] for k in order if k in status}
        # ready and terminating are pointers (0 shows), uncountedTerminatedPods a struct.
        final = compact(ordered, ("ready", "terminating", "uncountedTerminatedPods"))

        def write(obj: Obj) -> None:
            obj["status"] = final

        return self.ctx.status(self.rt, job, write)


def _restarts(job: Obj, active: list[Obj]) -> int:
    """pastBackoffLimitOnFailure: with OnFailure, the restarts of the active pods' containers
    count as failures (past the limit when they reach it, or are any at all for a limit of 0)."""
    policy = as_dict(as_dict(as_dict(job.get("spec")).get("template")).get("spec")).get(
        "restartPolicy")  # fmt: skip
    if policy != "OnFailure":
        return 0
    total = 0
    for pod in active:
        status = as_dict(pod.get("status"))
        for key in ("initContainerStatuses", "containerStatuses"):
            total += sum(int_field(c, "restartCount") for c in dicts(status.get(key)))
    limit = int_field(job, "spec", "backoffLimit", default=6)
    return total + 1 if total and total >= limit else 0  # reaching the limit exceeds it


def _active(pod: Obj) -> bool:
    phase = as_dict(pod.get("status")).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")
