"""Batch transform's pure parts, without a server: the JSONPath subset, record splitting and
batching, DataProcessing joins, input naming and spreading, and the run settings."""

from __future__ import annotations

import io
import struct

import pytest

from kiln.services.transform import jsonpath, records
from kiln.services.transform.dataproc import ProcessingError, Processor
from kiln.services.transform.inputs import InputFile, output_location, relative_name, spread
from kiln.services.transform.runner import container_environment, resolve_settings, worker_count


@pytest.mark.parametrize(("path", "doc", "want"), [
    ("$", [1, 2], [1, 2]),
    ("$[1:]", ["id", 1, 2, 3], [1, 2, 3]),
    ("$[1:2]", ["a", "b", "c", "d"], ["b", "c"]),  # SageMaker's slices include their end
    ("$[:1]", ["a", "b", "c"], ["a", "b"]),
    ("$[0,-1]", ["a", "b", "c"], ["a", "c"]),
    ("$[-1]", ["a", "b", "c"], "c"),
    ("$.features", {"features": [1, 2], "id": 3}, [1, 2]),
    ("$['id','SageMakerOutput']", {"id": 1, "x": 2, "SageMakerOutput": 3}, {"id": 1, "SageMakerOutput": 3}),
    ("$.a.*", {"a": {"x": 1, "y": 2}}, [1, 2]),
    ("$[*].v", [{"v": 1}, {"v": 2}], [1, 2]),
    ("$.a[1]", {"a": [5, 6]}, 6),
])
def test_jsonpath_subset(path: str, doc: object, want: object) -> None:
    assert jsonpath.apply(jsonpath.parse(path), doc) == want


@pytest.mark.parametrize("path", ["features", "$..a", "$[?(@.a)]", "$.a['b.c']", "$[1:2:3]", "$[x]"])
def test_jsonpath_rejects_what_it_does_not_support(path: str) -> None:
    with pytest.raises(jsonpath.JsonPathError):
        jsonpath.parse(path)


def test_jsonpath_mismatch_is_an_error() -> None:
    with pytest.raises(jsonpath.JsonPathError):
        jsonpath.apply(jsonpath.parse("$.missing"), {"a": 1})
    with pytest.raises(jsonpath.JsonPathError):
        jsonpath.apply(jsonpath.parse("$[5]"), [1, 2])


def _batches(data: bytes, split: str, multi: bool, limit: int, keep: bool = False) -> list[records.Batch]:
    return list(records.batches(io.BytesIO(data), split, multi, limit, keep))


def test_line_batches_cut_at_line_ends_under_the_limit() -> None:
    data = b"".join(f"{i},{i * 2}\n".encode() for i in range(1000))
    got = _batches(data, "Line", True, 100)
    assert b"".join(b.body for b in got) == data
    assert all(len(b.body) <= 100 and b.body.endswith(b"\n") for b in got)
    assert [b.index for b in got] == list(range(len(got)))
    assert _batches(data, "Line", True, 0)[0].body == data  # MaxPayloadInMB=0: one request
    single = _batches(b"a\n\nb\r\nc", "Line", False, 100)
    assert [b.body for b in single] == [b"a", b"b", b"c"]  # blank lines are not records
    with pytest.raises(records.RecordTooLarge):
        _batches(b"x" * 150 + b"\n", "Line", True, 100)


def test_multi_record_groups_keep_records_for_data_processing() -> None:
    got = _batches(b"a,1\nb,2\nc,3\n", "Line", True, 9, keep=True)
    assert [b.records for b in got] == [[b"a,1", b"b,2"], [b"c,3"]]
    assert got[0].body == b"a,1\nb,2\n"


def _recordio(payload: bytes, flag: int = 0) -> bytes:
    return struct.pack("<II", 0xCED7230A, (flag << 29) | len(payload)) + payload + b"\0" * (-len(payload) % 4)


