"""Jobs and CronJobs end to end: generated selectors and labels, pods tracked by finalizer,
completion and failure with the process runtime, suspension, the orphaning default of batch/v1
deletes, cron schedules as robfig/cron parses them, and a CronJob starting its jobs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from kubernetes_asyncio.client.api_client import ApiClient

from kubesim import LocalCluster
from kubesim.registry import cron
from kubesim.testing import client_configuration
from tests.support.kube import expect_status
from tests.support.workloads import (
    Obj,
    batch_api,
    body_of,
    condition,
    core_api,
    cronjob,
    job,
    wait_for,
)

NS = "default"


@pytest_asyncio.fixture
async def api(module_cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    async with ApiClient(client_configuration(module_cluster)) as api_client:
        yield api_client


@pytest.fixture(scope="module")
def process_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster whose containers run (only `true` and `false`), so pods end."""
    data = tmp_path_factory.mktemp("jobs")
    with LocalCluster(runtime="process", allowed_commands=("true", "false"),
                      data_dir=Path(data)) as cluster:  # fmt: skip
        yield cluster


async def read_job(api: ApiClient, name: str) -> Obj:
    return await body_of(batch_api(api).read_namespaced_job(
        name, NS, _preload_content=False))  # fmt: skip


async def job_pods(api: ApiClient, name: str) -> list[Obj]:
    listed = await body_of(
        core_api(api).list_namespaced_pod(
            NS, label_selector=f"batch.kubernetes.io/job-name={name}", _preload_content=False
        )
    )
    items: list[Obj] = listed["items"]
    return items


