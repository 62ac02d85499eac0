"""Kill the server (SIGKILL) while asynchronous inference requests are queued and one is being
answered, restart it on the same data directory: every request is answered exactly once. The model
appends each request's number to a file when it finishes, so a request run twice, or lost, shows;
the success topic's http subscriber counts notifications the same way."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from server_proc import ServerProcess
from sns_subscriber import Subscriber

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
from test_hosting_helpers import IMAGE, ROLE, archive, wait_endpoint

pytestmark = pytest.mark.slow

BUCKET = "kiln-async-crash"
N = 6
SLEEP = 1.5

INFERENCE_PY = """
import json, os, time

def model_fn(model_dir):
    return None

def input_fn(body, content_type):
    return json.loads(body)

def predict_fn(doc, model):
    time.sleep(doc["sleep"])
    with open(os.environ["COUNT_FILE"], "a") as f:  # the request is answered only after this line
        f.write(f"{doc['n']}\\n")
    return {"n": doc["n"], "pid": os.getpid()}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


def _exists(s3: Any, uri: str) -> bool:
    bucket, key = uri[len("s3://"):].split("/", 1)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def _deploy(server: ServerProcess, count_file: Path, topic: str) -> None:
    s3, sm = server.client("s3"), server.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=archive({"code/inference.py": INFERENCE_PY}))
    sm.create_model(ModelName="crash-model", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                        "COUNT_FILE": str(count_file)}})
    sm.create_endpoint_config(EndpointConfigName="crash-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "crash-model", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}], AsyncInferenceConfig={
        "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/out", "S3FailurePath": f"s3://{BUCKET}/failed",
                         "NotificationConfig": {"SuccessTopic": topic}},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 1}})
    sm.create_endpoint(EndpointName="crash-ep", EndpointConfigName="crash-config")
    assert wait_endpoint(sm, "crash-ep")["EndpointStatus"] == "InService"


def test_sigkill_with_queued_async_requests_answers_each_exactly_once(tmp_path: Path) -> None:
    data, count_file = tmp_path / "data", tmp_path / "invocations.log"
    subscriber = Subscriber()
    server = ServerProcess(data).wait_healthy()
    port = server.port
    try:
        sns = server.client("sns")
        topic = sns.create_topic(Name="crash-done")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
        _deploy(server, count_file, topic)
        s3, rt = server.client("s3"), server.client("sagemaker-runtime")
        outputs = {}
        for n in range(N):
            s3.put_object(Bucket=BUCKET, Key=f"in/{n}.json", Body=json.dumps({"n": n, "sleep": SLEEP}).encode(),
                          ContentType="application/json")
            resp = rt.invoke_endpoint_async(EndpointName="crash-ep", InputLocation=f"s3://{BUCKET}/in/{n}.json",
                                            InferenceId=f"req-{n}")
            outputs[n] = resp["OutputLocation"]
        # Kill as soon as the first answer and its notification are out: the next request is then a
        # fraction of a second into its SLEEP s model call, and the rest are still queued.
        deadline = time.monotonic() + 180
        while not (_exists(s3, outputs[0]) and subscriber.messages(topic)):
            assert time.monotonic() < deadline, "the first async request was never answered"
            time.sleep(0.02)
        server.kill()
        answered_before = [n for n in range(N) if count_file.exists() and str(n) in count_file.read_text().split()]
        assert answered_before == [0], answered_before  # the crash interrupted request 1 and left 2.. queued

        server = ServerProcess(data, port=port).wait_healthy()
        s3 = server.client("s3")
        deadline = time.monotonic() + 240
        while not all(_exists(s3, o) for o in outputs.values()):
            assert time.monotonic() < deadline, f"not all requests answered after the restart: {count_file.read_text()}"
            time.sleep(0.2)
        subscriber.wait_for(lambda m: len({json.loads(x["Message"])["inferenceId"] for x in
                                           subscriber.messages(topic)}) == N, timeout=60)
        time.sleep(2 * SLEEP)  # room for a duplicate to show up, were there one

        runs = Counter(int(x) for x in count_file.read_text().split())
        assert runs == Counter(range(N)), f"model invocations per request: {runs}"
        for n, uri in outputs.items():
            bucket, key = uri[len("s3://"):].split("/", 1)
            obj = s3.get_object(Bucket=bucket, Key=key)
            assert obj["ContentType"] == "application/json" and json.loads(obj["Body"].read())["n"] == n
        notes = Counter(json.loads(m["Message"])["inferenceId"] for m in subscriber.messages(topic))
        assert notes == Counter(f"req-{n}" for n in range(N)), f"notifications per request: {notes}"
        assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="failed/").get("Contents")
    finally:
        server.terminate()
        subscriber.close()
