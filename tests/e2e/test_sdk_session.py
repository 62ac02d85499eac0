"""An unmodified SageMaker SDK v2 script against Kiln: Session, default_bucket, execution role, upload.

The script runs in a subprocess with exactly the environment `kiln env` prints. Every request
that would leave for AWS is sent to a dead proxy (`HTTPS_PROXY`), so an escape fails loudly
instead of reaching the internet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.sdk

ACCOUNT = "123456789012"
BUCKET = f"sagemaker-us-east-1-{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/KilnExecutionRole"

SCRIPT = """
import json, sys
import sagemaker

sess = sagemaker.Session()
bucket = sess.default_bucket()
role = sagemaker.get_execution_role()
uri = sess.upload_data(sys.argv[1], bucket=bucket, key_prefix=sys.argv[2])
print(json.dumps({"bucket": bucket, "role": role, "uri": uri, "account": sess.account_id()}))
"""


def run_script(env: dict[str, str], tmp_path: Path, prefix: str) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "train.csv"
    data.write_text("label,x\n1,0.5\n0,0.25\n")
    script = tmp_path / "session_script.py"
    script.write_text(SCRIPT)
    no_aws = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
              "NO_PROXY": "127.0.0.1,localhost", "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    return subprocess.run([sys.executable, str(script), str(data), prefix], env={**env, **no_aws}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def result_of(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert out.returncode == 0, f"SDK script failed:\n{out.stdout}\n{out.stderr}"
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def check_upload(kiln_server: Any, got: dict[str, Any], prefix: str) -> None:
    assert got["bucket"] == BUCKET
    assert got["role"] == ROLE
    assert got["account"] == ACCOUNT
    assert got["uri"] == f"s3://{BUCKET}/{prefix}/train.csv"
    body = kiln_server.client("s3").get_object(Bucket=BUCKET, Key=f"{prefix}/train.csv")["Body"].read()
    assert body == b"label,x\n1,0.5\n0,0.25\n"


def test_session_with_kiln_env(kiln_server: Any, tmp_path: Path, unique_name: str) -> None:
    env = kiln_server.env()
    assert Path(env["SAGEMAKER_USER_CONFIG_OVERRIDE"]).is_file()
    got = result_of(run_script(env, tmp_path, f"e2e/{unique_name}"))
    check_upload(kiln_server, got, f"e2e/{unique_name}")


def test_session_without_config_file_goes_through_the_shimmed_sts(kiln_server: Any, tmp_path: Path,
                                                                  unique_name: str) -> None:
    env = kiln_server.env()
    del env["SAGEMAKER_USER_CONFIG_OVERRIDE"]  # default_bucket() now asks STS for the account
    out = run_script(env, tmp_path, f"e2e-nocfg/{unique_name}")
    check_upload(kiln_server, result_of(out), f"e2e-nocfg/{unique_name}")


def test_without_the_shim_sts_escapes_to_aws(kiln_server: Any, tmp_path: Path, unique_name: str) -> None:
    """The control: the same script without KILN_SDK_SHIM and without the config file tries AWS."""
    env = kiln_server.env()
    del env["SAGEMAKER_USER_CONFIG_OVERRIDE"]
    del env["KILN_SDK_SHIM"]
    out = run_script(env, tmp_path, f"e2e-noshim/{unique_name}")
    assert out.returncode != 0
    assert "ProxyConnectionError" in out.stdout + out.stderr  # it tried https://sts.us-east-1.amazonaws.com
