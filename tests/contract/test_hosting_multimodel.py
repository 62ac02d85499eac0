"""Multi-model endpoints with boto3 against a live server: `Mode: MultiModel` models whose
`ModelDataUrl` is an S3 prefix, InvokeEndpoint with `TargetModel` loading real artifacts on first use,
least-recently-used eviction under a small memory budget (seen in the container's own `GET /models`
listing and in CloudWatch), artifacts added while the endpoint runs, the service's errors, the fast
path and the gateway path answering alike, and 200 models under one prefix on two instances."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from botocore.exceptions import ClientError
from test_hosting_helpers import BUCKET, IMAGE, ROLE, create_model, upload_model, variant, wait_endpoint, wait_gone

ACCOUNT, REGION = "123456789012", "us-east-1"
WEIGHTS = 2000  # float64s per model: ~16 KB of weights, the bulk of each model's footprint

MME_PY = """
import json, os, time
import numpy as np

def model_fn(model_dir):
    if os.path.exists(os.path.join(model_dir, "broken")):
        raise RuntimeError("this model is broken on purpose")
    if os.path.exists(os.path.join(model_dir, "slow")):
        time.sleep(float(open(os.path.join(model_dir, "slow")).read()))
    return {"w": np.load(os.path.join(model_dir, "weights.npy")),
            "tag": open(os.path.join(model_dir, "tag.txt")).read()}

def input_fn(body, content_type):
    doc = json.loads(body)
    time.sleep(doc.get("sleep", 0))
    return np.array(doc["inputs"], dtype=float)

def predict_fn(data, model):
    return {"tag": model["tag"], "scores": (data @ model["w"][: data.shape[1]]).tolist(), "pid": os.getpid()}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


def artifact(tag: str, **extra: bytes) -> bytes:
    weights = io.BytesIO()
    np.save(weights, np.random.default_rng(abs(hash(tag)) % 2**32).normal(size=WEIGHTS))
    files = {"weights.npy": weights.getvalue(), "tag.txt": tag.encode(),
             "code/inference.py": textwrap.dedent(MME_PY).encode(), **extra}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


FOOTPRINT = WEIGHTS * 8 + 128 + 400 + len(textwrap.dedent(MME_PY))  # unpacked bytes, about


def _bucket(s3: Any) -> None:
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def deploy_mme(sm: Any, s3: Any, ep: str, *, budget_models: float, count: int = 1, **container: Any) -> str:
    """A multi-model endpoint whose replicas may hold about `budget_models` models; returns the prefix key."""
    _bucket(s3)
    prefix = f"mme/{ep}/"
    env = {"SAGEMAKER_PROGRAM": "inference.py", "KILN_MULTIMODEL_MEMORY_MB": f"{budget_models * FOOTPRINT / 2**20:.6f}"}
    sm.create_model(ModelName=ep, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "Mode": "MultiModel", "ModelDataUrl": f"s3://{BUCKET}/{prefix}", "Environment": env,
        **container})
    sm.create_endpoint_config(EndpointConfigName=ep, ProductionVariants=[variant("AllTraffic", ep, count)])
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=ep)
    assert wait_endpoint(sm, ep)["EndpointStatus"] == "InService"
    return prefix


def invoke(rt: Any, ep: str, target: str, **extra: Any) -> dict[str, Any]:
    out = rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", TargetModel=target,
                             Body=json.dumps({"inputs": [[1.0, 2.0, 3.0]]}), **extra)
    return json.loads(out["Body"].read())


def replica_sockets(server: Any, ep: str) -> list[str]:
    rt = server.platform.hosting.reconciler.by_key[(ACCOUNT, REGION, ep)]
    return [r.handle.uds for r in rt.replicas() if r.state == "Healthy" and r.handle is not None]


def listings(server: Any, ep: str) -> list[list[str]]:
    """Each healthy replica's `GET /models` (the container API), as model names."""
    out = []
    for uds in replica_sockets(server, ep):
        with httpx.Client(transport=httpx.HTTPTransport(uds=uds), base_url="http://replica") as c:
            names: list[str] = []
            token = None
            while True:
                doc = c.get("/models", params={"next_page_token": token, "limit": 7} if token else {"limit": 7}).json()
                names += [m["modelName"] for m in doc["models"]]
                assert all(m["modelUrl"].endswith(f"/models/{m['modelName']}/model") for m in doc["models"])
                token = doc.get("nextPageToken")
                if not token:
                    break
        out.append(names)
    return out


def flush_metrics(server: Any) -> None:
    timing = server.platform.hosting.reconciler.timing
    flush, timing.metrics_flush = timing.metrics_flush, 0.2
    try:
        time.sleep(1.5)
    finally:
        timing.metrics_flush = flush


