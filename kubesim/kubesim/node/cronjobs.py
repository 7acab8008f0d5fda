"""The CronJob controller (pkg/controller/cronjob, v2): a Job `<name>-<minutes since the epoch>`
at each scheduled time, the concurrency policy (Allow, Forbid, Replace), suspend,
startingDeadlineSeconds, the active list, last schedule and success times, and the job history
limits. One timer per cron job, set for its next scheduled time; no polling loop.

Times without spec.timeZone are UTC (the controller manager's zone here).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.apiserver.store import StorageKey
from kubesim.node.control import Context, Key, Obj
from kubesim.node.jobs import finished
from kubesim.node.owners import find, owner_reference, parse_time
from kubesim.registry import cron
from kubesim.registry.errors import ApiError
from kubesim.registry.strategy import as_dict, dicts
from kubesim.registry.workload_fields import compact

COMPONENT = "cronjob-controller"
JOBS: StorageKey = ("batch", "jobs")
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CronJobs:
    children: tuple[StorageKey, ...] = (JOBS,)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rt = ctx.rt("batch", "cronjobs")
        self.jobs = ctx.rt("batch", "jobs")
        self.kind = self.rt.storage_key

    def selects(self, owner: Obj, child: Obj) -> bool:
        return False  # cron jobs adopt nothing: their jobs carry the controller reference

    def _zone(self, cj: Obj) -> Any:
        name = as_dict(cj.get("spec")).get("timeZone")
        try:
            return zoneinfo.ZoneInfo(name) if isinstance(name, str) and name else UTC
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None

    def sync(self, key: Key) -> float | None:
        cj = self.ctx.get(self.kind, key)
        if cj is None or cj["metadata"].get("deletionTimestamp"):
            return None
        jobs = self.ctx.owned(JOBS, cj)
        status = dict(as_dict(cj.get("status")))
        self._sync_active(cj, jobs, status)
        self._history(cj, jobs)
        spec = as_dict(cj.get("spec"))
        zone = self._zone(cj)
        try:
            schedule = cron.parse(str(spec.get("schedule") or ""))
        except cron.CronError as err:
            self.ctx.event(cj, "UnparseableSchedule", f"unparseable schedule: {err}", COMPONENT,
                           warning=True)  # fmt: skip
            self._write(cj, status)
            return None
        if zone is None:
            message = f"invalid timeZone: {spec.get('timeZone')!r}"
            self.ctx.event(cj, "UnknownTimeZone", message, COMPONENT, warning=True)
            self._write(cj, status)
            return None
        now = datetime.now(UTC).astimezone(zone)
        if spec.get("suspend") is True:
            self._write(cj, status)
            return None
        scheduled = self._due(cj, schedule, status, now)
        if scheduled is not None:
            self._run(cj, key, spec, status, jobs, scheduled, now)
        self._write(cj, status)
        upcoming = schedule.next(now)
        if upcoming is None:
            return None
        return max(0.05, (upcoming - now).total_seconds() + 0.05)

    def _due(self, cj: Obj, schedule: cron.Schedule, status: Obj, now: datetime) -> datetime | None:
        """The most recent scheduled time since the last one (or the creation), if any; too
        many missed ones get the controller's warning."""
        zone = now.tzinfo
        since = parse_time(status.get("lastScheduleTime")) or parse_time(
            cj["metadata"].get("creationTimestamp")
        )
        if since is None:
            return None
        deadline = as_dict(cj.get("spec")).get("startingDeadlineSeconds")
        if isinstance(deadline, int):
            since = max(since, now - timedelta(seconds=deadline))
        t = schedule.next(since.astimezone(zone))
        latest, missed = None, 0
        while t is not None and t <= now:
            latest, missed = t, missed + 1
            if missed > TOO_MANY_MISSED:
                message = ("too many missed start times. Set or decrease .spec."
                           "startingDeadlineSeconds or check clock skew")  # fmt: skip
                self.ctx.event(cj, "TooManyMissedTimes", message, COMPONENT, warning=True)
                break
            t = schedule.next(t)
        return latest

    def _run(self, cj: Obj, key: Key, spec: Obj, status: Obj, jobs: list[Obj],
             scheduled: datetime, now: datetime) -> None:  # fmt: skip
        active = [j for j in jobs if finished(j) is None]
        policy = spec.get("concurrencyPolicy")
        if policy == "Forbid" and active:
            message = ("Not starting job because prior execution is running and concurrency "
                       "policy is Forbid")  # fmt: skip
            self.ctx.event(cj, "JobAlreadyActive", message, COMPONENT)
            return
        if policy == "Replace":
            for job in active:
                self._delete_job(cj, job)
        name = f"{key[1]}-{int(scheduled.timestamp() // 60)}"
        template = as_dict(spec.get("jobTemplate"))
        meta = as_dict(template.get("metadata"))
        body: dict[str, Any] = {"metadata": {"name": name}, "spec": template.get("spec") or {}}
        if meta.get("labels"):
            body["metadata"]["labels"] = dict(meta["labels"])
        annotations = {**as_dict(meta.get("annotations")), SCHEDULED: scheduled.isoformat()}
        if scheduled.utcoffset() == timedelta(0):
            annotations[SCHEDULED] = _stamp(scheduled)
        body["metadata"]["annotations"] = annotations
        body["metadata"]["ownerReferences"] = [owner_reference(cj, "batch/v1", "CronJob")]
        try:
            job = self.ctx.create(self.jobs, key[0], body)
        except ApiError as err:
            if err.code == 409:
                status["lastScheduleTime"] = _stamp(scheduled)
                return
            self.ctx.event(cj, "FailedCreate", f"Error creating job: {err.message}", COMPONENT,
                           warning=True)  # fmt: skip
            return
        self.ctx.event(cj, "SuccessfulCreate", f"Created job {name}", COMPONENT)
        refs = [r for r in dicts(status.get("active")) if r.get("uid") != job["metadata"]["uid"]]
        status["active"] = [*refs, _reference(job)]
        status["lastScheduleTime"] = _stamp(scheduled)

    def _sync_active(self, cj: Obj, jobs: list[Obj], status: Obj) -> None:
        """The active list: running jobs in, finished ones out (with SawCompletedJob)."""
        by_uid = {j["metadata"]["uid"]: j for j in jobs}
        refs = []
        for ref in dicts(status.get("active")):
            job = by_uid.get(ref.get("uid"))
            if job is None:
                continue
            state = finished(job)
            if state is None:
                refs.append(ref)
                continue
            message = f"Saw completed job: {job['metadata']['name']}, status: {state}"
            self.ctx.event(cj, "SawCompletedJob", message, COMPONENT)
            if state == "Complete":
                cond = find(as_dict(job.get("status")), "Complete") or {}
                when = as_dict(job.get("status")).get("completionTime") or cond.get(
                    "lastTransitionTime"
                )
                if when and str(when) > str(status.get("lastSuccessfulTime") or ""):
                    status["lastSuccessfulTime"] = when
        known = {r.get("uid") for r in refs}
        for job in jobs:
            if finished(job) is None and job["metadata"]["uid"] not in known:
                refs.append(_reference(job))
        status["active"] = refs

    def _history(self, cj: Obj, jobs: list[Obj]) -> None:
        spec = as_dict(cj.get("spec"))
        for state, key in (("Complete", "successfulJobsHistoryLimit"),
                           ("Failed", "failedJobsHistoryLimit")):  # fmt: skip
            limit = spec.get(key)
            if not isinstance(limit, int):
                continue
            done = sorted(
                (j for j in jobs if finished(j) == state),
                key=lambda j: str(as_dict(j.get("status")).get("startTime") or ""),
            )
            for job in done[: max(0, len(done) - limit)]:
                self._delete_job(cj, job)

    def _delete_job(self, cj: Obj, job: Obj) -> None:
        meta = job["metadata"]
        try:
            self.ctx.api.delete(
                self.jobs,
                meta["namespace"],
                meta["name"],
                preconditions={"uid": meta["uid"]},
                propagation="Background",
            )
        except ApiError:
            return
        self.ctx.event(cj, "SuccessfulDelete", f"Deleted job {meta['name']}", COMPONENT)

    def _write(self, cj: Obj, status: Obj) -> None:
        order = ("active", "lastScheduleTime", "lastSuccessfulTime")
        final = compact({k: status.get(k) for k in order}, ())

        def write(obj: Obj) -> None:
            obj["status"] = final

        self.ctx.status(self.rt, cj, write)


def _reference(job: Obj) -> Obj:
    """An ObjectReference to a job, in the active list."""
    meta = job["metadata"]
    return {"kind": "Job", "namespace": meta["namespace"], "name": meta["name"],
            "uid": meta["uid"], "apiVersion": "batch/v1",
            "resourceVersion": meta.get("resourceVersion", "")}  # fmt: skip
