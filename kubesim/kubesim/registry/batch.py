"""batch/v1 Jobs and CronJobs: v1 defaulting (pkg/apis/batch/v1/defaults.go), the strategies
(pkg/registry/batch: a Job's generated selector and labels) and validation
(pkg/apis/batch/validation), for the fields clients set.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from kubesim.registry import cron, gotext, labelselector
from kubesim.registry.apps import decode_template
from kubesim.registry.errors import FieldError
from kubesim.registry.field import invalid, not_supported, required
from kubesim.registry.pod_template import (
    default_template,
    embedded_metadata,
    ensure_labels,
    nonnegative,
    validate_template,
)
from kubesim.registry.strategy import (
    Obj,
    Strategies,
    Strategy,
    as_dict,
    default,
    dicts,
    owned_dict,
    same,
    sorted_map,
)
from kubesim.registry.workload_fields import check_ints

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
MAX_INT32 = 2**31 - 1
_COMPLETION_MODES = ("NonIndexed", "Indexed")
_CONCURRENCY = ("Allow", "Forbid", "Replace")
_JOB_INTS = {"parallelism": "int32", "completions": "int32", "activeDeadlineSeconds": "int64",
             "backoffLimit": "int32", "backoffLimitPerIndex": "int32",
             "maxFailedIndexes": "int32", "ttlSecondsAfterFinished": "int32"}  # fmt: skip


# -- Job -----------------------------------------------------------------------------------------


def decode_job(obj: Obj) -> None:
    decode_template(obj, "Job")
    check_ints(obj.get("spec"), "JobSpec", "spec", _JOB_INTS)


def _default_job_spec(spec: Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    default(spec, "parallelism", 1)
    per_index = spec.get("backoffLimitPerIndex") is not None
    default(spec, "backoffLimit", MAX_INT32 if per_index else 6)
    default(spec, "completionMode", "NonIndexed")
    default(spec, "suspend", False)
    failure_policy = spec.get("podFailurePolicy")
    default(spec, "podReplacementPolicy", "Failed" if failure_policy else "TerminatingOrFailed")
    default(spec, "manualSelector", False)
    for rule in dicts(as_dict(failure_policy).get("rules")):
        for pattern in dicts(rule.get("onPodConditions")):
            default(pattern, "status", "True")


def _label_job(job: Obj) -> None:
    """A Job without labels takes its template's (as defaulting on every read does)."""
    labels = as_dict(as_dict(as_dict(job.get("spec")).get("template")).get("metadata")).get(
        "labels"
    )
    meta = job["metadata"]
    if isinstance(labels, dict) and labels and not meta.get("labels"):
        meta["labels"] = dict(labels)


def default_job(job: Obj) -> None:
    spec = job.get("spec")
    if not isinstance(spec, dict):
        return
    _default_job_spec(spec)
    default_template(spec)
    _label_job(job)


