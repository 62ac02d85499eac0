"""The built-in XGBoost container's vectorised codecs (`kiln.algorithms.xgboost.codec`) against the
per-value Python formatting SageMaker's container uses (`str(v)` / `json.dumps` of `preds.tolist()`),
and its CSV parse against float64 parsing then the float32 cast a DMatrix makes."""

from __future__ import annotations

import json
from typing import Any

import pytest

np = pytest.importorskip("numpy")
xgb = pytest.importorskip("xgboost")
pytest.importorskip("pyarrow")

from kiln.algorithms.xgboost import codec, serve  # noqa: E402


def _values() -> Any:
    rng = np.random.default_rng(11)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.concatenate([
            rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32).astype(np.float64),
            (10.0 ** rng.uniform(-7, 12, 200_000)).astype(np.float32) * np.sign(rng.normal(size=200_000)),
            rng.normal(size=100_000) * 10.0 ** rng.uniform(-8, 20, 100_000),  # float64 too
            np.arange(-2000, 2000, dtype=np.float64), rng.integers(-2**40, 2**40, 2000).astype(np.float64),
            [0.0, -0.0, np.nan, np.inf, -np.inf, 1e10, -1e10, 9999999999.5, 1e-4, 9.999e-5, 5e-324,
             1.7976931348623157e308, 1e16, 1e15 + 0.5, 123456789.0, 0.1, 1 / 3]])


@pytest.mark.parametrize("json_style", [False, True])
def test_values_written_as_python_writes_them(json_style: bool) -> None:
    values = _values()
    write = json.dumps if json_style else repr
    got = codec.join_values(values, "\n", json_style=json_style)
    assert got is not None
    expected = "\n".join(write(v) for v in values.tolist()).encode()
    if got != expected:  # name the first value that differs
        bad = next((w, g) for w, g in zip(expected.split(b"\n"), got.split(b"\n"), strict=True) if w != g)
        pytest.fail(f"formatted {bad[1]!r}, Python writes {bad[0]!r}")


def test_rows_of_a_matrix_written_as_python_lists() -> None:
    rows = np.random.default_rng(2).dirichlet(np.ones(3), size=500).astype(np.float32)
    rows[0, 0], rows[1, 1], rows[2, 2] = 0.0, 1.0, 1e-7
    values = rows.tolist()
    assert codec.join_values(rows, "\n", terminator="\n") == ("\n".join(map(str, values)) + "\n").encode()
    assert codec.join_values(rows, ",") == ",".join(map(str, values)).encode()
    assert codec.join_values(rows, ", ", json_style=True, brackets=True) == json.dumps(values).encode()
    assert codec.join_values(np.zeros((0,), np.float32), ",") is None
    assert codec.join_values(np.zeros((2, 2, 2), np.float32), ",") is None


def _reference(text: str) -> Any:
    """float64 parse (SageMaker's `np.float`), then the float32 cast a DMatrix makes."""
    return np.array([[float(v) if v.strip() else np.nan for v in line.split(",")]
                     for line in text.strip().splitlines()]).astype(np.float32)


def test_csv_parse_is_float64_then_float32() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2000, 7)) * 10.0 ** rng.uniform(-9, 9, size=(2000, 7))
    text = "\n".join(",".join(f"{v:.17g}" for v in row) for row in x) + "\n"
    np.testing.assert_array_equal(codec.parse_csv(text.encode()), _reference(text))
    got = codec.parse_csv(b"  1,,3,\r\n4,5,6,\n")  # a trailing delimiter is one more (missing) column
    assert got.shape == (2, 4) and got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, [[1, np.nan, 3, np.nan], [4, 5, 6, np.nan]])
    np.testing.assert_array_equal(codec.parse_csv(b"1\t2\n3\t4"), [[1, 2], [3, 4]])  # tab-separated
    np.testing.assert_array_equal(codec.parse_csv(b"16777217,1e40"), [[16777216, np.inf]])  # the float32 cast
    for bad in (b"1,2\n3\n", b"a,b", b"1,\xff", b" \n "):
        with pytest.raises(codec.CodecError):
            codec.parse_csv(bad)


def _booster(objective: str, features: int = 4) -> Any:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, features))
    params: dict[str, Any] = {"objective": objective}
    if objective.startswith("multi:"):
        y, params["num_class"] = np.digitize(x[:, 0], [-0.5, 0.5]), 3
    elif objective.startswith(("binary:", "reg:logistic")):
        y = (x[:, 0] > 0).astype(float)
    else:
        y = np.abs(2 * x[:, 0] + x[:, 1])
    return xgb.train(params, xgb.DMatrix(x, label=y), 15)


@pytest.mark.parametrize("objective", ["reg:squarederror", "binary:logistic", "multi:softprob", "multi:softmax",
                                       "count:poisson"])
def test_answers_are_sagemakers(objective: str) -> None:
    """parse -> predict -> encode gives the bytes of SageMaker's container: DMatrix(float64 rows) ->
    Booster.predict -> `str`/`json.dumps` of `preds.tolist()`, for every accept type and batch mode."""
    booster = _booster(objective)
    rng = np.random.default_rng(9)
    x = rng.normal(size=(300, 4))
    x[::7, 1] = np.nan
    text = "\n".join(",".join("" if np.isnan(v) else f"{v:.6g}" for v in row) for row in x)
    for body in (text.encode(), text.encode() + b"\n", b"1,2"):  # the last one: fewer columns than the model
        preds = booster.predict(xgb.DMatrix(_reference(body.decode()).astype(np.float64)), validate_features=False)
        got = serve.predict(booster, serve.parse_payload(body, "text/csv"))
        assert got.tobytes() == preds.tobytes()
        values = preds.tolist()
        expected = {("text/csv", True): "\n".join(map(str, values)) + "\n",
                    ("text/csv", False): ",".join(map(str, values)),
                    ("application/json", True): json.dumps(values), ("application/json", False): json.dumps(values),
                    ("application/jsonlines", True): "\n".join(json.dumps(v) for v in values),
                    ("application/jsonlines", False): "\n".join(json.dumps(v) for v in values)}
        for (accept, batch), want in expected.items():
            assert serve.encode(got, accept, booster, batch=batch, selected=None) == want.encode(), (accept, batch)


def test_infinite_features_answer_400_not_500() -> None:
    booster = _booster("reg:squarederror")
    with pytest.raises(serve.InferenceError) as info:
        serve.predict(booster, serve.parse_payload(b"1,2,3,inf", "text/csv"))
    assert info.value.status == 400 and "inf" in info.value.message