def test_recordio_and_tfrecord_framing() -> None:
    split_record = _recordio(b"ab", 1) + _recordio(b"cde", 3)
    data = _recordio(b"one") + split_record + _recordio(b"three!")
    single = _batches(data, "RecordIO", False, 1000)
    assert [b.body for b in single] == [_recordio(b"one"), split_record, _recordio(b"three!")]
    assert [b.body for b in _batches(data, "RecordIO", True, 1000)] == [data]
    with pytest.raises(records.BadFraming):
        _batches(b"\x00" * 8, "RecordIO", False, 1000)
    tf = b"".join(struct.pack("<Q", len(p)) + b"crc!" + p + b"crc!" for p in (b"x", b"yy"))
    assert len(_batches(tf, "TFRecord", False, 1000)) == 2
    assert _batches(tf, "TFRecord", True, 1000)[0].body == tf


def test_split_none_respects_the_payload_limit() -> None:
    assert _batches(b"whole\nobject\n", "None", True, 100)[0].body == b"whole\nobject\n"
    with pytest.raises(records.RecordTooLarge):
        _batches(b"x" * 101, "None", True, 100)


def test_csv_join_and_filters() -> None:
    p = Processor("text/csv", "text/csv", "$[1:]", "$[0,-1]", True)
    rows = [b"id1,1,2", b"id2,3,4"]
    assert p.request_body(rows, single=False) == b"1,2\n3,4\n"
    assert p.outputs(rows, b"0.5\n0.7\n") == b"id1,0.5\nid2,0.7\n"
    with pytest.raises(ProcessingError, match="does not match"):
        p.outputs(rows, b"0.5\n")


def test_json_join_wraps_non_objects_and_splits_arrays() -> None:
    p = Processor("application/json", "application/json", "$", "$", True)
    out = p.outputs([b"[1,2]", b'{"a":1}'], b'{"predictions": [0.1, 0.2]}')
    assert out == b'{"SageMakerInput":[1,2],"SageMakerOutput":0.1}\n{"a":1,"SageMakerOutput":0.2}\n'


def test_relative_names_outputs_and_spreading() -> None:
    assert relative_name("in", "in/a.csv") == "a.csv"
    assert relative_name("in/", "in/sub/b.csv") == "sub/b.csv"
    assert relative_name("data/test.csv", "data/test.csv") == "test.csv"
    assert relative_name("data/te", "data/test.csv") == "test.csv"
    assert output_location("s3://b/out", "a.csv") == ("b", "out/a.csv.out")
    assert output_location("s3://b", "a.csv") == ("b", "a.csv.out")
    files = [InputFile("b", f"k{i}", f"k{i}", size) for i, size in enumerate([100, 10, 10, 60, 30])]
    shares = spread(files, 2)
    assert sorted(f.key for s in shares for f in s) == [f.key for f in files]
    assert sorted(sum(f.size for f in s) for s in shares) == [100, 110]


def test_settings_environment_and_workers() -> None:
    spec = {"TransformInput": {"ContentType": "text/csv", "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": "s3://b/o"},
            "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
            "MaxPayloadInMB": 0, "Environment": {"A": "1"}}
    s = resolve_settings(spec, {"MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 9})
    assert (s.max_concurrent, s.batch_strategy, s.max_payload_bytes) == (3, "SingleRecord", 0)
    assert s.log_line() == "MaxConcurrentTransforms=3, MaxPayloadInMB=0, BatchStrategy=SINGLE_RECORD"
    s = resolve_settings({**spec, "MaxPayloadInMB": None}, None)
    assert (s.max_concurrent, s.batch_strategy, s.max_payload_bytes) == (1, "MultiRecord", 6 * 1024 * 1024)
    env = container_environment(spec)
    assert env["SAGEMAKER_BATCH"] == "true" and env["A"] == "1" and env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] == "4096"
    model = {"PrimaryContainer": {"Environment": {}}}
    assert worker_count(spec, model, 8) == 1
    assert worker_count({**spec, "MaxConcurrentTransforms": 8}, model, 2) == 2
    assert worker_count(spec, {"PrimaryContainer": {"Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}}}, 2) == 3
