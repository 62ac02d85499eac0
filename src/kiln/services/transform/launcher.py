"""A transform instance's model server: the real-time hosting launcher (`LocalProcessLauncher`,
the same `python -m kiln.serving` or built-in algorithm `serve` process, model cache and slots),
with the transform container's environment and its output in CloudWatch Logs group
`/aws/sagemaker/TransformJobs`, stream `<job>/<instance id>`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from kiln.services.hosting import artifacts
from kiln.services.hosting.replicas import LocalHandle, LocalProcessLauncher, Replica, ReplicaSpec

LOG = logging.getLogger(__name__)
LOG_GROUP = "/aws/sagemaker/TransformJobs"


@dataclass(frozen=True, slots=True)
class InstanceSpec(ReplicaSpec):
    """A replica spec whose `endpoint` is the job's name; `environment` is what SageMaker sets in a
    transform container (the job's Environment, SAGEMAKER_BATCH, ...)."""

    environment: tuple[tuple[str, str], ...] = ()


def stream_name(job: str, instance_id: str) -> str:
    return f"{job}/{instance_id}"


class TransformLauncher(LocalProcessLauncher):
    def _log(self, replica: Replica, lines: list[tuple[int, str]]) -> None:
        spec = replica.spec
        stream = stream_name(spec.endpoint, replica.id)
        try:
            self.logs.ensure_stream(spec.scope, LOG_GROUP, stream)
            self.logs.put_events(spec.scope, LOG_GROUP, stream, lines)
        except Exception:  # logging must never fail the job
            LOG.exception("transform log write failed")

    def log_lines(self, replica: Replica, texts: list[str]) -> None:
        """Platform lines (`[sagemaker logs]: ...`) in the instance's stream. Blocking: call from a thread."""
        now = int(time.time() * 1000)
        self._log(replica, [(now, text) for text in texts])

    def _environment(self, spec: ReplicaSpec, env_in: dict[str, str], handle: LocalHandle, framework: str,
                     seen: str, prepared: artifacts.PreparedModel) -> dict[str, str]:
        env: dict[str, Any] = super()._environment(spec, env_in, handle, framework, seen, prepared)
        env.update(dict(getattr(spec, "environment", ())))
        return env

    @staticmethod
    def _reason(replica: Replica, handle: LocalHandle, what: str) -> str:
        detail = handle.load_error or " | ".join(line for line in handle.tail[-3:] if line.strip()) or what
        return (f"ClientError: The model container for transform job {replica.spec.endpoint} did not pass the ping "
                f"health check. See job logs for more information. Kiln: {detail}")[:1024]  # unverified
