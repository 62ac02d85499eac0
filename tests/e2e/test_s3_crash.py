"""SIGKILL the server in the middle of uploads: after a restart on the same data directory every
completed object is intact, the interrupted ones are not visible (an overwritten key keeps its old
bytes), and recovery leaves no temp or orphan blob files behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from kiln.launch import clean_env, free_port, spawn_server, wait_healthy

MIB = 1024 * 1024
BUCKET = "crash-test"


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.proc = spawn_server(self.port, data_dir, clean_env(), self.log)
        wait_healthy(self.proc, self.url, self.log)

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="kiln",
                            aws_secret_access_key="kiln", config=Config(retries={"max_attempts": 1}))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


def _blob_files(objects_root: Path) -> dict[str, int]:
    return {f"{p.parent.name}/{p.name}": p.stat().st_size for p in objects_root.glob("??/*")}


def _referenced(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        out = {b for (segments,) in conn.execute("select segments from s3_objects")
               for b, _ in json.loads(segments)}
        out |= {b for (b,) in conn.execute("select blob from s3_parts")}
    return out


def _start_partial_put(port: int, key: str, total: int, send: int) -> socket.socket:
    """A raw PUT that declares `total` bytes and sends only `send` of them (then stalls)."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = (f"PUT /{BUCKET}/{key} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {total}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    sock.sendall(head)
    chunk = os.urandom(MIB)
    for _ in range(send // MIB):
        sock.sendall(chunk)
    return sock


@pytest.mark.slow
def test_sigkill_mid_upload_leaves_no_partial_object(tmp_path: Path) -> None:
    data_dir = tmp_path / "kiln"
    objects_root = data_dir / "objects"
    server = Server(data_dir)
    expected: dict[str, str] = {}
    try:
        s3 = server.client()
        s3.create_bucket(Bucket=BUCKET)
        for i in range(5):
            body = os.urandom(1000 * (i + 1))
            s3.put_object(Bucket=BUCKET, Key=f"done/{i}", Body=body)
            expected[f"done/{i}"] = hashlib.md5(body).hexdigest()
        old = os.urandom(2 * MIB)
        s3.put_object(Bucket=BUCKET, Key="overwrite-me", Body=old)
        expected["overwrite-me"] = hashlib.md5(old).hexdigest()
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(12 * MIB))
        s3.upload_file(str(big), BUCKET, "done/multipart.bin",
                       Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
        expected["done/multipart.bin"] = hashlib.md5(big.read_bytes()).hexdigest()
        pending = s3.create_multipart_upload(Bucket=BUCKET, Key="unfinished")["UploadId"]
        s3.upload_part(Bucket=BUCKET, Key="unfinished", UploadId=pending, PartNumber=1, Body=os.urandom(MIB))

        committed = sum(_blob_files(objects_root).values())
        partial_new = _start_partial_put(server.port, "partial-new", 64 * MIB, 20 * MIB)
        partial_over = _start_partial_put(server.port, "overwrite-me", 64 * MIB, 12 * MIB)
        deadline = time.monotonic() + 30
        while sum(_blob_files(objects_root).values()) < committed + 24 * MIB:
            assert time.monotonic() < deadline, "the server never started writing the partial uploads"
            time.sleep(0.05)
        server.kill()
        partial_new.close()
        partial_over.close()
        assert len(_blob_files(objects_root)) > len(_referenced(data_dir / "kiln.db"))  # orphans to clean
    finally:
        server.stop()

    server = Server(data_dir)
    try:
        s3 = server.client()
        for key, md5 in expected.items():
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            assert hashlib.md5(body).hexdigest() == md5, key
        for key in ("partial-new", "unfinished"):
            with pytest.raises(ClientError) as err:
                s3.head_object(Bucket=BUCKET, Key=key)
            assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
        assert keys == sorted(expected)
        uploads = s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
        assert [u["UploadId"] for u in uploads] == [pending]  # a started upload survives, as in S3
        assert [p["PartNumber"] for p in s3.list_parts(Bucket=BUCKET, Key="unfinished",
                                                         UploadId=pending)["Parts"]] == [1]
        assert set(_blob_files(objects_root)) == _referenced(data_dir / "kiln.db")
        assert list((objects_root / ".tmp").iterdir()) == []
    finally:
        server.stop()