async def test_job_defaults_selector_and_tracked_pods(api: ApiClient) -> None:
    batch = batch_api(api)
    created = await body_of(batch.create_namespaced_job(NS, job("work", parallelism=2),
                                                        _preload_content=False))  # fmt: skip
    uid, spec = created["metadata"]["uid"], created["spec"]
    assert {k: spec[k] for k in ("parallelism", "backoffLimit", "completionMode", "suspend",
                                 "manualSelector", "podReplacementPolicy")} == {
        "parallelism": 2, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False,
        "manualSelector": False, "podReplacementPolicy": "TerminatingOrFailed"}  # fmt: skip
    assert "completions" not in spec  # only defaulted when parallelism is unset too
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "work",
              "controller-uid": uid, "job-name": "work"}  # fmt: skip
    assert spec["template"]["metadata"]["labels"] == labels
    assert created["metadata"]["labels"] == labels  # a job without labels takes the template's
    j = await wait_for(lambda: read_job(api, "work"), lambda j: j["status"].get("ready") == 2)
    assert j["status"]["active"] == 2 and j["status"]["uncountedTerminatedPods"] == {}
    assert j["status"]["terminating"] == 0 and "startTime" in j["status"]
    # status.successful is selectable, and 0 while the job has no successes (and no field).
    listed = await batch.list_namespaced_job(NS, field_selector="status.successful=0")
    assert "work" in [j.metadata.name for j in listed.items]
    pods = await job_pods(api, "work")
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
        assert pod["metadata"]["generateName"] == "work-"
        [ref] = pod["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["uid"], ref["controller"]) == ("Job", uid, True)
    # Deleting with no policy orphans the pods (batch/v1's default), with the real warning.
    response = await batch.delete_namespaced_job("work", NS, _preload_content=False)
    assert "child pods are preserved by default when jobs are deleted" in response.headers[
        "Warning"]  # fmt: skip
    orphans = await wait_for(lambda: _items(job_pods(api, "work")), lambda p: all(
        not i["metadata"].get("finalizers") for i in p["items"]))  # fmt: skip
    assert len(orphans["items"]) == 2
    assert all(not p["metadata"].get("ownerReferences") for p in orphans["items"])
    await core_api(api).delete_collection_namespaced_pod(
        NS, label_selector="job-name=work", grace_period_seconds=0
    )


async def _items(call: object) -> Obj:
    return {"items": await call}  # type: ignore[misc]


async def test_job_validation_messages(api: ApiClient) -> None:
    batch = batch_api(api)
    body = job("always")
    body["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    err = await expect_status(batch.create_namespaced_job(NS, body), 422, "Invalid")
    assert err["message"] == ('Job.batch "always" is invalid: spec.template.spec.restartPolicy: '
                              'Required value: valid values: "OnFailure", "Never"')  # fmt: skip
    body = job("manual", selector={"matchLabels": {"app": "x"}})
    err = await expect_status(batch.create_namespaced_job(NS, body), 422, "Invalid")
    assert "`selector` not auto-generated" in err["message"]
    body = cronjob("badcron", schedule="61 * * * *")
    err = await expect_status(batch.create_namespaced_cron_job(NS, body), 422, "Invalid")
    assert err["message"] == (
        'CronJob.batch "badcron" is invalid: spec.schedule: Invalid '
        'value: "61 * * * *": end of range (61) above maximum (59): 61'
    )


async def test_jobs_complete_and_fail_as_their_pods_do(process_cluster: LocalCluster) -> None:
    async with ApiClient(client_configuration(process_cluster)) as api:
        batch = batch_api(api)
        await batch.create_namespaced_job(NS, job("ok", ["true"], completions=2, parallelism=2))
        await batch.create_namespaced_job(NS, job("ko", ["false"], backoffLimit=0))
        crash = job("crash", ["false"], backoffLimit=1)
        crash["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
        await batch.create_namespaced_job(NS, crash)
        ok = await wait_for(lambda: read_job(api, "ok"), lambda j: condition(j, "Complete"))
        assert [c["type"] for c in ok["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
        complete = condition(ok, "Complete") or {}
        assert (complete["reason"], complete["message"]) == (
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        )
        assert ok["status"]["succeeded"] == 2 and "completionTime" in ok["status"]
        assert ok["status"]["uncountedTerminatedPods"] == {}
        ko = await wait_for(lambda: read_job(api, "ko"), lambda j: condition(j, "Failed"))
        assert [c["type"] for c in ko["status"]["conditions"]] == ["FailureTarget", "Failed"]
        failed = condition(ko, "Failed") or {}
        assert (failed["reason"], failed["message"]) == (
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )
        assert ko["status"]["failed"] == 1
        # With OnFailure the pod's restarts are the failures; the pod deleted counts as one.
        crashed = await wait_for(lambda: read_job(api, "crash"), lambda j: condition(j, "Failed"))
        assert (condition(crashed, "Failed") or {})["reason"] == "BackoffLimitExceeded"
        assert crashed["status"]["failed"] == 1 and "active" not in crashed["status"]
        for name in ("ok", "ko", "crash"):  # every pod was counted, then let go
            assert all(not p["metadata"].get("finalizers") for p in await job_pods(api, name))
        events = await core_api(api).list_namespaced_event(NS)
        seen = {(e.involved_object.name, e.reason, e.type) for e in events.items}
        assert ("ok", "Completed", "Normal") in seen
        assert ("ko", "BackoffLimitExceeded", "Warning") in seen
        # A background delete takes the pods with it.
        await batch.delete_namespaced_job("ok", NS, propagation_policy="Background")
        await wait_for(lambda: _items(job_pods(api, "ok")), lambda p: not p["items"])


async def test_suspended_job_runs_nothing(api: ApiClient) -> None:
    batch = batch_api(api)
    await batch.create_namespaced_job(NS, job("held", suspend=True))
    held = await wait_for(lambda: read_job(api, "held"), lambda j: condition(j, "Suspended"))
    suspended = condition(held, "Suspended") or {}
    assert (suspended["status"], suspended["reason"]) == ("True", "JobSuspended")
    assert not await job_pods(api, "held") and "startTime" not in held["status"]
    await batch.patch_namespaced_job("held", NS, {"spec": {"suspend": False}})
    resumed = await wait_for(lambda: read_job(api, "held"), lambda j: j["status"].get("active"))
    assert (condition(resumed, "Suspended") or {})["reason"] == "JobResumed"
    await batch.delete_namespaced_job("held", NS, propagation_policy="Background")


def test_cron_schedules_parse_as_robfig_cron() -> None:
    every_5 = cron.parse("*/5 * * * *")
    start = datetime(2024, 1, 1, 10, 3, tzinfo=UTC)
    assert every_5.next(start) == datetime(2024, 1, 1, 10, 5, tzinfo=UTC)
    weekly = cron.parse("30 4 * * mon")
    assert weekly.next(start) == datetime(2024, 1, 8, 4, 30, tzinfo=UTC)  # the next Monday
    assert cron.parse("@hourly").next(start) == datetime(2024, 1, 1, 11, 0, tzinfo=UTC)
    # Day of month and day of week: either matches when both are restricted.
    either = cron.parse("0 0 13 * 5")
    assert either.next(start) == datetime(2024, 1, 5, 0, 0, tzinfo=UTC)  # a Friday
    assert cron.parse("0 0 30 2 *").next(start) is None  # February 30th never comes
    for spec, error in [
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("", "empty spec string"),
    ]:
        with pytest.raises(cron.CronError) as info:
            cron.parse(spec)
        assert str(info.value) == error


async def test_cronjob_starts_the_job_it_missed(api: ApiClient) -> None:
    batch = batch_api(api)
    created = await body_of(batch.create_namespaced_cron_job(
        NS, cronjob("tick", schedule="* * * * *", concurrencyPolicy="Forbid"),
        _preload_content=False))  # fmt: skip
    spec = created["spec"]
    assert (spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == (False, 3, 1)  # fmt: skip
    assert "completions" not in spec["jobTemplate"]["spec"]  # job defaults are not applied
    # As if the controller had last run two minutes ago: the missed minute starts a job now.
    past = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await batch.patch_namespaced_cron_job_status(
        "tick", NS, {"status": {"lastScheduleTime": past}},
        _content_type="application/merge-patch+json")  # fmt: skip

    async def read() -> Obj:
        return await body_of(batch.read_namespaced_cron_job("tick", NS, _preload_content=False))

    cj = await wait_for(read, lambda c: bool(c["status"].get("active")))
    [ref] = cj["status"]["active"]
    scheduled = datetime.fromisoformat(cj["status"]["lastScheduleTime"].replace("Z", "+00:00"))
    assert ref["name"] == f"tick-{int(scheduled.timestamp()) // 60}"
    assert (ref["kind"], ref["apiVersion"]) == ("Job", "batch/v1")
    started = await read_job(api, ref["name"])
    assert started["metadata"]["annotations"] == {
        "batch.kubernetes.io/cronjob-scheduled-timestamp": cj["status"]["lastScheduleTime"]
    }
    assert started["metadata"]["ownerReferences"][0]["name"] == "tick"
    events = await core_api(api).list_namespaced_event(
        NS, field_selector="involvedObject.name=tick"
    )
    assert ("SuccessfulCreate", f"Created job {ref['name']}") in {
        (e.reason, e.message) for e in events.items}  # fmt: skip
    # Forbid: with the job still running, a missed time starts nothing more.
    await batch.patch_namespaced_cron_job_status(
        "tick", NS, {"status": {"lastScheduleTime": past}},
        _content_type="application/merge-patch+json")  # fmt: skip
    await wait_for(lambda: _events(api, "tick"), lambda e: "JobAlreadyActive" in json.dumps(e))
    jobs = await batch.list_namespaced_job(NS)
    assert [j.metadata.name for j in jobs.items if j.metadata.name.startswith("tick-")] == [
        ref["name"]]  # fmt: skip
    await batch.delete_namespaced_cron_job("tick", NS)
    await wait_for(lambda: _items(_job_names(api)), lambda j: not any(
        n.startswith("tick-") for n in j["items"]))  # fmt: skip


async def _events(api: ApiClient, name: str) -> Obj:
    return await body_of(
        core_api(api).list_namespaced_event(
            NS, field_selector=f"involvedObject.name={name}", _preload_content=False
        )
    )


async def _job_names(api: ApiClient) -> list[str]:
    jobs = await batch_api(api).list_namespaced_job(NS)
    return [j.metadata.name for j in jobs.items]
