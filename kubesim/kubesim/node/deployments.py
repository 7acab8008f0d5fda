"""The Deployment controller (pkg/controller/deployment): replica sets by pod-template-hash,
revisions, rolling updates and recreates, scaling, history cleanup and the rollout status that
`kubectl rollout status` watches.

Simplified: a scaling event with several active replica sets (mid-rollout) is not spread
proportionally: the rollout itself then converges on the new size. Rollbacks through the
long-removed rollbackTo field are not served (kubectl rollout undo patches the template).
"""

from __future__ import annotations

import contextlib
import copy

from kubesim.apiserver.store import StorageKey
from kubesim.node import deployment_util as util
from kubesim.node.control import PODS, Context, Key, Obj
from kubesim.node.owners import (
    controller_ref,
    find,
    labels_of,
    owner_reference,
    template_hash,
)
from kubesim.registry import labelselector
from kubesim.registry.errors import ApiError
from kubesim.registry.strategy import as_dict

COMPONENT = "deployment-controller"
RS_KIND = ("apps", "replicasets")


class Deployments:
    """Reconciles each Deployment's replica sets and status."""

    children: tuple[StorageKey, ...] = (RS_KIND,)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rt = ctx.rt("apps", "deployments")
        self.rs_rt = ctx.rt("apps", "replicasets")
        self.kind = self.rt.storage_key

    def selects(self, owner: Obj, child: Obj) -> bool:
        selector = as_dict(owner.get("spec")).get("selector")
        return not labelselector.is_empty(selector) and labelselector.matches(
            selector, labels_of(child)
        )

    # -- claiming ------------------------------------------------------------------------------

    def _claim(self, d: Obj, key: Key) -> list[Obj]:
        ref = owner_reference(d, "apps/v1", "Deployment")
        rss = []
        for rs in self.ctx.owned(RS_KIND, d):
            if self.selects(d, rs) or d["metadata"].get("deletionTimestamp"):
                rss.append(rs)
                continue
            with contextlib.suppress(ApiError):
                self.ctx.update(self.rs_rt, rs, util.dropping(d["metadata"]["uid"]))
        if not d["metadata"].get("deletionTimestamp"):
            for _, orphan in self.ctx.take_candidates(self.kind, key):
                if self.selects(d, orphan) and not orphan["metadata"].get("deletionTimestamp"):
                    try:
                        adopted = self.ctx.update(
                            self.rs_rt, orphan, lambda r: util.add_owner(r, ref)
                        )
                    except ApiError:
                        continue
                    if adopted is not None and controller_ref(adopted) == ref:
                        rss.append(adopted)
        return sorted(rss, key=util.created)

    # -- sync ------------------------------------------------------------------------------------

    def sync(self, key: Key) -> float | None:
        d = self.ctx.get(self.kind, key)
        if d is None:
            return None
        rss = self._claim(d, key)
        if d["metadata"].get("deletionTimestamp"):
            new_rs, _ = util.split(d, rss)
            self._write_status(d, util.calculate_status(d, rss, new_rs))
            return None
        d = self._paused_condition(d)
        spec = as_dict(d.get("spec"))
        if spec.get("paused") or self._scaling_event(d, rss):
            return self._sync_scale(self.ctx.get(self.kind, key) or d, rss)
        d = self.ctx.get(self.kind, key) or d
        if util.strategy(d).get("type") == "Recreate":
            return self._recreate(d, rss)
        return self._rolling(d, rss)

    def _paused_condition(self, d: Obj) -> Obj:
        """checkPausedConditions: Progressing Unknown while paused, and when resumed."""
        if as_dict(d.get("spec")).get("progressDeadlineSeconds") is None:
            return d
        status = copy.deepcopy(as_dict(d.get("status")))
        cond = find(status, "Progressing")
        if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
            return d
        paused_cond = cond is not None and cond.get("reason") == "DeploymentPaused"
        paused = bool(as_dict(d.get("spec")).get("paused"))
        if paused and not paused_cond:
            util.set_progressing(status, "Unknown", "DeploymentPaused", "Deployment is paused")
        elif not paused and paused_cond:
            util.set_progressing(status, "Unknown", "DeploymentResumed", "Deployment is resumed")
        else:
            return d
        return self._write_status(d, status) or d

    def _scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        new_rs, _ = util.split(d, rss)
        if new_rs is not None:
            self._sync_revision(d, new_rs, rss)
        for rs in rss:
            desired = util.desired_annotation(rs)
            if util.replicas(rs) > 0 and desired is not None and desired != util.replicas(d):
                return True
        return False

    # -- the new replica set and revisions -----------------------------------------------------

    def _new_revision(self, old_rss: list[Obj]) -> int:
        return max((util.revision(rs) for rs in old_rss), default=0) + 1

    def _sync_revision(self, d: Obj, new_rs: Obj, rss: list[Obj]) -> Obj:
        """An existing new replica set: its annotations and minReadySeconds brought up to
        date, then the deployment's revision annotation (getNewReplicaSet)."""
        old_rss = [rs for rs in rss if rs is not new_rs]
        revision = self._new_revision(old_rss)
        min_ready = as_dict(d.get("spec")).get("minReadySeconds") or 0

        def update(rs: Obj) -> None:
            util.set_new_rs_annotations(d, rs, revision, exists=True)
            if (as_dict(rs.get("spec")).get("minReadySeconds") or 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready

        probe = copy.deepcopy(new_rs)
        update(probe)
        if probe != new_rs:
            return self.ctx.update(self.rs_rt, new_rs, update) or new_rs
        rs_revision = as_dict(new_rs["metadata"].get("annotations")).get(util.REVISION)
        status = copy.deepcopy(as_dict(d.get("status")))
        needs = as_dict(d["metadata"].get("annotations")).get(util.REVISION) != rs_revision
        if find(status, "Progressing") is None:
            message = f'Found new replica set "{new_rs["metadata"]["name"]}"'
            util.set_progressing(status, "True", "FoundNewReplicaSet", message)
            needs = True
        if needs:
            self._write_status(d, status, revision=rs_revision)
        return new_rs

    def _create_new(self, d: Obj, rss: list[Obj]) -> Obj | None:
        """A new replica set for the deployment's template (getNewReplicaSet, creating)."""
        spec = as_dict(d.get("spec"))
        status = as_dict(d.get("status"))
        collisions = status.get("collisionCount")
        template = copy.deepcopy(as_dict(spec.get("template")))
        digest = template_hash(template, collisions if isinstance(collisions, int) else None)
        labels = {
            **as_dict(as_dict(template.get("metadata")).get("labels")),
            util.HASH_LABEL: digest,
        }
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(as_dict(spec.get("selector")))
        selector["matchLabels"] = {**as_dict(selector.get("matchLabels")), util.HASH_LABEL: digest}
        name = f"{d['metadata']['name']}-{digest}"
        rs: Obj = {
            "metadata": {
                "name": name,
                "labels": dict(labels),
                "ownerReferences": [owner_reference(d, "apps/v1", "Deployment")],
            },
            "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds") or 0,
                     "selector": selector, "template": template},
        }  # fmt: skip
        count = self._new_rs_replicas(d, rss, rs)
        rs["spec"]["replicas"] = count
        util.set_new_rs_annotations(d, rs, self._new_revision(rss), exists=False)
        namespace = d["metadata"]["namespace"]
        try:
            created = self.ctx.create(self.rs_rt, namespace, rs)
        except ApiError as err:
            self._create_failed(d, name, err)
            return None
        if count > 0:
            message = f"Scaled up replica set {name} from 0 to {count}"
            self.ctx.event(d, "ScalingReplicaSet", message, COMPONENT)
        status = copy.deepcopy(as_dict(d.get("status")))
        util.set_progressing(status, "True", "NewReplicaSetCreated",
                             f'Created new replica set "{name}"')  # fmt: skip
        self._write_status(d, status, revision=str(util.revision(created)))
        return created

    def _create_failed(self, d: Obj, name: str, err: ApiError) -> None:
        if err.code == 409 and err.reason == "AlreadyExists":
            existing = self.ctx.get(RS_KIND, (d["metadata"]["namespace"], name))
            ref = controller_ref(existing)
            if existing is not None and ref is not None and ref.get("uid") == d["metadata"]["uid"]:
                return  # ours: the next sync finds it
            status = copy.deepcopy(as_dict(d.get("status")))
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            self._write_status(d, status)
            return
        message = f'Failed to create new replica set "{name}": {err.message}'
        status = copy.deepcopy(as_dict(d.get("status")))
        util.set_progressing(status, "False", "ReplicaSetCreateError", message)
        self._write_status(d, status)
        self.ctx.event(d, "ReplicaSetCreateError", message, COMPONENT, warning=True)

    def _new_rs_replicas(self, d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
        """NewRSNewReplicas."""
        if not util.is_rolling(d):
            return util.replicas(d)
        name = new_rs["metadata"]["name"]
        current = util.spec_replicas([rs for rs in all_rss if rs["metadata"]["name"] != name])
        current += util.replicas(new_rs)
        most = util.replicas(d) + util.max_surge(d)
        if current >= most:
            return util.replicas(new_rs)
        room = min(most - current, util.replicas(d) - util.replicas(new_rs))
        return util.replicas(new_rs) + room

    # -- scaling -------------------------------------------------------------------------------

    def _scale_rs(self, d: Obj, rs: Obj, count: int) -> Obj:
        """scaleReplicaSetAndRecordEvent: spec.replicas and the replicas annotations."""
        was = util.replicas(rs)
        surge = util.max_surge(d)

        def scale(r: Obj) -> None:
            r["spec"]["replicas"] = count
            util.set_replicas_annotations(r, util.replicas(d), util.replicas(d) + surge)

        updated = self.ctx.update(self.rs_rt, rs, scale) or rs
        if was != count:
            way = "up" if count > was else "down"
            message = f"Scaled {way} replica set {rs['metadata']['name']} from {was} to {count}"
            self.ctx.event(d, "ScalingReplicaSet", message, COMPONENT)
        return updated

    def _sync_scale(self, d: Obj, rss: list[Obj]) -> float | None:
        """dc.sync: a scaling event (or a paused deployment): scale, clean up, report."""
        new_rs, old_rss = util.split(d, rss)
        active = [rs for rs in rss if util.replicas(rs) > 0]
        target = None
        if len(active) == 1:
            target = active[0]
        elif not active:
            target = new_rs or (rss[-1] if rss else None)
        if target is not None and util.replicas(target) != util.replicas(d):
            self._scale_rs(d, target, util.replicas(d))
        elif new_rs is not None and util.replicas(new_rs) >= util.replicas(d):
            for rs in old_rss:
                if util.replicas(rs) > 0:
                    self._scale_rs(d, rs, 0)
        rss = self._fresh(rss)
        new_rs, old_rss = util.split(d, rss)
        d = self.ctx.get(self.kind, util.key_of(d)) or d
        if as_dict(d.get("spec")).get("paused"):
            self._cleanup(d, old_rss)
        self._write_status(d, util.calculate_status(d, rss, new_rs))
        return None

    def _fresh(self, rss: list[Obj]) -> list[Obj]:
        found = (self.ctx.get(RS_KIND, (rs["metadata"]["namespace"], rs["metadata"]["name"]))
                 for rs in rss)  # fmt: skip
        return sorted((rs for rs in found if rs is not None), key=util.created)

    # -- strategies ------------------------------------------------------------------------------

    def _rolling(self, d: Obj, rss: list[Obj]) -> float | None:
        new_rs, old_rss = util.split(d, rss)
        if new_rs is None:
            new_rs = self._create_new(d, rss)
            d = self.ctx.get(self.kind, util.key_of(d)) or d
            if new_rs is None:
                return self.ctx.backoff(self.kind, util.key_of(d))
            return self._rollout_status(d, self._fresh([*old_rss, new_rs]))
        new_rs = self._sync_revision(d, new_rs, rss)
        want = util.replicas(d)
        if util.replicas(new_rs) != want:
            count = want if util.replicas(new_rs) > want else self._new_rs_replicas(d, rss, new_rs)
            if count != util.replicas(new_rs):
                self._scale_rs(d, new_rs, count)
                return self._rollout_status(d, self._fresh(rss))
        if self._scale_down_old(d, new_rs, old_rss):
            return self._rollout_status(d, self._fresh(rss))
        if util.is_complete(d, as_dict(d.get("status"))):
            self._cleanup(d, old_rss)
        return self._rollout_status(d, self._fresh(rss))

    def _scale_down_old(self, d: Obj, new_rs: Obj, old_rss: list[Obj]) -> bool:
        """reconcileOldReplicaSets: unhealthy old replicas first, then as many as the
        deployment's minimum availability allows."""
        if util.spec_replicas(old_rss) == 0:
            return False
        all_rss = [*old_rss, new_rs]
        min_available = util.replicas(d) - util.max_unavailable(d)
        new_unavailable = util.replicas(new_rs) - int(
            as_dict(new_rs.get("status")).get("availableReplicas") or 0
        )
        most = util.spec_replicas(all_rss) - min_available - new_unavailable
        if most <= 0:
            return False
        scaled = 0
        current = list(old_rss)
        for i, rs in enumerate(current):
            available = int(as_dict(rs.get("status")).get("availableReplicas") or 0)
            if scaled >= most or util.replicas(rs) == 0 or util.replicas(rs) == available:
                continue
            down = min(most - scaled, util.replicas(rs) - available)
            current[i] = self._scale_rs(d, rs, util.replicas(rs) - down)
            scaled += down
        available_now = util.status_count([*current, new_rs], "availableReplicas")
        room = available_now - min_available
        done = 0
        for rs in current:
            if done >= room:
                break
            if util.replicas(rs) == 0:
                continue
            down = min(util.replicas(rs), room - done)
            self._scale_rs(d, rs, util.replicas(rs) - down)
            done += down
        return scaled + max(0, done) > 0

    def _recreate(self, d: Obj, rss: list[Obj]) -> float | None:
        new_rs, old_rss = util.split(d, rss)
        if new_rs is not None:
            new_rs = self._sync_revision(d, new_rs, rss)
        active_old = [rs for rs in old_rss if util.replicas(rs) > 0]
        if active_old:
            for rs in active_old:
                self._scale_rs(d, rs, 0)
            return self._rollout_status(d, self._fresh(rss))
        if self._old_pods_running(new_rs, old_rss):
            return self._rollout_status(d, rss)
        if new_rs is None:
            new_rs = self._create_new(d, rss)
            d = self.ctx.get(self.kind, util.key_of(d)) or d
            if new_rs is None:
                return self.ctx.backoff(self.kind, util.key_of(d))
            rss = self._fresh([*rss, new_rs])
        if util.replicas(new_rs) != util.replicas(d):
            self._scale_rs(d, new_rs, util.replicas(d))
        if util.is_complete(d, as_dict(d.get("status"))):
            self._cleanup(d, old_rss)
        return self._rollout_status(d, self._fresh(rss))

    def _old_pods_running(self, new_rs: Obj | None, old_rss: list[Obj]) -> bool:
        if util.status_count(old_rss, "replicas") > 0:
            return True
        for rs in old_rss:
            for pod in self.ctx.owned(PODS, rs):
                if as_dict(pod.get("status")).get("phase") not in ("Succeeded", "Failed"):
                    return True
        return False

    def _cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        """cleanupDeployment: old replica sets past revisionHistoryLimit, oldest first."""
        limit = as_dict(d.get("spec")).get("revisionHistoryLimit")
        if not isinstance(limit, int):
            return
        alive = [rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")]
        for rs in sorted(alive, key=lambda r: (util.revision(r), util.created(r)))[
            : max(0, len(alive) - limit)
        ]:
            status = as_dict(rs.get("status"))
            if (
                status.get("replicas")
                or util.replicas(rs)
                or int(status.get("observedGeneration") or 0)
                < int(rs["metadata"].get("generation") or 0)
            ):
                continue
            self.ctx.delete(self.rs_rt, rs)

    # -- status --------------------------------------------------------------------------------

    def _rollout_status(self, d: Obj, rss: list[Obj]) -> float | None:
        """syncRolloutStatus: counts, Available, and Progressing with the real reasons."""
        d = self.ctx.get(self.kind, util.key_of(d)) or d
        new_rs, _ = util.split(d, rss)
        status = util.calculate_status(d, rss, new_rs)
        spec = as_dict(d.get("spec"))
        has_deadline = isinstance(spec.get("progressDeadlineSeconds"), int)
        current = find(as_dict(d.get("status")), "Progressing")
        complete = (
            status["replicas"] == status["updatedReplicas"]
            and current is not None
            and current.get("reason") == "NewReplicaSetAvailable"
        )
        if not has_deadline:
            status["conditions"] = [c for c in status["conditions"] if c["type"] != "Progressing"]
        elif not complete:
            self._progress(d, status, new_rs)
        self._write_status(d, status)
        if has_deadline and not complete:
            return util.deadline(d, status)
        return None

    def _progress(self, d: Obj, status: Obj, new_rs: Obj | None) -> None:
        name = new_rs["metadata"]["name"] if new_rs else None
        subject = f'ReplicaSet "{name}"' if name else f'Deployment "{d["metadata"]["name"]}"'
        if util.is_complete(d, status):
            util.set_progressing(status, "True", "NewReplicaSetAvailable",
                                 f"{subject} has successfully progressed.")  # fmt: skip
        elif util.is_progressing(d, status):
            # Progress renews lastUpdateTime, keeping the transition time of a True condition.
            util.set_progressing(status, "True", "ReplicaSetUpdated",
                                 f"{subject} is progressing.", refresh=True)  # fmt: skip
        elif util.deadline(d, status) == 0:
            util.set_progressing(status, "False", "ProgressDeadlineExceeded",
                                 f"{subject} has timed out progressing.")  # fmt: skip

    def _write_status(self, d: Obj, status: Obj, *, revision: str | None = None) -> Obj | None:
        final = util.finish_status(status)

        def write(obj: Obj) -> None:
            obj["status"] = final
            if revision is not None:
                annotations = obj["metadata"].setdefault("annotations", {})
                annotations[util.REVISION] = revision

        return self.ctx.status(self.rt, d, write)
