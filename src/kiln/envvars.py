"""The client environment that points unmodified boto3 / SageMaker SDK v2 code at a Kiln server.

`kiln env` prints it as shell `export` lines; the test suite passes it to SDK subprocesses.

* `AWS_ENDPOINT_URL`: botocore (1.31+) sends every client there unless it is given an explicit URL.
* dummy credentials and `AWS_DEFAULT_REGION` / `AWS_REGION`: botocore needs them to sign.
* `SAGEMAKER_USER_CONFIG_OVERRIDE`: the SDK's own defaults file, naming the default bucket
  (so `Session.default_bucket()` needs no STS call) and opting out of telemetry (which would
  otherwise call an AWS URL after `fit()` and friends). See the SDK client contract, section 1.
* `KILN_SDK_SHIM=1`: activates `kiln.sdkshim` (docs/sdk-shim.md) for the STS calls that remain.
* `SAGEMAKER_SUPPRESS_V2_WARNING=1`: silences the SDK v2 deprecation banner.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from kiln.config import Settings

DUMMY_KEY = "kiln"
DUMMY_SECRET = "kiln-secret"  # Kiln does not verify signatures; any value works
CONFIG_FILE = "sagemaker-config.yaml"


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    account_id: str
    region: str
    reachable: bool


def server_identity(endpoint: str, settings: Settings, timeout: float = 2.0) -> ServerIdentity:
    """Account and region as the server at `endpoint` reports them; `settings` when it can't be asked."""
    try:
        response = httpx.get(f"{endpoint.rstrip('/')}/_kiln/status", timeout=timeout)
        response.raise_for_status()
        doc = response.json()
        return ServerIdentity(str(doc["accountId"]), str(doc["region"]), True)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return ServerIdentity(settings.account_id, settings.region, False)


def sdk_config(account_id: str, region: str) -> dict[str, object]:
    """The SageMaker SDK defaults document (schema 1.0) for this account and region."""
    return {
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {
            "Session": {"DefaultS3Bucket": f"sagemaker-{region}-{account_id}"},
            "TelemetryOptOut": True,
        }}},
    }


def write_sdk_config(config_dir: Path, account_id: str, region: str) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(sdk_config(account_id, region), sort_keys=False))
    tmp.replace(path)
    return path


def client_env(endpoint: str, settings: Settings, config_dir: Path) -> dict[str, str]:
    """The variables for a client of the server at `endpoint`; writes the SDK config into `config_dir`.

    Account and region come from the server's `/_kiln/status` when it answers, else from `settings`.
    """
    who = server_identity(endpoint, settings)
    config = write_sdk_config(config_dir, who.account_id, who.region)
    return {
        "AWS_ENDPOINT_URL": endpoint.rstrip("/"),
        "AWS_ACCESS_KEY_ID": DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
        "AWS_DEFAULT_REGION": who.region,
        "AWS_REGION": who.region,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config.resolve()),
        "KILN_SDK_SHIM": "1",
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }


def export_lines(env: dict[str, str]) -> str:
    """POSIX shell `export` lines for `eval "$(kiln env)"`."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
