"""How one training attempt's hosts are laid out and launched: /opt/ml trees, commands, environment."""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.execution import contract
from kiln.execution.contract import HostLayout, HostSpec
from kiln.execution.local.process import OPT_ML, OWNER_VAR
from kiln.execution.runtimes import Runtime
from kiln.services.training.models import TrainingJob


@dataclass(slots=True)
class HostPlan:
    name: str
    layout: HostLayout
    argv: list[str]
    env: dict[str, str]
    cwd: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def checkpoint_subdir(job: TrainingJob) -> str | None:
    """The checkpoint path relative to /opt/ml, or None without CheckpointConfig."""
    cfg = job.checkpoint
    if not cfg:
        return None
    local = (cfg.get("LocalPath") or "/opt/ml/checkpoints").rstrip("/")
    if not local.startswith(OPT_ML + "/"):
        raise ValueError(f"ClientError: CheckpointConfig.LocalPath {local!r} must be under {OPT_ML} on Kiln.")
    return local[len(OPT_ML) + 1:]


def _truthy(value: Any) -> bool:
    return str(value).strip('"').lower() == "true"


def plan_hosts(job: TrainingJob, runtime: Runtime, attempt_dir: Path, *, isolated: bool, gpus: list[str],
               host_cpus: int, endpoint_url: str, owner: str, extra_path: list[str]) -> list[HostPlan]:
    count = job.instance_count
    names = [f"algo-{i + 1}" for i in range(count)]
    spec = job.spec
    algo = spec["AlgorithmSpecification"]
    user, framework = contract.split_hyperparameters(job.hyperparameters)
    program = framework.get("sagemaker_program")
    module_dir = framework.get("sagemaker_submit_directory")
    channels = {c["ChannelName"]: {"ContentType": c.get("ContentType", ""),
                                   "TrainingInputMode": c.get("InputMode") or algo.get("TrainingInputMode", "File"),
                                   "S3DistributionType": c["DataSource"].get("S3DataSource", {})
                                   .get("S3DataDistributionType", "FullyReplicated"),
                                   "RecordWrapperType": c.get("RecordWrapperType", "None")}
                for c in spec.get("InputDataConfig") or []}
    per_host_gpus = len(gpus) // count if count else 0
    distributed = _truthy(framework.get("sagemaker_torch_distributed_enabled")) or \
        _truthy(framework.get("sagemaker_pytorch_ddp_enabled"))
    master_port = free_port()
    ckpt = checkpoint_subdir(job)
    plans: list[HostPlan] = []
    for i, host in enumerate(names):
        root = attempt_dir / host
        layout = HostLayout(root, OPT_ML if isolated else str(root))
        my_gpus = gpus[i * per_host_gpus:(i + 1) * per_host_gpus]
        hs = HostSpec(current_host=host, hosts=names, instance_type=job.instance_type,
                      num_cpus=max(1, host_cpus // count), num_gpus=len(my_gpus), channels=channels,
                      hyperparameters=job.hyperparameters, environment=dict(spec.get("Environment") or {}),
                      job_name=job.name, job_arn=job.arn, region=job.scope.region,
                      checkpoint_dir=layout.seen(*ckpt.split("/")) if ckpt else None)
        contract.prepare(layout, hs)
        if ckpt:
            layout.path(*ckpt.split("/")).mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "SM_"))}
        env.update(contract.environment(layout, hs, program, module_dir))
        code = layout.seen("code")
        env.update({
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([code, *extra_path, *filter(None, [os.environ.get("PYTHONPATH")])]),
            "CUDA_VISIBLE_DEVICES": ",".join(my_gpus),
            "AWS_ENDPOINT_URL": endpoint_url, "S3_ENDPOINT_URL": endpoint_url, "AWS_ENDPOINT_URL_S3": endpoint_url,
            "AWS_ACCESS_KEY_ID": "kiln", "AWS_SECRET_ACCESS_KEY": "kiln",
            OWNER_VAR: owner, "KILN_OPT_ML": layout.seen(),
        })
        if count > 1 or distributed:
            env.update({"MASTER_ADDR": "algo-1" if isolated else "127.0.0.1", "MASTER_PORT": str(master_port),
                        "WORLD_SIZE": str(count), "RANK": str(i), "NODE_RANK": str(i), "LOCAL_RANK": "0",
                        "LOCAL_WORLD_SIZE": "1"})
        argv = _command(runtime, algo, program, user, distributed, count, i, max(1, len(my_gpus)),
                        env.get("MASTER_ADDR", "127.0.0.1"), master_port)
        plans.append(HostPlan(host, layout, argv, env, code))
    return plans


def _command(runtime: Runtime, algo: dict[str, Any], program: str | None, user: dict[str, Any],
             distributed: bool, nnodes: int, rank: int, nproc: int, master: str, port: int) -> list[str]:
    py = runtime.python
    if algo.get("ContainerEntrypoint"):
        entry = [py if a in ("python", "python3") else a for a in algo["ContainerEntrypoint"]]
        return [*entry, *(algo.get("ContainerArguments") or [])]
    if runtime.algorithm_module:
        return [py, "-m", runtime.algorithm_module, "train"]
    assert program is not None
    args = contract.to_cmd_args(user)
    if program.endswith(".sh"):
        return [shutil.which("sh") or "/bin/sh", program, *args]
    if distributed:
        return [py, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--nproc_per_node={nproc}",
                f"--node_rank={rank}", f"--master_addr={master}", f"--master_port={port}", program, *args]
    return [py, program, *args]


def write_hosts_file(path: Path, names: list[str]) -> Path:
    path.write_text("127.0.0.1\tlocalhost " + " ".join(names) + "\n::1\tlocalhost ip6-localhost\n")
    return path