def stat(cw: Any, ep: str, name: str, stat: str) -> float:
    now = datetime.now(UTC)
    dims = [{"Name": "EndpointName", "Value": ep}, {"Name": "VariantName", "Value": "AllTraffic"}]
    points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=name, Dimensions=dims,
                                      StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
                                      Period=3600, Statistics=[stat])["Datapoints"]
    assert len(points) == 1, (name, points)
    return float(points[0][stat])


def test_load_on_first_use_lru_eviction_add_while_running_and_errors(kiln_server: Any, aws_client: Any,
                                                                       unique_name: str) -> None:
    sm, s3, rt, cw = (aws_client(s) for s in ("sagemaker", "s3", "sagemaker-runtime", "cloudwatch"))
    ep = unique_name
    _bucket(s3)
    prefix = f"mme/{ep}/"
    for tag in ("a", "b"):
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}{tag}.tar.gz", Body=artifact(tag))
    deploy_mme(sm, s3, ep, budget_models=3.5)
    assert listings(kiln_server, ep) == [[]]  # nothing is loaded before it is asked for

    assert invoke(rt, ep, "a.tar.gz")["tag"] == "a"
    first = invoke(rt, ep, "b.tar.gz")
    assert first["tag"] == "b" and len(first["scores"]) == 1
    assert len(listings(kiln_server, ep)[0]) == 2

    for tag in ("c", "d", "sub/e"):  # added while the endpoint runs (the SDK's add_model copies them here)
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}{tag}.tar.gz", Body=artifact(tag))
    assert invoke(rt, ep, "c.tar.gz")["tag"] == "c"
    assert invoke(rt, ep, "a.tar.gz")["tag"] == "a"  # a is now more recent than b
    assert invoke(rt, ep, "d.tar.gz")["tag"] == "d"  # 4 > 3.5 models: b, the least recently used, goes
    mm = kiln_server.platform.hosting.multimodel
    rid = next(iter(r for r in mm.replicas if mm.replicas[r].key[2] == ep))
    assert mm.loaded_targets(rid) == ["c.tar.gz", "a.tar.gz", "d.tar.gz"]
    assert len(listings(kiln_server, ep)[0]) == 3
    assert invoke(rt, ep, "sub/e.tar.gz")["tag"] == "sub/e"  # c goes
    assert mm.loaded_targets(rid) == ["a.tar.gz", "d.tar.gz", "sub/e.tar.gz"]
    assert invoke(rt, ep, "b.tar.gz")["tag"] == "b"  # loaded again (a miss), a goes
    assert sorted(listings(kiln_server, ep)[0]) == sorted(mm.replicas[rid].loaded)

    # the gateway path (a header the fast path leaves to the gateway) answers as the fast path does
    assert invoke(rt, ep, "d.tar.gz", EnableExplanations="`false`")["tag"] == "d"

    for extra in ({}, {"EnableExplanations": "`false`"}):
        with pytest.raises(ClientError) as err:
            invoke(rt, ep, "nope.tar.gz", **extra)
        e = err.value.response
        assert e["Error"]["Code"] == "ValidationError" and e["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert e["Error"]["Message"] == (
            f"Failed to download model data(bucket: {BUCKET}, key: {prefix}nope.tar.gz). Please ensure that there is "
            "an object located at the URL and that the role passed to CreateModel has permissions to download the "
            "model.")
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", Body=b"{}")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "is missing a target model header" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        invoke(rt, ep, "tab\there.tar.gz")  # \p{Print} has no control characters
    assert "at 'targetModel' failed to satisfy constraint" in err.value.response["Error"]["Message"]
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}junk.tar.gz", Body=b"not a tar archive")
    with pytest.raises(ClientError) as err:
        invoke(rt, ep, "junk.tar.gz")
    assert err.value.response["Error"]["Code"] == "ModelError"
    assert "is not a readable tar.gz archive" in err.value.response["Error"]["Message"]

    flush_metrics(kiln_server)
    # 8 invocations reached a model, 2 were hits (a, then d through the gateway); 6 loads (a b c d e, b again),
    # 5 downloads (b's files stayed on disk), 3 unloads (b, c, a)
    assert stat(cw, ep, "ModelCacheHit", "SampleCount") == 8
    assert stat(cw, ep, "ModelCacheHit", "Sum") == 2
    assert stat(cw, ep, "ModelLoadingTime", "SampleCount") == 6
    assert stat(cw, ep, "ModelDownloadingTime", "SampleCount") == 5
    assert stat(cw, ep, "ModelUnloadingTime", "SampleCount") == 3
    assert stat(cw, ep, "LoadedModelCount", "Maximum") == 3
    assert stat(cw, ep, "ModelLoadingTime", "Average") > 0
    text = httpx.get(f"{kiln_server.url}/_kiln/metrics").text
    assert f'kiln_endpoint_loaded_models{{account="{ACCOUNT}",region="{REGION}",endpoint="{ep}",' \
           f'variant="AllTraffic"}} 3' in text

    s3.put_object(Bucket=BUCKET, Key=f"{prefix}broken.tar.gz", Body=artifact("broken", broken=b"1"))
    with pytest.raises(ClientError) as err:
        invoke(rt, ep, "broken.tar.gz")  # its model_fn raises: the container answers the load with 500
    e = err.value.response["Error"]
    assert e["Code"] == "ModelError" and "this model is broken on purpose" in e["Message"]
    assert err.value.response["OriginalStatusCode"] == 500
    assert invoke(rt, ep, "d.tar.gz")["tag"] == "d"  # the others serve on

    sm.delete_endpoint(EndpointName=ep)
    wait_gone(sm, ep)
    assert not any(rep.key[2] == ep for rep in mm.replicas.values())


