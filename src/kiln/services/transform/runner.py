"""One transform job, start to end: list the inputs, start a model server per instance (as many as
there are input objects, at most InstanceCount), settle the run's settings (the request's, else the
container's `/execution-parameters`, else SageMaker's defaults), spread the objects over the
instances, run an `InstanceWorker` on each, and end Completed, Failed (with SageMaker's reason and
the failing record's lines in the job log) or Stopped. The model servers always stop at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.core.errors import DomainError, NotFound
from kiln.core.instances import lookup
from kiln.core.jobs.lifecycle import JobStatus
from kiln.services.hosting.replicas import Replica, ReplicaStartError, new_instance_id
from kiln.services.s3.store import ObjectStore
from kiln.services.transform import capture
from kiln.services.transform import models as m
from kiln.services.transform.inputs import InputError, list_inputs, spread
from kiln.services.transform.launcher import InstanceSpec, TransformLauncher
from kiln.services.transform.models import RunSettings, TransformJob
from kiln.services.transform.service import TransformService
from kiln.services.transform.worker import Counters, InstanceWorker, RecordFailed

LOG = logging.getLogger(__name__)
UNLIMITED_SERVER_PAYLOAD_MB = "4096"  # MaxPayloadInMB=0: the model server takes whole objects
WORKER_VARS = ("SAGEMAKER_MODEL_SERVER_WORKERS", "SAGEMAKER_NUM_MODEL_WORKERS")  # MMS's, the XGBoost container's


@dataclass(frozen=True, slots=True)
class RunnerDeps:
    service: TransformService
    objects: ObjectStore
    launcher: TransformLauncher
    jobs_dir: Path
    startup_timeout: float = 600.0
    stop_grace: float = 5.0


class _Stopped(Exception):
    pass


def sagemaker_log(text: str) -> str:
    """A platform line as SageMaker writes it into a transform job's log."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}"
    return f"{stamp}:[sagemaker logs]: {text}"


def container_environment(spec: dict[str, Any]) -> dict[str, str]:
    """What SageMaker sets in a transform container, with the job's Environment."""
    env = {str(k): str(v) for k, v in (spec.get("Environment") or {}).items()}
    env["SAGEMAKER_BATCH"] = "true"
    if spec.get("MaxPayloadInMB") is not None:
        env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(spec["MaxPayloadInMB"] or UNLIMITED_SERVER_PAYLOAD_MB)
    if spec.get("BatchStrategy"):
        env["SAGEMAKER_BATCH_STRATEGY"] = "MULTI_RECORD" if spec["BatchStrategy"] == "MultiRecord" else "SINGLE_RECORD"
    if spec.get("MaxConcurrentTransforms"):
        env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(spec["MaxConcurrentTransforms"])
    return env


def resolve_settings(spec: dict[str, Any], params: dict[str, Any] | None, start: float = 0.0) -> RunSettings:
    params = params or {}
    source, output = spec["TransformInput"], spec["TransformOutput"]
    strategy = spec.get("BatchStrategy") or {"SINGLE_RECORD": "SingleRecord"}.get(
        str(params.get("BatchStrategy", "")).upper(), "MultiRecord")
    payload = spec.get("MaxPayloadInMB")
    if payload is None:
        payload = _int(params.get("MaxPayloadInMB"), m.DEFAULT_PAYLOAD_MB)
    concurrent = spec.get("MaxConcurrentTransforms") or _int(params.get("MaxConcurrentTransforms"), 1)
    client = spec.get("ModelClientConfig") or {}
    processing = spec.get("DataProcessing") or {}
    return RunSettings(
        content_type=source.get("ContentType"), accept=output.get("Accept"),
        split_type=source.get("SplitType") or "None", compression=source.get("CompressionType") or "None",
        batch_strategy=strategy, max_payload_bytes=min(int(payload), 100) * 1024 * 1024,
        max_concurrent=max(1, concurrent), assemble_with=output.get("AssembleWith") or "None",
        input_filter=processing.get("InputFilter") or "$", output_filter=processing.get("OutputFilter") or "$",
        join_input=processing.get("JoinSource") == "Input",
        timeout=float(client.get("InvocationsTimeoutInSeconds") or m.DEFAULT_TIMEOUT_S),
        retries=int(client.get("InvocationsMaxRetries", m.DEFAULT_RETRIES)),
        inference_ids=capture.id_format(spec), inference_time=capture.inference_time(start))


