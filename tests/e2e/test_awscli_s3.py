"""The real AWS CLI (`aws s3 ...`) against the live server: mb, cp up and down (multipart too), sync,
ls (recursive too), rm --recursive."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

AWS = Path(sys.executable).parent / "aws"
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(not AWS.exists(), reason="the AWS CLI is not installed in this environment")


def _aws(server: Any, tmp_path: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KILN_"))}
    env.update({"AWS_ACCESS_KEY_ID": "kiln", "AWS_SECRET_ACCESS_KEY": "kiln", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials")})
    done = subprocess.run([str(AWS), "--endpoint-url", server.url, *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"aws {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


def test_aws_cli_s3_workflow(kiln_server: Any, tmp_path: Path) -> None:
    bucket = f"kiln-cli-{uuid.uuid4().hex[:8]}"
    out = _aws(kiln_server, tmp_path, "s3", "mb", f"s3://{bucket}")
    assert f"make_bucket: {bucket}" in out
    assert bucket in _aws(kiln_server, tmp_path, "s3", "ls")

    # cp up and down, small and multipart (> 8 MiB threshold)
    small = tmp_path / "small.txt"
    small.write_text("hello from the aws cli\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(21 * MIB + 7))
    _aws(kiln_server, tmp_path, "s3", "cp", str(small), f"s3://{bucket}/docs/small.txt")
    _aws(kiln_server, tmp_path, "s3", "cp", str(big), f"s3://{bucket}/blobs/big.bin")
    head = kiln_server.client("s3").head_object(Bucket=bucket, Key="blobs/big.bin")
    assert head["ETag"].endswith('-3"')  # the CLI uploaded it in 8 MiB parts
    assert kiln_server.client("s3").head_object(Bucket=bucket, Key="docs/small.txt")["ContentType"] == "text/plain"
    down = tmp_path / "down"
    _aws(kiln_server, tmp_path, "s3", "cp", f"s3://{bucket}/blobs/big.bin", str(down / "big.bin"))
    _aws(kiln_server, tmp_path, "s3", "cp", f"s3://{bucket}/docs/small.txt", str(down / "small.txt"))
    assert _md5(down / "big.bin") == _md5(big)
    assert (down / "small.txt").read_text() == "hello from the aws cli\n"

    # sync a tree up, change it, sync again, and sync it back down
    tree = tmp_path / "tree"
    for rel in ["a.txt", "sub/b.txt", "sub/deeper/c.csv", "other/d.json"]:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(f"content of {rel}\n")
    out = _aws(kiln_server, tmp_path, "s3", "sync", str(tree), f"s3://{bucket}/tree")
    assert out.count("upload:") == 4
    (tree / "sub" / "b.txt").write_text("changed, and longer than before\n")
    out = _aws(kiln_server, tmp_path, "s3", "sync", str(tree), f"s3://{bucket}/tree")
    assert out.count("upload:") == 1
    back = tmp_path / "back"
    _aws(kiln_server, tmp_path, "s3", "sync", f"s3://{bucket}/tree", str(back))
    for rel in ["a.txt", "sub/b.txt", "sub/deeper/c.csv", "other/d.json"]:
        assert (back / rel).read_text() == (tree / rel).read_text()

    # ls, flat and recursive
    top = _aws(kiln_server, tmp_path, "s3", "ls", f"s3://{bucket}/")
    assert "PRE blobs/" in top and "PRE docs/" in top and "PRE tree/" in top
    listing = _aws(kiln_server, tmp_path, "s3", "ls", "--recursive", f"s3://{bucket}")
    keys = sorted(line.split()[-1] for line in listing.splitlines() if line.strip())
    assert keys == sorted(["blobs/big.bin", "docs/small.txt", "tree/a.txt", "tree/sub/b.txt",
                           "tree/sub/deeper/c.csv", "tree/other/d.json"])

    # rm --recursive, then the bucket can go
    out = _aws(kiln_server, tmp_path, "s3", "rm", "--recursive", f"s3://{bucket}/tree")
    assert out.count("delete:") == 4
    _aws(kiln_server, tmp_path, "s3", "rm", "--recursive", f"s3://{bucket}")
    assert _aws(kiln_server, tmp_path, "s3", "ls", "--recursive", f"s3://{bucket}").strip() == ""
    _aws(kiln_server, tmp_path, "s3", "rb", f"s3://{bucket}")
    assert bucket not in _aws(kiln_server, tmp_path, "s3", "ls")