def test_target_model_on_a_single_model_endpoint(kiln_server: Any, aws_client: Any, unique_name: str) -> None:
    sm, s3, rt = (aws_client(s) for s in ("sagemaker", "s3", "sagemaker-runtime"))
    ep = unique_name
    create_model(sm, ep, upload_model(s3, f"mme-single/{ep}/model.tar.gz"))
    sm.create_endpoint_config(EndpointConfigName=ep, ProductionVariants=[variant("AllTraffic", ep)])
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=ep)
    assert wait_endpoint(sm, ep)["EndpointStatus"] == "InService"
    for extra in ({}, {"EnableExplanations": "`false`"}):
        with pytest.raises(ClientError) as err:
            rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", Body=b"[[0, 0, 0, 0]]",
                               TargetModel="a.tar.gz", **extra)
        assert err.value.response["Error"]["Code"] == "ValidationError"
        assert err.value.response["Error"]["Message"] == (
            f"Endpoint {ep} is not a multi-model endpoint and does not support target model header.")
    sm.delete_endpoint(EndpointName=ep)
    wait_gone(sm, ep)


def test_two_hundred_models_under_one_prefix(kiln_server: Any, aws_client: Any, unique_name: str) -> None:
    sm, s3, rt, cw = (aws_client(s) for s in ("sagemaker", "s3", "sagemaker-runtime", "cloudwatch"))
    ep = unique_name
    _bucket(s3)
    prefix = f"mme/{ep}/"
    tags = [f"customer-{i:03d}" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda t: s3.put_object(Bucket=BUCKET, Key=f"{prefix}{t}.tar.gz", Body=artifact(t)), tags))
    deploy_mme(sm, s3, ep, budget_models=15.5, count=2)

    def call(tag: str) -> str:
        return str(invoke(rt, ep, f"{tag}.tar.gz")["tag"])

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(call, tags)) == tags
        assert list(pool.map(call, tags)) == tags  # every one was evicted before its second call
    hot = tags[-5:]
    for _ in range(4):
        for tag in hot:
            assert call(tag) == tag  # most recently loaded: served where they are loaded

    per_replica = listings(kiln_server, ep)
    assert len(per_replica) == 2 and all(1 <= len(names) <= 15 for names in per_replica)
    assert not set(per_replica[0]) & set(per_replica[1])  # a loaded model draws its requests to its replica
    flush_metrics(kiln_server)
    assert stat(cw, ep, "ModelCacheHit", "SampleCount") == 420
    assert stat(cw, ep, "ModelCacheHit", "Sum") >= 20
    assert stat(cw, ep, "ModelLoadingTime", "SampleCount") >= 400 - 20
    assert stat(cw, ep, "ModelUnloadingTime", "SampleCount") >= 400 - 20 - 30
    assert stat(cw, ep, "ModelDownloadingTime", "SampleCount") == 200
    assert stat(cw, ep, "LoadedModelCount", "Maximum") <= 15
    sm.delete_endpoint(EndpointName=ep)
    wait_gone(sm, ep)