def create_job(job: Obj) -> None:
    """PrepareForCreate: the generated selector and labels unless the selector is manual."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    meta = job["metadata"]
    labels = ensure_labels(template)
    for key in (LEGACY_JOB_NAME, JOB_NAME):
        labels.setdefault(key, meta.get("name", ""))
    for key in (LEGACY_CONTROLLER_UID, CONTROLLER_UID):
        labels.setdefault(key, meta.get("uid", ""))
    template["metadata"]["labels"] = sorted_map(labels)
    selector = owned_dict(spec, "selector")
    match = owned_dict(selector, "matchLabels")
    match.setdefault(CONTROLLER_UID, meta.get("uid", ""))
    selector["matchLabels"] = sorted_map(match)
    _label_job(job)


def _has_label(labels: dict[str, Any], key: str, want: str) -> list[FieldError]:
    """ValidateHasLabel."""
    path = f"spec.template.metadata.labels[{key}]"
    if key not in labels:
        return [required(path, f"must be '{want}'")]
    if labels[key] != want:
        return [invalid(path, gotext.labels(labels), f"must be '{want}'")]
    return []


def _generated_selector_errors(job: Obj, prefixed: bool) -> list[FieldError]:
    spec, meta = as_dict(job.get("spec")), job["metadata"]
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    labels = as_dict(as_dict(as_dict(spec.get("template")).get("metadata")).get("labels"))
    errs = _has_label(labels, LEGACY_CONTROLLER_UID, uid)
    errs += _has_label(labels, LEGACY_JOB_NAME, name)
    if prefixed:
        errs += _has_label(labels, CONTROLLER_UID, uid)
        errs += _has_label(labels, JOB_NAME, name)
        expected = {CONTROLLER_UID: uid, JOB_NAME: name}
    else:
        expected = {LEGACY_CONTROLLER_UID: uid, LEGACY_JOB_NAME: name}
    selector = spec["selector"]
    converts = labelselector.requirements(selector) is not None
    if converts and not labelselector.matches(selector, expected):
        errs.append(invalid("spec.selector", gotext.label_selector(selector),
                            "`selector` not auto-generated"))  # fmt: skip
    return errs


def job_spec_errors(spec: Obj, path: str) -> list[FieldError]:
    """validateJobSpec: counts, completion mode, the template and its restart policy."""
    errs: list[FieldError] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        errs += nonnegative(spec.get(key), f"{path}.{key}")
    mode = spec.get("completionMode")
    if mode is not None and mode not in _COMPLETION_MODES:
        errs.append(not_supported(f"{path}.completionMode", mode, _COMPLETION_MODES))
    if mode == "Indexed" and spec.get("completions") is None:
        errs.append(required(f"{path}.completions", "when completion mode is Indexed"))
    template = as_dict(spec.get("template"))
    errs += validate_template(template, f"{path}.template")
    policy = as_dict(template.get("spec")).get("restartPolicy")
    at = f"{path}.template.spec.restartPolicy"
    if policy in ("Always", "", None):
        errs.append(required(at, 'valid values: "OnFailure", "Never"'))
    elif policy not in ("OnFailure", "Never"):
        errs.append(not_supported(at, policy, ("OnFailure", "Never")))
    return errs


def validate_job(job: Obj, old: Obj | None) -> list[FieldError]:
    spec = as_dict(job.get("spec"))
    prefixed = True
    if old is not None:
        # Jobs made before the prefixed labels existed are not failed for lacking them.
        old_labels = as_dict(as_dict(as_dict(as_dict(old.get("spec")).get("template")).get(
            "metadata")).get("labels"))  # fmt: skip
        prefixed = CONTROLLER_UID in old_labels and JOB_NAME in old_labels
    errs = _generated_selector_errors(job, prefixed)
    errs += job_spec_errors(spec, "spec")
    selector = spec.get("selector")
    if selector is None:
        errs.append(required("spec.selector"))
    else:
        errs += labelselector.selector_errors(selector, "spec.selector")
    labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
    converts = selector is None or labelselector.requirements(selector) is not None
    if converts and not labelselector.matches(selector, labels):
        errs.append(invalid("spec.template.metadata.labels", gotext.labels(labels),
                            "`selector` does not match template `labels`"))  # fmt: skip
    if old is not None:
        errs += _job_update_errors(spec, as_dict(old.get("spec")))
    return errs


def _job_update_errors(spec: Obj, old: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    if not same(spec.get("completions"), old.get("completions")):
        errs.append(invalid("spec.completions", spec.get("completions"), "field is immutable"))
    if not same(spec.get("selector"), old.get("selector")):
        errs.append(invalid("spec.selector", gotext.label_selector(spec.get("selector")),
                            "field is immutable"))  # fmt: skip
    if not same(spec.get("template"), old.get("template")):
        text = gotext.GoText("core.PodTemplateSpec{...}")  # the real one prints the whole struct
        errs.append(invalid("spec.template", text, "field is immutable"))
    return errs


# -- CronJob -------------------------------------------------------------------------------------


def decode_cronjob(obj: Obj) -> None:
    spec = obj.get("spec")
    ints = {"startingDeadlineSeconds": "int64", "successfulJobsHistoryLimit": "int32",
            "failedJobsHistoryLimit": "int32"}  # fmt: skip
    check_ints(spec, "CronJobSpec", "spec", ints)
    job_spec = as_dict(as_dict(as_dict(spec).get("jobTemplate")).get("spec"))
    check_ints(job_spec, "JobSpec", "spec.jobTemplate.spec", _JOB_INTS)


def default_cronjob(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    default(spec, "concurrencyPolicy", "Allow")
    default(spec, "suspend", False)
    default(spec, "successfulJobsHistoryLimit", 3)
    default(spec, "failedJobsHistoryLimit", 1)
    template = spec.get("jobTemplate")
    if isinstance(template, dict):
        embedded_metadata(template)
        if isinstance(template.get("spec"), dict):
            default_template(template["spec"])


def _schedule_errors(schedule: Any, path: str) -> list[FieldError]:
    if not schedule:
        return [required(path)]
    errs: list[FieldError] = []
    try:
        cron.parse(str(schedule))
    except cron.CronError as err:
        errs.append(invalid(path, schedule, str(err)))
    if "TZ" in str(schedule):
        detail = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        errs.append(invalid(path, schedule, detail))
    return errs


def time_zone_errors(zone: Any, path: str) -> list[FieldError]:
    """validateTimeZone: nil, or a zone of the IANA database ("Local" is not one)."""
    if zone is None:
        return []
    if zone == "":
        return [invalid(path, zone, "timeZone must be nil or non-empty string")]
    if zone == "Local":
        detail = (
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
        )
        return [invalid(path, zone, detail)]
    try:
        zoneinfo.ZoneInfo(str(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return [invalid(path, zone, f"unknown time zone {zone}")]
    return []


def validate_cronjob(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errs: list[FieldError] = []
    name = str(obj["metadata"].get("name") or "")
    if old is None and len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    errs += _schedule_errors(spec.get("schedule"), "spec.schedule")
    errs += nonnegative(spec.get("startingDeadlineSeconds"), "spec.startingDeadlineSeconds")
    policy = spec.get("concurrencyPolicy")
    if not policy:
        errs.append(required("spec.concurrencyPolicy"))
    elif policy not in _CONCURRENCY:
        errs.append(not_supported("spec.concurrencyPolicy", policy, _CONCURRENCY))
    job_spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    errs += job_spec_errors(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        errs.append(invalid("spec.jobTemplate.spec.selector",
                            gotext.label_selector(job_spec["selector"]),
                            "`selector` will be auto-generated"))  # fmt: skip
    if job_spec.get("manualSelector") is True:
        errs.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ("nil", "false")))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += nonnegative(spec.get(key), f"spec.{key}")
    errs += time_zone_errors(spec.get("timeZone"), "spec.timeZone")
    return errs


STRATEGIES: Strategies = {
    ("batch", "jobs"): Strategy(
        decode=decode_job, defaults=default_job, create=create_job, validate=validate_job,
        initial_status={},
    ),
    ("batch", "cronjobs"): Strategy(
        decode=decode_cronjob, defaults=default_cronjob, validate=validate_cronjob,
        initial_status={},
    ),
}  # fmt: skip
