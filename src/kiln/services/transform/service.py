"""Transform-job use-cases: create (validated), describe, list, stop, and the one status writer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiln.core import arns, clock
from kiln.core.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from kiln.core.jobs.lifecycle import TERMINAL, JobStatus, check_transition
from kiln.core.scope import Scope
from kiln.services.transform import capture, jsonpath
from kiln.services.transform.models import TransformJob
from kiln.services.transform.repository import TransformJobRepository
from kiln.serving.codecs import base_type

MAX_PAYLOAD_MB = 100  # SageMaker: MaxPayloadInMB, and MaxPayloadInMB x MaxConcurrentTransforms, at most 100 MB
FILTER_TYPES = ("text/csv", "application/json", "application/jsonlines")

ModelLookup = Callable[[Scope, str], Any]  # raises NotFound for an unknown model


def check_spec(request: dict[str, Any]) -> None:
    """Rules the botocore model cannot express. Raises InvalidInput naming the field."""
    source = request["TransformInput"]["DataSource"]["S3DataSource"]
    for field, uri in (("transformInput.dataSource.s3DataSource.s3Uri", source["S3Uri"]),
                       ("transformOutput.s3OutputPath", request["TransformOutput"]["S3OutputPath"])):
        if not uri.startswith("s3://") or len(uri) <= 5 or uri[5] == "/":
            raise InvalidInput(f"Value '{uri}' at '{field}' failed to satisfy constraint: Member must be an "
                               "s3:// URI that names a bucket (Kiln's object store).")
    if source["S3DataType"] not in ("S3Prefix", "ManifestFile"):
        raise InvalidInput(f"S3DataType {source['S3DataType']} is not supported by Kiln's batch transform "
                           "(use S3Prefix or ManifestFile).")
    capture.check(request)
    payload = request.get("MaxPayloadInMB")
    concurrent = request.get("MaxConcurrentTransforms")
    if payload is not None and payload > MAX_PAYLOAD_MB:
        raise InvalidInput(f"MaxPayloadInMB ({payload}) must be less than or equal to {MAX_PAYLOAD_MB}.")  # unverified
    if payload and concurrent and payload * concurrent > MAX_PAYLOAD_MB:
        raise InvalidInput(f"The value of MaxConcurrentTransforms * MaxPayloadInMB ({concurrent} * {payload}) "
                           f"cannot exceed {MAX_PAYLOAD_MB} MB.")  # unverified
    processing = request.get("DataProcessing") or {}
    filtered = False
    for key in ("InputFilter", "OutputFilter"):
        expr = processing.get(key)
        if jsonpath.is_identity(expr):
            continue
        filtered = True
        try:
            jsonpath.parse(str(expr))
        except jsonpath.JsonPathError as exc:
            raise InvalidInput(f"DataProcessing.{key}: {exc}") from None
    if filtered or processing.get("JoinSource") == "Input":
        if base_type(request["TransformInput"].get("ContentType")) not in FILTER_TYPES:
            raise InvalidInput("DataProcessing (InputFilter, OutputFilter, JoinSource) needs "
                               "TransformInput.ContentType text/csv, application/json or application/jsonlines.")
        if request["TransformInput"].get("SplitType", "None") not in ("None", "Line"):
            raise InvalidInput("DataProcessing (InputFilter, OutputFilter, JoinSource) works on SplitType Line or "
                               "None only.")


class TransformService:
    def __init__(self, repo: TransformJobRepository, models: ModelLookup,
                 notify: Callable[[], None] = lambda: None) -> None:
        self.repo = repo
        self.models = models
        self.notify = notify  # wakes the reconciler (thread-safe)
        self.signals: dict[str, Callable[[], None]] = {}  # arn -> the runner's stop hook

    def create(self, scope: Scope, request: dict[str, Any]) -> TransformJob:
        check_spec(request)
        try:
            self.models(scope, request["ModelName"])
        except NotFound:
            raise InvalidInput(f'Could not find model "{arns.sagemaker(scope, "model", request["ModelName"])}".') \
                from None
        now = clock.epoch()
        name = request["TransformJobName"]
        spec = {k: v for k, v in request.items() if k != "Tags"}
        job = TransformJob(scope=scope, name=name, arn=arns.sagemaker(scope, "transform-job", name), spec=spec,
                           status=JobStatus.IN_PROGRESS, created_at=now, modified_at=now,
                           tags=list(request.get("Tags") or []))
        if not self.repo.insert(job):
            raise AlreadyExists("TransformJob", name, "Job name must be unique within an AWS account and region, and "
                                                      f"a job with this name already exists ({job.arn})")
        self.notify()
        return job

    def get(self, scope: Scope, name: str) -> TransformJob:
        return self.repo.get(scope, name)

    def stop(self, scope: Scope, name: str) -> TransformJob:
        job = self.repo.get(scope, name)
        if job.status == JobStatus.STOPPING:
            return job
        if job.status != JobStatus.IN_PROGRESS:
            raise InvalidState(f"The request was rejected because the transform job is in status "
                               f"{job.status.value}.")
        job = self.advance(job, JobStatus.STOPPING)
        hook = self.signals.get(job.arn)
        if hook is not None:
            hook()
        self.notify()
        return job

    # -- the one status writer ----------------------------------------------------------------
    def advance(self, job: TransformJob, status: JobStatus | None, **changes: Any) -> TransformJob:
        """Move `job` to `status` (None: keep it) and apply `changes`, compare-and-set on the stored
        status; on a lost race, reload and re-apply while the move is still legal."""
        def change(job: TransformJob) -> None:
            target = status or job.status
            check_transition(job.name, job.status, target)
            now = clock.epoch()
            job.status, job.modified_at = target, now
            for key, value in changes.items():
                setattr(job, key, value)
            if target in TERMINAL and job.transform_end is None:
                job.transform_end = now

        return self.repo.apply(job, change)
