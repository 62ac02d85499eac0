"""Transform jobs as the domain sees them, and the settings a run works with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kiln.core.jobs.lifecycle import TERMINAL, JobStatus
from kiln.core.scope import Scope

DEFAULT_PAYLOAD_MB = 6  # SageMaker's default MaxPayloadInMB
DEFAULT_TIMEOUT_S = 600  # ModelClientConfig.InvocationsTimeoutInSeconds default
DEFAULT_RETRIES = 3  # ModelClientConfig.InvocationsMaxRetries default


@dataclass(slots=True)
class TransformJob:
    scope: Scope
    name: str
    arn: str
    spec: dict[str, Any]  # the validated CreateTransformJob request (without Tags)
    status: JobStatus
    created_at: float
    modified_at: float
    failure_reason: str | None = None
    transform_start: float | None = None
    transform_end: float | None = None
    started: bool = False  # a runner picked it up (a restart then finds it orphaned)
    stats: dict[str, Any] = field(default_factory=dict)  # files, records, requests (Kiln's own view)
    tags: list[dict[str, str]] = field(default_factory=list)

    # -- views of the spec -----------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return str(self.spec["ModelName"])

    @property
    def instance_type(self) -> str:
        return str(self.spec["TransformResources"]["InstanceType"])

    @property
    def instance_count(self) -> int:
        return int(self.spec["TransformResources"]["InstanceCount"])

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What one run of the job uses: the request's values, else the container's
    `/execution-parameters`, else SageMaker's defaults."""

    content_type: str | None
    accept: str | None
    split_type: str  # None | Line | RecordIO | TFRecord
    compression: str  # None | Gzip
    batch_strategy: str  # MultiRecord | SingleRecord
    max_payload_bytes: int  # 0: no limit
    max_concurrent: int
    assemble_with: str  # None | Line
    input_filter: str
    output_filter: str
    join_input: bool
    timeout: float
    retries: int
    inference_ids: str = ""  # DataCaptureConfig.GenerateInferenceId: '' (off), 'csv' or 'json' (capture.py)
    inference_time: str = ""  # the transform start time those records carry

    @property
    def data_processing(self) -> bool:
        return self.join_input or self.input_filter != "$" or self.output_filter != "$"

    def log_line(self) -> str:
        strategy = "MULTI_RECORD" if self.batch_strategy == "MultiRecord" else "SINGLE_RECORD"
        return (f"MaxConcurrentTransforms={self.max_concurrent}, MaxPayloadInMB="
                f"{self.max_payload_bytes // (1024 * 1024)}, BatchStrategy={strategy}")
