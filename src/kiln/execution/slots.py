"""Resource slots on this machine: jobs and replicas take vCPUs (and GPUs) from a fixed capacity and
wait when it is full, rather than oversubscribing the host."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass


def host_gpus(forced: str | None = None) -> list[str]:
    """GPU indices visible on this host (`forced` overrides, e.g. "0,1" or "" for none)."""
    if forced is not None:
        return [g for g in forced.split(",") if g.strip()]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


@dataclass(frozen=True, slots=True)
class Lease:
    cpus: int
    gpus: tuple[str, ...]


class SlotPool:
    """Thread-safe vCPU/GPU accounting. A request larger than the whole machine is clamped to it
    (an `ml.p3.8xlarge` still runs on a 2-core laptop, alone)."""

    def __init__(self, cpus: int | None = None, gpus: list[str] | None = None) -> None:
        self.cpus = cpus or os.cpu_count() or 1
        self.gpu_ids = list(gpus) if gpus is not None else host_gpus()
        self._free_cpus = self.cpus
        self._free_gpus = list(self.gpu_ids)
        self._lock = threading.Lock()

    def fit(self, vcpu: int, gpus: int) -> tuple[int, int]:
        return max(1, min(vcpu, self.cpus)), min(gpus, len(self.gpu_ids))

    def try_acquire(self, vcpu: int, gpus: int) -> Lease | None:
        cpus, ngpu = self.fit(vcpu, gpus)
        with self._lock:
            if cpus > self._free_cpus or ngpu > len(self._free_gpus):
                return None
            self._free_cpus -= cpus
            taken = tuple(self._free_gpus[:ngpu])
            del self._free_gpus[:ngpu]
            return Lease(cpus, taken)

    def release(self, lease: Lease) -> None:
        with self._lock:
            self._free_cpus = min(self.cpus, self._free_cpus + lease.cpus)
            self._free_gpus.extend(g for g in lease.gpus if g not in self._free_gpus)

    @property
    def free_cpus(self) -> int:
        return self._free_cpus