def worker_count(spec: dict[str, Any], model: dict[str, Any], host_cpus: int) -> int:
    """Model-server processes per instance, as a SageMaker container runs workers: the container's
    worker variable when set; else one per request in flight (MaxConcurrentTransforms), at most the
    instance's vCPUs and this host's CPUs."""
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    env = {**(container.get("Environment") or {}), **(spec.get("Environment") or {})}
    for var in WORKER_VARS:
        if str(env.get(var, "")).isdigit() and int(env[var]) > 0:
            return min(int(env[var]), 16)
    concurrent = int(spec.get("MaxConcurrentTransforms") or 1)
    return max(1, min(concurrent, lookup(spec["TransformResources"]["InstanceType"]).vcpu, host_cpus))


def _int(value: Any, default: int) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return default


class TransformRunner:
    def __init__(self, deps: RunnerDeps, job: TransformJob) -> None:
        self.deps = deps
        self.job = job
        self.instances: list[list[Replica]] = []  # per instance, its worker processes
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        deps.service.signals[job.arn] = lambda: loop.call_soon_threadsafe(self._stop.set)

    async def run(self) -> None:
        service = self.deps.service
        try:
            self.job = await asyncio.to_thread(service.advance, self.job, None, started=True)
            status, reason, counters = await self._run()
            self.job = await asyncio.to_thread(service.advance, self.job, status, failure_reason=reason,
                                               stats=counters)
            LOG.info("transform job %s -> %s", self.job.name, status.value)
        except asyncio.CancelledError:  # server shutdown: the restart settles the job
            raise
        except Exception as exc:
            LOG.exception("transform job %s failed unexpectedly", self.job.name)
            with contextlib.suppress(Exception):
                fresh = await asyncio.to_thread(service.get, self.job.scope, self.job.name)
                if not fresh.terminal:
                    await asyncio.to_thread(service.advance, fresh, JobStatus.FAILED,
                                            failure_reason=f"InternalServerError: {type(exc).__name__}: {exc}"[:1024])
        finally:
            service.signals.pop(self.job.arn, None)
            await self._stop_instances()
            shutil.rmtree(self._work_dir(), ignore_errors=True)
            j = self.job
            shutil.rmtree(self.deps.launcher.replicas_dir / j.scope.account_id / j.scope.region / j.name,
                          ignore_errors=True)

    def _work_dir(self) -> Path:
        j = self.job
        return self.deps.jobs_dir / j.scope.account_id / j.scope.region / j.name

    async def _run(self) -> tuple[JobStatus, str | None, dict[str, Any]]:
        job, deps = self.job, self.deps
        try:
            files = await asyncio.to_thread(list_inputs, deps.objects, job.spec["TransformInput"]["DataSource"]
                                            ["S3DataSource"]["S3Uri"], job.spec["TransformInput"]["DataSource"]
                                            ["S3DataSource"]["S3DataType"])
            try:
                model = await asyncio.to_thread(deps.service.models, job.scope, job.model_name)
            except NotFound as exc:
                return JobStatus.FAILED, exc.message[:1024], {}
            count = min(job.instance_count, len(files))
            await self._until_stopped(self._launch(model.spec, count))
            start = time.time()
            self.job = await asyncio.to_thread(deps.service.advance, self.job, None, transform_start=start)
            settings = resolve_settings(job.spec, await self._execution_parameters(), start)
            lines = [sagemaker_log(settings.log_line())]
            await asyncio.gather(*(asyncio.to_thread(deps.launcher.log_lines, i[0], lines) for i in self.instances))
            shares = spread(files, count)
            workers = [InstanceWorker(clients=[r.target.client for r in procs if r.target], objects=deps.objects,
                                      settings=settings, output_path=job.spec["TransformOutput"]["S3OutputPath"],
                                      work_dir=self._work_dir() / procs[0].id) for procs in self.instances]
            totals = await self._until_stopped(self._work(workers, shares))
            if job.spec.get("DataCaptureConfig"):
                try:
                    await asyncio.to_thread(capture.write_manifests, deps.objects, job.spec["DataCaptureConfig"],
                                            job.name, start, files, job.spec["TransformOutput"]["S3OutputPath"])
                except DomainError as exc:  # e.g. the destination bucket does not exist
                    return JobStatus.FAILED, f"ClientError: Unable to write the captured data: {exc.message}"[
                        :1024], {}
            return JobStatus.COMPLETED, None, totals
        except _Stopped:
            return JobStatus.STOPPED, None, {}
        except InputError as exc:
            return JobStatus.FAILED, str(exc)[:1024], {}
        except ReplicaStartError as exc:
            return JobStatus.FAILED, str(exc)[:1024], {}
        except RecordFailed as exc:
            replica = self.instances[0][0] if self.instances else None
            if replica is not None:
                await asyncio.to_thread(deps.launcher.log_lines, replica, [sagemaker_log(x) for x in exc.lines])
            return JobStatus.FAILED, exc.reason[:1024], {}

    async def _work(self, workers: list[InstanceWorker], shares: list[list[Any]]) -> dict[str, Any]:
        tasks = [asyncio.create_task(w.run(files)) for w, files in zip(workers, shares, strict=True)]
        failed: RecordFailed | None = None
        try:
            for done in asyncio.as_completed(tasks):
                try:
                    await done
                except RecordFailed as exc:
                    failed = exc
                    break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if failed is not None:
            # log in the failing instance's own stream
            index = next((i for i, w in enumerate(workers) if w._failure is failed), 0)
            self.instances.insert(0, self.instances.pop(index))
            raise failed
        total = Counters()
        for w in workers:
            for key in ("files", "records_bytes", "requests", "output_bytes"):
                setattr(total, key, getattr(total, key) + getattr(w.counters, key))
        return dict(total.__dict__)

    async def _until_stopped(self, work: Any) -> Any:
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise _Stopped()
        return task.result()

    async def _launch(self, model: dict[str, Any], count: int) -> None:
        job, launcher = self.job, self.deps.launcher
        env = tuple(sorted(container_environment(job.spec).items()))
        workers = worker_count(job.spec, model, os.cpu_count() or 1)
        for _ in range(count):
            instance = new_instance_id()
            spec = InstanceSpec(job.scope, job.name, "AllTraffic", 0, job.model_name, model, job.instance_type,
                                self.deps.startup_timeout, environment=env, instance_id=instance,
                                workers=workers)
            self.instances.append([Replica(spec, id=instance if k == 0 else f"{instance}-{k}")
                                   for k in range(workers)])

        async def one(replica: Replica) -> None:
            replica.target = await launcher.launch(replica)

        results = await asyncio.gather(*(one(r) for procs in self.instances for r in procs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _execution_parameters(self) -> dict[str, Any] | None:
        target = self.instances[0][0].target if self.instances else None
        if target is None:
            return None
        try:
            response = await target.client.request("GET", "/execution-parameters", [], b"", timeout=10.0)
            if response.status == 200:
                doc = json.loads(response.body)
                return doc if isinstance(doc, dict) else None
        except Exception:  # a container without the endpoint: SageMaker's defaults apply
            LOG.debug("no /execution-parameters", exc_info=True)
        return None

    async def _stop_instances(self) -> None:
        await asyncio.gather(*(self.deps.launcher.stop(r, self.deps.stop_grace) for procs in self.instances
                               for r in procs), return_exceptions=True)
