"""Drives one training job from admission to its terminal status (one asyncio task per job).

Attempt loop: Starting -> Downloading -> Training -> (Interrupted -> Starting ...)* -> Uploading ->
Completed | Failed | Stopped. Spot interruptions (policy or `kiln spot interrupt`) SIGTERM the hosts,
save checkpoints and start a new attempt that restores them, within MaxWaitTimeInSeconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.core.instances import lookup
from kiln.core.jobs.lifecycle import JobStatus, SecondaryStatus
from kiln.execution import runtimes
from kiln.execution.local import process
from kiln.execution.slots import Lease, SlotPool
from kiln.services.s3.store import ObjectStore, parse_uri
from kiln.services.training import hosts as hostplan
from kiln.services.training import staging
from kiln.services.training.checkpoints import CheckpointSync
from kiln.services.training.logpump import LinePump, MetricParser
from kiln.services.training.models import TrainingJob
from kiln.services.training.service import TrainingService

LOG = logging.getLogger(__name__)
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
METRIC_NAMESPACE = "/aws/sagemaker/TrainingJobs"


@dataclass(slots=True)
class RunnerDeps:
    service: TrainingService
    objects: ObjectStore
    logs: Any  # kiln.services.logs.store.LogStore
    metrics: Any | None  # kiln.services.metrics.store.MetricStore
    slots: SlotPool
    jobs_dir: Path
    cache_dir: Path
    endpoint_url: str
    owner: str
    stop_grace: float = 30.0
    spot_mtbi: float = 0.0  # mean seconds between injected spot interruptions; 0 = never
    spot_restart_delay: float = 1.0


@dataclass(slots=True)
class Outcome:
    kind: str  # "exited" | "stopped" | "timeout" | "interrupted" | "maxwait" | "failed"
    reason: str | None = None


class TrainingRunner:
    def __init__(self, deps: RunnerDeps, job: TrainingJob) -> None:
        self.d = deps
        self.job = job
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self.stream_epoch = int(job.created_at)
        self.parser: MetricParser | None = None
        self._pending_metrics: list[Any] = []

    # -- signals from API threads --------------------------------------------------------------
    def signal(self, what: str) -> None:
        self.loop.call_soon_threadsafe(self.wake.set)

    def _reload(self) -> TrainingJob:
        self.job = self.d.service.get(self.job.scope, self.job.name)
        return self.job

    def _advance(self, status: JobStatus | None, secondary: SecondaryStatus, message: str | None = None,
                 **changes: Any) -> None:
        self.job = self.d.service.advance(self._reload(), status, secondary, message, **changes)

    # -- logging into the job's own streams --------------------------------------------------
    def stream(self, host: str) -> str:
        return f"{self.job.name}/{host}-{self.stream_epoch}"

    def log(self, text: str, host: str = "algo-1") -> None:
        try:
            self.d.logs.ensure_stream(self.job.scope, LOG_GROUP, self.stream(host))
            self.d.logs.put_events(self.job.scope, LOG_GROUP, self.stream(host), [(int(time.time() * 1000), text)])
        except Exception:
            LOG.exception("job log write failed")

    # -- main -----------------------------------------------------------------------------------
    async def run(self) -> None:
        self.d.service.signals[self.job.arn] = self.signal
        lease: Lease | None = None
        try:
            lease = await self._acquire()
            if lease is None:
                return
            outcome = await self._attempts(lease)
            await self._finish(outcome)
        except Exception as exc:
            LOG.exception("training job %s crashed", self.job.name)
            with contextlib.suppress(Exception):
                self._advance(JobStatus.FAILED, SecondaryStatus.FAILED,
                              failure_reason=f"InternalServerError: Kiln failed to run the job: {exc}")
        finally:
            self.d.service.signals.pop(self.job.arn, None)
            if lease is not None:
                self.d.slots.release(lease)

    async def _acquire(self) -> Lease | None:
        shape = lookup(self.job.instance_type)
        want_cpu, want_gpu = shape.vcpu * self.job.instance_count, shape.gpus * self.job.instance_count
        told = False
        while True:
            if self._reload().stop_requested:
                self._advance(JobStatus.STOPPED, SecondaryStatus.STOPPED)
                return None
            lease = self.d.slots.try_acquire(want_cpu, want_gpu)
            if lease is not None:
                return lease
            if not told:
                cpus, _ = self.d.slots.fit(want_cpu, want_gpu)
                self._advance(None, SecondaryStatus.STARTING,
                              f"Waiting for capacity: {cpus} vCPU requested, {self.d.slots.free_cpus} free")
                told = True
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 0.5)

    async def _attempts(self, lease: Lease) -> Outcome:
        while True:
            outcome = await self._attempt(lease)
            if outcome.kind != "interrupted":
                return outcome
            job = self._reload()
            self._advance(None, SecondaryStatus.INTERRUPTED, interruptions=job.interruptions + 1,
                          interrupt_requested=False)
            self.log(f"Kiln: spot interruption #{self.job.interruptions}; checkpoints saved. Waiting for capacity.")
            await asyncio.sleep(self.d.spot_restart_delay)
            if self._max_wait_left() <= 0:
                return Outcome("maxwait")
            if self._reload().stop_requested:
                return Outcome("stopped")
            self._advance(None, SecondaryStatus.STARTING,
                          "Spot capacity is available again; restarting from the last checkpoint")

    def _max_wait_left(self) -> float:
        if self.job.max_wait is None:
            return float("inf")
        return self.job.created_at + self.job.max_wait - time.time()

    async def _attempt(self, lease: Lease) -> Outcome:
        job = self._reload()
        attempt = job.attempts + 1
        self._advance(None, SecondaryStatus.DOWNLOADING, attempts=attempt)
        attempt_dir = self.d.jobs_dir / job.scope.account_id / job.scope.region / job.name / f"attempt-{attempt}"
        shutil.rmtree(attempt_dir.parent, ignore_errors=True)
        attempt_dir.mkdir(parents=True)
        try:
            plans, ckpt = await asyncio.to_thread(self._prepare, attempt_dir, lease)
        except (staging.StagingError, runtimes.UnknownImage, ValueError) as exc:
            return Outcome("failed", str(exc))
        self._advance(None, SecondaryStatus.TRAINING, training_start=self.job.training_start or time.time())
        started = time.monotonic()
        try:
            return await self._supervise(plans, ckpt)
        finally:
            elapsed = time.monotonic() - started
            job = self._reload()
            self.job = self.d.service.update(job, running_seconds=job.running_seconds + elapsed)
            self._attempt_dir = attempt_dir
            self._plans = plans
            if ckpt is not None:
                await asyncio.to_thread(ckpt.sync)

    def _prepare(self, attempt_dir: Path, lease: Lease) -> tuple[list[hostplan.HostPlan], CheckpointSync | None]:
        job = self.job
        algo = job.spec["AlgorithmSpecification"]
        image = algo.get("TrainingImage") or ""
        script = "sagemaker_program" in job.hyperparameters or bool(algo.get("ContainerEntrypoint"))
        runtime = runtimes.resolve(image, script_mode=script)
        for host in [f"algo-{i + 1}" for i in range(job.instance_count)]:
            self.d.logs.ensure_stream(job.scope, LOG_GROUP, self.stream(host))
        if note := runtime.version_note():
            self.log(note)
        isolated_why = process.namespace_support()
        if isolated_why:
            self.log(f"Kiln: the job sees its files at {attempt_dir}/algo-N, not /opt/ml "
                     f"(private mounts unavailable: {isolated_why}).")
        shape = lookup(job.instance_type)
        if shape.gpus and not lease.gpus:
            self.log(f"Kiln: {job.instance_type} has {shape.gpus} GPU(s) but this host has none free; "
                     "running on the CPU.")
        definitions = list(algo.get("MetricDefinitions") or [])
        if runtime.algorithm_module:
            definitions += _builtin_metric_definitions(runtime.algorithm_module)
        self.parser = MetricParser.build(definitions, self.log)
        names = [f"algo-{i + 1}" for i in range(job.instance_count)]
        hosts_file = hostplan.write_hosts_file(attempt_dir / "hosts", names)
        roots = [attempt_dir / f"algo-{i + 1}" for i in range(job.instance_count)]
        for r in roots:
            r.mkdir(parents=True, exist_ok=True)
        staging.stage_channels(self.d.objects, job.spec.get("InputDataConfig") or [], roots, self.log)
        _, framework = hostplan.contract.split_hyperparameters(job.hyperparameters)
        extra: list[str] = []
        if framework.get("sagemaker_submit_directory") and not runtime.algorithm_module:
            staging.stage_code(self.d.objects, str(framework["sagemaker_submit_directory"]),
                               [r / "code" for r in roots])
            req = roots[0] / "code" / "requirements.txt"
            if req.exists():
                target = staging.install_requirements(req, self.d.cache_dir / "requirements", runtime.python, self.log)
                if target is not None:
                    extra.append(str(target))
        plans = hostplan.plan_hosts(job, runtime, attempt_dir, isolated=isolated_why is None,
                                    gpus=list(lease.gpus), host_cpus=lease.cpus, endpoint_url=self.d.endpoint_url,
                                    owner=self.d.owner, extra_path=extra)
        self._hosts_file = hosts_file if isolated_why is None else None
        ckpt = None
        sub = hostplan.checkpoint_subdir(job)
        if sub:
            ckpt = CheckpointSync(self.d.objects, job.checkpoint["S3Uri"],  # type: ignore[index]
                                  [p.layout.path(*sub.split("/")) for p in plans], job.scope.account_id,
                                  job.scope.region)
            restored = ckpt.restore()
            if restored:
                self.log(f"Kiln: restored {restored} checkpoint file(s) from {job.checkpoint['S3Uri']}")  # type: ignore[index]
        return plans, ckpt

    def _sink(self, host: str) -> Any:
        stream = self.stream(host)

        def sink(lines: list[tuple[int, str]]) -> None:
            self.d.logs.put_events(self.job.scope, LOG_GROUP, stream, lines)
            pending, self._pending_metrics = self._pending_metrics, []
            if pending and self.d.metrics is not None:
                self.d.metrics.put(self.job.scope, pending)

        return sink

    def _on_line(self, line: str, ts: float) -> None:
        if self.parser is None:
            return
        for name, value in self.parser.feed(line, ts):
            if self.d.metrics is not None:
                from kiln.services.metrics.store import Datum

                self._pending_metrics.append(Datum(METRIC_NAMESPACE, name, (("TrainingJobName", self.job.name),),
                                                   ts, value))

    async def _supervise(self, plans: list[hostplan.HostPlan], ckpt: CheckpointSync | None) -> Outcome:
        procs = [await process.spawn(p.name, p.argv, env=p.env, cwd=p.cwd,
                                     host_dir=p.layout.root if p.layout.visible == process.OPT_ML else None,
                                     hosts_file=self._hosts_file) for p in plans]
        pumps = [LinePump(pr.process.stdout, self._sink(pr.host), self._on_line) for pr in procs]  # type: ignore[arg-type]
        pump_tasks = [asyncio.create_task(pump.run()) for pump in pumps]
        waits = [asyncio.create_task(pr.process.wait()) for pr in procs]
        deadline = time.monotonic() + max(0.0, self.job.max_runtime - self.job.running_seconds)
        wait_deadline = time.monotonic() + self._max_wait_left()
        interrupt_at = (time.monotonic() + random.expovariate(1 / self.d.spot_mtbi)
                        if self.job.spot and self.d.spot_mtbi > 0 else float("inf"))
        try:
            reason = await self._watch(waits, deadline, wait_deadline, interrupt_at, ckpt)
        except asyncio.CancelledError:  # server shutting down: the processes go with it
            for p in procs:
                p.signal(signal.SIGKILL)
            raise
        if reason:
            if reason == "timeout":
                self.log(f"Kiln: MaxRuntimeInSeconds ({self.job.max_runtime}s) exceeded; stopping the job.")
            await self._terminate(procs, waits)
        await asyncio.gather(*pump_tasks, return_exceptions=True)
        codes = [w.result() for w in waits]
        self._tails = [p.tail for p in pumps]
        if reason and reason != "hostfailed":
            return Outcome(reason)
        if all(c == 0 for c in codes):
            return Outcome("exited")
        return Outcome("failed", self._failure_reason(plans, codes))

    async def _watch(self, waits: list[asyncio.Task[int]], deadline: float, wait_deadline: float,
                     interrupt_at: float, ckpt: CheckpointSync | None) -> str | None:
        """Wait for the hosts to exit, or for a reason to end them early."""
        last_sync = time.monotonic()
        reason: str | None = None
        while not all(w.done() for w in waits):
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 0.5)
            now = time.monotonic()
            job = self._reload()
            if job.stop_requested:
                reason = "stopped"
            elif now >= deadline:
                reason = "timeout"
            elif now >= wait_deadline:
                reason = "maxwait"
            elif job.interrupt_requested or now >= interrupt_at:
                reason = "interrupted"
            elif any(w.done() and w.result() != 0 for w in waits):
                reason = "hostfailed"
            if reason:
                break
            if ckpt is not None and now - last_sync >= 2.0:
                await asyncio.to_thread(ckpt.sync)
                last_sync = now
        return reason

    async def _terminate(self, procs: list[process.HostProcess], waits: list[asyncio.Task[int]]) -> None:
        for p in procs:
            p.signal(signal.SIGTERM)
        _, pending = await asyncio.wait(waits, timeout=self.d.stop_grace)
        for p in procs:
            p.signal(signal.SIGKILL)
        if pending:
            await asyncio.wait(pending, timeout=10)

    def _failure_reason(self, plans: list[hostplan.HostPlan], codes: list[int]) -> str:
        for plan in plans:
            failure = plan.layout.path("output", "failure")
            if failure.exists():
                text = failure.read_text(errors="replace").strip()
                if text:
                    return text[:1024]
        i = next(i for i, c in enumerate(codes) if c != 0)
        tail = "\n".join(self._tails[i][-5:])
        cmd = " ".join(plans[i].argv)
        return (f'AlgorithmError: ExecuteUserScriptError:\nExitCode {codes[i]}\nErrorMessage "{tail}"\n'
                f'Command "{cmd}", exit code: {codes[i]}')[:1024]

    async def _finish(self, outcome: Outcome) -> None:
        final = self.parser.final() if self.parser else []
        if outcome.kind == "failed":
            self._advance(JobStatus.FAILED, SecondaryStatus.FAILED, failure_reason=outcome.reason,
                          training_end=time.time(), final_metrics=final)
            return
        if outcome.kind == "maxwait":
            self._advance(JobStatus.STOPPED, SecondaryStatus.MAX_WAIT_TIME_EXCEEDED, training_end=time.time(),
                          final_metrics=final)
            return
        self._advance(None, SecondaryStatus.UPLOADING)
        artifacts = await asyncio.to_thread(self._upload)
        end = {"training_end": time.time(), "final_metrics": final, "model_artifacts": artifacts}
        if outcome.kind == "exited":
            self._advance(JobStatus.COMPLETED, SecondaryStatus.COMPLETED, **end)
        elif outcome.kind == "timeout":
            self._advance(JobStatus.STOPPED, SecondaryStatus.MAX_RUNTIME_EXCEEDED, **end)
        else:
            self._advance(JobStatus.STOPPED, SecondaryStatus.STOPPED, **end)

    def _upload(self) -> str:
        base = self.job.output_path.rstrip("/") + f"/{self.job.name}/output"
        bucket, prefix = parse_uri(base)
        self.d.objects.ensure_bucket(bucket, self.job.scope.account_id, self.job.scope.region)
        model = staging.make_archive([p.layout.path("model") for p in self._plans])
        self.d.objects.put_file(bucket, f"{prefix}/model.tar.gz", model, content_type="application/x-tar")
        output = staging.make_archive([p.layout.path("output", "data") for p in self._plans])
        self.d.objects.put_file(bucket, f"{prefix}/output.tar.gz", output, content_type="application/x-tar")
        shutil.rmtree(self._attempt_dir, ignore_errors=True)
        return f"s3://{bucket}/{prefix}/model.tar.gz"


def _builtin_metric_definitions(module: str) -> list[dict[str, str]]:
    try:
        import importlib

        return list(importlib.import_module(f"{module}.metrics").METRIC_DEFINITIONS)
    except (ImportError, AttributeError):
        return []