def test_the_container_api_and_a_load_past_the_invocation_timeout(kiln_server: Any, aws_client: Any,
                                                                  unique_name: str) -> None:
    sm, s3, rt = (aws_client(s) for s in ("sagemaker", "s3", "sagemaker-runtime"))
    ep = unique_name
    prefix = deploy_mme(sm, s3, ep, budget_models=1.5, MultiModelConfig={"ModelCacheSetting": "Disabled"})
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}slow.tar.gz", Body=artifact("slow", slow=b"3"))
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}quick.tar.gz", Body=artifact("quick"))
    runtime = kiln_server.platform.hosting.runtime
    limit, runtime.timeout = runtime.timeout, 1.0
    try:
        with pytest.raises(ClientError) as err:
            invoke(rt, ep, "slow.tar.gz")  # the load outlasts the invocation's limit and goes on
        assert err.value.response["Error"]["Code"] == "ModelNotReadyException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        deadline = time.time() + 60
        while True:
            try:
                assert invoke(rt, ep, "slow.tar.gz")["tag"] == "slow"
                break
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ModelNotReadyException"
                assert time.time() < deadline, "the model never became ready"
                time.sleep(0.5)
    finally:
        runtime.timeout = limit

    # the container's side of the contract, straight on the replica's socket
    (uds,) = replica_sockets(kiln_server, ep)
    mm = kiln_server.platform.hosting.multimodel
    models_dir = next(rep.models_dir for rep in mm.replicas.values() if rep.key[2] == ep)
    name = next(iter(next(rep.loaded for rep in mm.replicas.values() if rep.key[2] == ep)))
    with httpx.Client(transport=httpx.HTTPTransport(uds=uds), base_url="http://replica") as c:
        url = c.get(f"/models/{name}").json()["modelUrl"]
        assert url.endswith(f"/models/{name}/model")
        again = c.post("/models", json={"model_name": name, "url": url})
        assert again.status_code == 409
        assert c.get("/models/nope").status_code == 404
        assert c.delete("/models/nope").status_code == 404
        assert c.post("/models/nope/invoke", content=b"{}").status_code == 404
        assert c.post("/models", content=b"not json").status_code == 400
        assert c.post("/models", json={"model_name": "x", "url": "/nowhere"}).status_code == 404
        assert c.post("/invocations", content=b"{}").status_code == 404  # a multi-model container has none
        # a second model does not fit the 1.5-model budget: 507, as the platform expects
        other = models_dir / "elsewhere"
        (other / "code").mkdir(parents=True)
        for path in (models_dir / name / "model").rglob("*"):
            if path.is_file():
                (other / path.relative_to(models_dir / name / "model")).write_bytes(path.read_bytes())
        seen = url.rsplit("/", 2)[0] + "/elsewhere"  # the same directory as the container sees it
        full = c.post("/models", json={"model_name": "elsewhere", "url": seen})
        assert full.status_code == 507 and full.json()["type"] == "InsufficientMemoryException"
        answer = c.post(f"/models/{name}/invoke", content=json.dumps({"inputs": [[1.0, 2.0]]}),
                        headers={"Content-Type": "application/json", "X-Amzn-SageMaker-Target-Model": "slow.tar.gz"})
        assert answer.status_code == 200 and answer.json()["tag"] == "slow"
        # the platform unloads the least recently used model to make room, on its own
        assert invoke(rt, ep, "quick.tar.gz")["tag"] == "quick"
        assert [m["modelName"] for m in c.get("/models").json()["models"]] == [
            next(iter(next(rep.loaded for rep in mm.replicas.values() if rep.key[2] == ep)))]
        assert c.get(f"/models/{name}").status_code == 404  # slow went
    assert not (models_dir / name).exists()  # ModelCacheSetting Disabled: its files left the disk too
    assert (models_dir / next(iter(next(rep.loaded for rep in mm.replicas.values() if rep.key[2] == ep)))).is_dir()
    grace, mm.cache_grace = mm.cache_grace, 0.2
    try:
        sm.delete_endpoint(EndpointName=ep)
        wait_gone(sm, ep)
        deadline = time.time() + 30
        while models_dir.exists():  # the endpoint's model cache goes with its last replica
            assert time.time() < deadline, f"{models_dir} is still there"
            time.sleep(0.1)
    finally:
        mm.cache_grace = grace


def test_a_hot_model_spreads_to_an_idle_instance(kiln_server: Any, aws_client: Any, unique_name: str) -> None:
    sm, s3, rt = (aws_client(s) for s in ("sagemaker", "s3", "sagemaker-runtime"))
    ep = unique_name
    prefix = deploy_mme(sm, s3, ep, budget_models=4, count=2)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}hot.tar.gz", Body=artifact("hot"))
    assert invoke(rt, ep, "hot.tar.gz")["tag"] == "hot"
    assert sorted(len(names) for names in listings(kiln_server, ep)) == [0, 1]  # one instance holds it

    def slow(_: int) -> str:
        out = rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", TargetModel="hot.tar.gz",
                                 Body=json.dumps({"inputs": [[1.0]], "sleep": 0.2}))
        return str(json.loads(out["Body"].read())["tag"])

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(slow, range(30))) == ["hot"] * 30
    assert [len(names) for names in listings(kiln_server, ep)] == [1, 1]  # requests queued: the other loaded it
    sm.delete_endpoint(EndpointName=ep)
    wait_gone(sm, ep)


