"""A transform instance's model server: the real-time hosting launcher (`LocalProcessLauncher`,
the same `python -m kiln.serving` or built-in algorithm `serve` process, model cache and slots),
with the transform container's environment and its output in CloudWatch Logs group
`/aws/sagemaker/TransformJobs`, stream `<job>/<instance id>`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from kiln.core.instances import lookup
from kiln.services.hosting import artifacts
from kiln.services.hosting.replicas import LocalHandle, LocalProcessLauncher, Replica, ReplicaSpec

LOG = logging.getLogger(__name__)
LOG_GROUP = "/aws/sagemaker/TransformJobs"


@dataclass(frozen=True, slots=True)
class InstanceSpec(ReplicaSpec):
    """A replica spec whose `endpoint` is the job's name; `environment` is what SageMaker sets in a
    transform container (the job's Environment, SAGEMAKER_BATCH, ...); `instance_id` names the
    instance whose log stream the process writes to (an instance may run several worker processes)."""

    environment: tuple[tuple[str, str], ...] = ()
    instance_id: str = ""
    workers: int = 1  # worker processes on the instance: they share its vCPUs (math threads each)


def stream_name(job: str, instance_id: str) -> str:
    return f"{job}/{instance_id}"


class TransformLauncher(LocalProcessLauncher):
    def _log(self, replica: Replica, lines: list[tuple[int, str]]) -> None:
        spec = replica.spec
        stream = stream_name(spec.endpoint, getattr(spec, "instance_id", "") or replica.id)
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
        workers = int(getattr(spec, "workers", 1))
        if workers > 1:  # the instance's vCPUs split between its workers: no oversubscribed OpenMP pools
            cpus, _ = self.slots.fit(lookup(spec.instance_type).vcpu, 0)
            threads = str(max(1, cpus // workers))
            env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads})
        return env

    @staticmethod
    def _reason(replica: Replica, handle: LocalHandle, what: str) -> str:
        detail = handle.load_error or " | ".join(line for line in handle.tail[-3:] if line.strip()) or what
        return (f"ClientError: The model container for transform job {replica.spec.endpoint} did not pass the ping "
                f"health check. See job logs for more information. Kiln: {detail}")[:1024]  # unverified