def test_built_in_xgboost_models_behind_one_endpoint(kiln_server: Any, aws_client: Any, unique_name: str) -> None:
    """The service's own multi-model sample: the built-in XGBoost image, one `xgboost-model` per archive."""
    import xgboost as xgb

    sm, s3, rt = (aws_client(s) for s in ("sagemaker", "s3", "sagemaker-runtime"))
    ep = unique_name
    _bucket(s3)
    prefix = f"mme-xgb/{ep}/"
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    for name, sign in (("up", 1.0), ("down", -1.0)):
        booster = xgb.train({"objective": "reg:squarederror", "max_depth": 2}, xgb.DMatrix(x, label=sign * x[:, 0]),
                            num_boost_round=20)
        raw = bytes(booster.save_raw("ubj"))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo("xgboost-model")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}{name}.tar.gz", Body=buf.getvalue())
    sm.create_model(ModelName=ep, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "Mode": "MultiModel",
        "ModelDataUrl": f"s3://{BUCKET}/{prefix}"})
    sm.create_endpoint_config(EndpointConfigName=ep, ProductionVariants=[variant("AllTraffic", ep)])
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=ep)
    assert wait_endpoint(sm, ep)["EndpointStatus"] == "InService"
    scores = {}
    for name in ("up", "down"):
        out = rt.invoke_endpoint(EndpointName=ep, ContentType="text/csv", TargetModel=f"{name}.tar.gz",
                                 Body=b"1.5,0,0")
        assert out["ContentType"] == "text/csv"
        scores[name] = float(out["Body"].read())
    assert scores["up"] > 0.5 and scores["down"] < -0.5
    sm.delete_endpoint(EndpointName=ep)
    wait_gone(sm, ep)


@pytest.mark.parametrize(("container", "reason"), [
    ({}, "A MultiModel container needs ModelDataUrl to be an S3 prefix"),
    ({"ModelDataUrl": f"s3://{BUCKET}/mme-bad/", "Environment": {"KILN_MULTIMODEL_MEMORY_MB": "lots"}},
     "KILN_MULTIMODEL_MEMORY_MB='lots': the multi-model memory budget must be a positive number of MB."),
])
def test_a_multi_model_container_that_cannot_run_fails_its_endpoint(kiln_server: Any, aws_client: Any,
                                                                     unique_name: str, container: dict[str, Any],
                                                                     reason: str) -> None:
    sm = aws_client("sagemaker")
    ep = unique_name
    sm.create_model(ModelName=ep, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE, "Mode": "MultiModel", **container})
    sm.create_endpoint_config(EndpointConfigName=ep, ProductionVariants=[variant("AllTraffic", ep)])
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=ep)
    desc = wait_endpoint(sm, ep)
    assert desc["EndpointStatus"] == "Failed" and reason in desc["FailureReason"]
    sm.delete_endpoint(EndpointName=ep)
    wait_gone(sm, ep)


def test_an_instance_that_dies_takes_its_models_with_it(kiln_server: Any, aws_client: Any, unique_name: str) -> None:
    import os
    import signal

    sm, s3, rt = (aws_client(s) for s in ("sagemaker", "s3", "sagemaker-runtime"))
    ep = unique_name
    prefix = deploy_mme(sm, s3, ep, budget_models=4, count=2)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}a.tar.gz", Body=artifact("a"))
    first = invoke(rt, ep, "a.tar.gz")
    os.kill(first["pid"], signal.SIGKILL)
    second = invoke(rt, ep, "a.tar.gz")  # the other instance loads it (a retry, or the dead one is already gone)
    assert second["tag"] == "a" and second["pid"] != first["pid"]
    deadline = time.time() + 120
    while len(listings(kiln_server, ep)) < 2:  # the dead instance is replaced, with nothing loaded
        assert time.time() < deadline, "the instance was not replaced"
        time.sleep(0.2)
    assert sorted(len(names) for names in listings(kiln_server, ep)) == [0, 1]
    mm = kiln_server.platform.hosting.multimodel
    assert sum(1 for rep in mm.replicas.values() if rep.key[2] == ep) == 2
    sm.delete_endpoint(EndpointName=ep)
    wait_gone(sm, ep)
