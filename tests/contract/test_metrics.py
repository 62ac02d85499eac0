"""CloudWatch metrics and SageMaker Metrics through boto3 against a live Kiln, both CloudWatch wire
protocols (JSON 1.0 with query mode, and the older query protocol), and the SageMaker SDK's
`TrainingJobAnalytics` read."""

from __future__ import annotations

import math
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import botocore.model
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from kiln.core.scope import Scope
from kiln.services.metrics import Datum

NOW = math.floor(time.time() / 60) * 60
T0 = NOW - 600  # a minute boundary, ten minutes ago
CW_NS = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


@pytest.fixture(scope="module")
def cw(aws_client: Callable[..., Any]) -> Any:
    return aws_client("cloudwatch")


@pytest.fixture(scope="module")
def cw_query(kiln_server: Any) -> Iterator[Any]:
    """A CloudWatch client that speaks the query protocol, as older botocore did."""
    saved = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
    botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ("query",)  # type: ignore[misc]
    try:
        client = kiln_server.client("cloudwatch")
        assert client.meta.service_model.resolved_protocol == "query"  # cached on this client's model
    finally:
        botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = saved  # type: ignore[misc]
    yield client


@pytest.fixture
def ns(unique_name: str) -> str:
    return f"Kiln/Test/{unique_name}"


def put_values(cw: Any, ns: str, name: str, points: list[tuple[float, float]],
               dims: list[dict[str, str]] | None = None) -> None:
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": name, "Dimensions": dims or [], "Timestamp": at(s), "Value": v} for s, v in points])


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


# ------------------------------------------------------------------------------ GetMetricStatistics


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_put_then_statistics_per_period(protocol: str, cw: Any, cw_query: Any, ns: str) -> None:
    client = cw if protocol == "json" else cw_query
    dims = [{"Name": "Host", "Value": "a"}]
    put_values(client, ns, "Latency", [(1, 1.0), (20, 2.0), (59, 6.0), (61, 10.0)], dims)
    out = client.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=dims, StartTime=at(0), EndTime=at(180), Period=60,
        Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"])
    assert out["Label"] == "Latency"
    points = sorted(out["Datapoints"], key=lambda p: p["Timestamp"])
    assert [p["Timestamp"] for p in points] == [at(0), at(60)]
    first = {k: v for k, v in points[0].items() if k != "Timestamp"}
    assert first == {"SampleCount": 3.0, "Sum": 9.0, "Average": 3.0, "Minimum": 1.0, "Maximum": 6.0,
                     "Unit": "None"}
    assert points[1]["Average"] == 10.0


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_only_requested_statistics_and_extended(protocol: str, cw: Any, cw_query: Any, ns: str) -> None:
    cw = cw if protocol == "json" else cw_query
    put_values(cw, ns, "M", [(i, float(i)) for i in range(1, 11)])
    avg = cw.get_metric_statistics(Namespace=ns, MetricName="M", StartTime=at(0), EndTime=at(60), Period=60,
                                   Statistics=["Average"])["Datapoints"]
    assert [set(p) for p in avg] == [{"Timestamp", "Average", "Unit"}]
    ext = cw.get_metric_statistics(Namespace=ns, MetricName="M", StartTime=at(0), EndTime=at(60), Period=60,
                                   ExtendedStatistics=["p50", "p99", "tm(10%:90%)"])["Datapoints"]
    assert ext[0]["ExtendedStatistics"] == {"p50": 5.0, "p99": 10.0, "tm(10%:90%)": 5.5}


def test_start_time_is_rounded_down_to_the_minute(cw: Any, ns: str) -> None:
    put_values(cw, ns, "M", [(5, 1.0), (70, 2.0)])
    out = cw.get_metric_statistics(Namespace=ns, MetricName="M", StartTime=at(30), EndTime=at(120), Period=60,
                                   Statistics=["Sum"])
    assert sorted((p["Timestamp"], p["Sum"]) for p in out["Datapoints"]) == [(at(0), 1.0), (at(60), 2.0)]


def test_dimensions_match_exactly(cw: Any, ns: str) -> None:
    a, b = {"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}
    put_values(cw, ns, "Invocations", [(1, 1.0)], [a, b])
    put_values(cw, ns, "Invocations", [(2, 100.0)], [a])

    def total(dims: list[dict[str, str]]) -> list[float]:
        out = cw.get_metric_statistics(Namespace=ns, MetricName="Invocations", Dimensions=dims,
                                       StartTime=at(0), EndTime=at(60), Period=60, Statistics=["Sum"])
        return [p["Sum"] for p in out["Datapoints"]]

    assert total([b, a]) == [1.0]  # order does not matter
    assert total([a]) == [100.0]  # a subset is another metric
    assert total([]) == []
    assert total([{"Name": "EndpointName", "Value": "other"}]) == []


def test_values_counts_statistic_sets_and_units(cw: Any, ns: str) -> None:
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "T", "Timestamp": at(1), "Values": [1.0, 5.0], "Counts": [3.0, 1.0], "Unit": "Seconds"},
        {"MetricName": "T", "Timestamp": at(2), "StatisticValues": {
            "SampleCount": 2, "Sum": 30.0, "Minimum": 10.0, "Maximum": 20.0}, "Unit": "Seconds"},
        {"MetricName": "T", "Timestamp": at(3), "Value": 7.0, "Unit": "Milliseconds"},
    ])
    out = cw.get_metric_statistics(Namespace=ns, MetricName="T", StartTime=at(0), EndTime=at(60), Period=60,
                                   Statistics=["SampleCount", "Sum", "Minimum", "Maximum"], Unit="Seconds")
    [p] = out["Datapoints"]
    assert (p["SampleCount"], p["Sum"], p["Minimum"], p["Maximum"], p["Unit"]) == (6.0, 38.0, 1.0, 20.0,
                                                                                    "Seconds")
    both = cw.get_metric_statistics(Namespace=ns, MetricName="T", StartTime=at(0), EndTime=at(60), Period=60,
                                    Statistics=["Sum"])["Datapoints"]
    assert sorted((p["Unit"], p["Sum"]) for p in both) == [("Milliseconds", 7.0), ("Seconds", 38.0)]


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_statistics_errors(protocol: str, cw: Any, cw_query: Any, ns: str) -> None:
    client = cw if protocol == "json" else cw_query
    base = {"Namespace": ns, "MetricName": "M", "StartTime": at(0), "EndTime": at(600), "Period": 60}
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as err:
        client.get_metric_statistics(**base, Statistics=["Average"], ExtendedStatistics=["p99"])
    assert code(err) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as err:
        client.get_metric_statistics(**base)
    assert code(err) == "InvalidParameterCombination"
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.get_metric_statistics(**{**base, "Period": 45}, Statistics=["Sum"])
    with pytest.raises(ClientError) as err:
        client.get_metric_statistics(**{**base, "ExtendedStatistics": ["p101"]})
    assert code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        client.get_metric_statistics(**{**base, "EndTime": at(0)}, Statistics=["Sum"])
    assert code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        client.get_metric_statistics(**{**base, "StartTime": at(-86_400 * 2)}, Statistics=["Sum"])
    assert code(err) == "InvalidParameterCombination"
    assert "exceeds the limit of 1,440" in err.value.response["Error"]["Message"]


def test_put_errors(cw: Any, ns: str) -> None:
    with pytest.raises(cw.exceptions.InvalidParameterCombinationException):
        cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M", "Value": 1.0, "StatisticValues": {
            "SampleCount": 1, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0}}])
    with pytest.raises(cw.exceptions.InvalidParameterValueException) as err:
        cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M", "Values": [1.0, 2.0], "Counts": [1.0]}])
    assert "MetricData.member.1.Values" in err.value.response["Error"]["Message"]
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M", "Value": float("nan")}])
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{"MetricName": "M", "Value": 1.0}])
    with pytest.raises(cw.exceptions.MissingRequiredParameterException):
        cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M"}])
    assert cw.list_metrics(Namespace=ns)["Metrics"] == []  # nothing of a rejected request was stored


def test_large_put_is_gzip_compressed(cw: Any, ns: str) -> None:
    data = [{"MetricName": f"m{i:03d}", "Timestamp": at(1), "Value": 1.0} for i in range(600)]
    cw.put_metric_data(Namespace=ns, MetricData=data)
    assert len(list(cw.get_paginator("list_metrics").paginate(Namespace=ns).search("Metrics[]"))) == 600


# ------------------------------------------------------------------------------------ ListMetrics


def test_list_metrics_filters_and_pagination(kiln_server: Any, cw: Any, cw_query: Any, ns: str) -> None:
    data = [{"MetricName": f"m{i:03d}", "Dimensions": [{"Name": "Host", "Value": f"h{i % 2}"}],
             "Timestamp": at(1), "Value": 1.0} for i in range(600)]
    # Uncompressed: see test_large_put_is_gzip_compressed.
    kiln_server.client("cloudwatch", disable_request_compression=True).put_metric_data(
        Namespace=ns, MetricData=data)
    first = cw.list_metrics(Namespace=ns)
    assert len(first["Metrics"]) == 500 and "NextToken" in first
    pages = list(cw.get_paginator("list_metrics").paginate(Namespace=ns))
    names = [m["MetricName"] for page in pages for m in page["Metrics"]]
    assert len(pages) == 2 and sorted(names) == [f"m{i:03d}" for i in range(600)]
    by_query = list(cw_query.get_paginator("list_metrics").paginate(
        Namespace=ns, Dimensions=[{"Name": "Host"}]).search("Metrics[].MetricName"))
    assert sorted(by_query) == sorted(names)
    h1 = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Host", "Value": "h1"}], MetricName="m001")
    assert h1["Metrics"] == [{"Namespace": ns, "MetricName": "m001",
                              "Dimensions": [{"Name": "Host", "Value": "h1"}]}]
    assert len(list(cw.get_paginator("list_metrics").paginate(
        Namespace=ns, Dimensions=[{"Name": "Host"}]).search("Metrics[]"))) == 600
    assert cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Zone"}])["Metrics"] == []
    assert len(cw.list_metrics(Namespace=ns, MetricName="m002", RecentlyActive="PT3H")["Metrics"]) == 1
    with pytest.raises(ClientError) as err:
        cw.list_metrics(Namespace=ns, NextToken="garbage")
    assert code(err) == "InvalidParameterValue"


# ---------------------------------------------------------------------------------- GetMetricData


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_get_metric_data(protocol: str, cw: Any, cw_query: Any, ns: str) -> None:
    cw = cw if protocol == "json" else cw_query
    put_values(cw, ns, "Loss", [(1, 4.0), (2, 2.0), (61, 1.0), (121, 0.5)], [{"Name": "Job", "Value": "j"}])
    metric = {"Namespace": ns, "MetricName": "Loss", "Dimensions": [{"Name": "Job", "Value": "j"}]}
    out = cw.get_metric_data(StartTime=at(0), EndTime=at(180), MetricDataQueries=[
        {"Id": "avg", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Average"}},
        {"Id": "p50", "Label": "median", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "p50"}},
        {"Id": "hidden", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}, "ReturnData": False},
    ], ScanBy="TimestampAscending")
    avg, p50 = out["MetricDataResults"]
    assert (avg["Id"], avg["Label"], avg["StatusCode"]) == ("avg", "Loss", "Complete")
    assert avg["Timestamps"] == [at(0), at(60), at(120)] and avg["Values"] == [3.0, 1.0, 0.5]
    assert (p50["Label"], p50["Values"]) == ("median", [2.0, 1.0, 0.5])
    newest_first = cw.get_metric_data(StartTime=at(0), EndTime=at(180), MetricDataQueries=[
        {"Id": "avg", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Average"}}])
    assert newest_first["MetricDataResults"][0]["Values"] == [0.5, 1.0, 3.0]


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_get_metric_data_pages_by_max_datapoints(protocol: str, cw: Any, cw_query: Any, ns: str) -> None:
    cw = cw if protocol == "json" else cw_query
    put_values(cw, ns, "M", [(i * 60 + 1, float(i)) for i in range(5)])
    query = [{"Id": "m", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "M"}, "Period": 60,
                                        "Stat": "Maximum"}}]
    pages = list(cw.get_paginator("get_metric_data").paginate(
        StartTime=at(0), EndTime=at(300), MetricDataQueries=query, ScanBy="TimestampAscending",
        MaxDatapoints=2))
    assert [p["MetricDataResults"][0]["Values"] for p in pages] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    assert [p["MetricDataResults"][0]["StatusCode"] for p in pages] == ["PartialData", "PartialData", "Complete"]


def test_get_metric_data_rejects_expressions(cw: Any, ns: str) -> None:
    with pytest.raises(cw.exceptions.InvalidParameterValueException) as err:
        cw.get_metric_data(StartTime=at(0), EndTime=at(60), MetricDataQueries=[
            {"Id": "m", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "M"}, "Period": 60,
                                       "Stat": "Sum"}, "ReturnData": False},
            {"Id": "e", "Expression": "m * 2"}])
    assert "expressions are not supported" in err.value.response["Error"]["Message"]


# ------------------------------------------------------------------- the older query protocol, raw


def test_raw_query_protocol_request(kiln_server: Any, cw: Any, ns: str) -> None:
    put_values(cw, ns, "Raw", [(1, 2.0), (2, 4.0)], [{"Name": "Host", "Value": "a"}])
    form = {"Action": "GetMetricStatistics", "Version": "2010-08-01", "Namespace": ns, "MetricName": "Raw",
            "Dimensions.member.1.Name": "Host", "Dimensions.member.1.Value": "a",
            "StartTime": at(0).strftime("%Y-%m-%dT%H:%M:%SZ"), "EndTime": at(60).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Period": "60", "Statistics.member.1": "Average"}
    body = urllib.parse.urlencode(form)
    req = AWSRequest("POST", kiln_server.url + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials("kiln", "kiln"), "monitoring", "us-east-1").add_auth(req)
    prepared = req.prepare()
    with urllib.request.urlopen(urllib.request.Request(
            prepared.url, data=body.encode(), headers=dict(prepared.headers), method="POST")) as resp:
        assert resp.status == 200
        root = ET.fromstring(resp.read())
    assert root.tag == f"{CW_NS}GetMetricStatisticsResponse"
    member = root.find(f"{CW_NS}GetMetricStatisticsResult/{CW_NS}Datapoints/{CW_NS}member")
    assert member is not None
    assert float(member.findtext(f"{CW_NS}Average") or "nan") == 3.0
    assert root.findtext(f"{CW_NS}ResponseMetadata/{CW_NS}RequestId")


# ---------------------------------------------------------- the SageMaker SDK's TrainingJobAnalytics


def test_training_job_analytics_call_shape(kiln_server: Any, cw: Any, unique_name: str) -> None:
    """`sagemaker.analytics.TrainingJobAnalytics._fetch_metric`, exactly (DescribeTrainingJob aside)."""
    job = unique_name
    start = datetime.fromtimestamp(T0, tz=UTC)
    dims = (("TrainingJobName", job),)
    kiln_server.platform.metrics.put(Scope("123456789012", "us-east-1"), [
        Datum("/aws/sagemaker/TrainingJobs", "loss", dims, T0 + s, v)
        for s, v in ((5, 0.9), (30, 0.7), (65, 0.5), (130, 0.3))])
    end = start + timedelta(seconds=140) + timedelta(minutes=1)  # TrainingEndTime + 1 minute, as the SDK does
    raw = cw.get_metric_statistics(
        Namespace="/aws/sagemaker/TrainingJobs", MetricName="loss",
        Dimensions=[{"Name": "TrainingJobName", "Value": job}], StartTime=start, EndTime=end, Period=60,
        Statistics=["Average"])["Datapoints"]
    base_time = min(raw, key=lambda pt: pt["Timestamp"])["Timestamp"]
    xy = sorted([(pt["Timestamp"] - base_time).total_seconds(), pt["Average"]] for pt in raw)
    assert xy == [[0.0, pytest.approx(0.8)], [60.0, 0.5], [120.0, 0.3]]


# ------------------------------------------------------------------------------ sagemaker-metrics


def test_batch_put_and_get_metrics(aws_client: Callable[..., Any], cw: Any, unique_name: str) -> None:
    sm = aws_client("sagemaker-metrics")
    tc = unique_name
    out = sm.batch_put_metrics(TrialComponentName=tc, MetricData=[
        {"MetricName": "acc", "Timestamp": at(1 + i), "Step": i, "Value": 0.5 + 0.1 * i} for i in range(3)])
    assert "Errors" not in out
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:experiment-trial-component/{tc}"
    by_step, by_minute, bad = sm.batch_get_metrics(MetricQueries=[
        {"MetricName": "acc", "ResourceArn": arn, "MetricStat": "Last", "Period": "IterationNumber",
         "XAxisType": "IterationNumber"},
        {"MetricName": "acc", "ResourceArn": arn, "MetricStat": "Avg", "Period": "OneMinute",
         "XAxisType": "Timestamp"},
        {"MetricName": "acc", "ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x",
         "MetricStat": "Avg", "Period": "OneMinute", "XAxisType": "Timestamp"},
    ])["MetricQueryResults"]
    assert by_step["Status"] == "Complete" and by_step["XAxisValues"] == [0, 1, 2]
    assert by_step["MetricValues"] == pytest.approx([0.5, 0.6, 0.7])
    assert by_minute["XAxisValues"] == [T0] and by_minute["MetricValues"] == pytest.approx([0.6])
    assert bad["Status"] == "ValidationError" and bad["Message"]
    # The values are CloudWatch metrics too.
    stats = cw.get_metric_statistics(
        Namespace="/aws/sagemaker/TrialComponents", MetricName="acc",
        Dimensions=[{"Name": "TrialComponentName", "Value": tc}], StartTime=at(0), EndTime=at(60), Period=60,
        Statistics=["Maximum"])["Datapoints"]
    assert [p["Maximum"] for p in stats] == [pytest.approx(0.7)]


def test_batch_put_metrics_reports_bad_entries(aws_client: Callable[..., Any], unique_name: str) -> None:
    sm = aws_client("sagemaker-metrics")
    old = datetime.fromtimestamp(NOW - 30 * 86400, tz=UTC)
    out = sm.batch_put_metrics(TrialComponentName=unique_name, MetricData=[
        {"MetricName": "loss", "Timestamp": at(1), "Value": 1.0},
        {"MetricName": "loss", "Timestamp": old, "Value": 1.0},
        {"MetricName": "loss", "Timestamp": at(2), "Value": float("inf")},
    ])
    assert out["Errors"] == [{"Code": "VALIDATION_ERROR", "MetricIndex": 1},
                             {"Code": "VALIDATION_ERROR", "MetricIndex": 2}]
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:experiment-trial-component/{unique_name}"
    [result] = sm.batch_get_metrics(MetricQueries=[
        {"MetricName": "loss", "ResourceArn": arn, "MetricStat": "Count", "Period": "OneHour",
         "XAxisType": "Timestamp"}])["MetricQueryResults"]
    assert result["MetricValues"] == [1.0]


def test_batch_get_metrics_reads_training_jobs(kiln_server: Any, aws_client: Callable[..., Any],
                                               unique_name: str) -> None:
    kiln_server.platform.metrics.put(Scope("123456789012", "us-east-1"), [
        Datum("/aws/sagemaker/TrainingJobs", "rmse", (("TrainingJobName", unique_name),), T0 + s, v)
        for s, v in ((1, 3.0), (2, 1.0), (70, 0.5))])
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{unique_name}"
    [result] = aws_client("sagemaker-metrics").batch_get_metrics(MetricQueries=[
        {"MetricName": "rmse", "ResourceArn": arn, "MetricStat": "Avg", "Period": "OneMinute",
         "XAxisType": "Timestamp"}])["MetricQueryResults"]
    assert result["XAxisValues"] == [T0, T0 + 60] and result["MetricValues"] == [2.0, 0.5]


@pytest.mark.sdk
def test_sdk_training_job_analytics_dataframe(kiln_server: Any, monkeypatch: pytest.MonkeyPatch,
                                              unique_name: str) -> None:
    """The real `TrainingJobAnalytics(...).dataframe()`, with DescribeTrainingJob answered by a stub."""
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import boto3
    import sagemaker
    from sagemaker.analytics import TrainingJobAnalytics

    job = unique_name
    kiln_server.platform.metrics.put(Scope("123456789012", "us-east-1"), [
        Datum("/aws/sagemaker/TrainingJobs", name, (("TrainingJobName", job),), T0 + s, v)
        for name, s, v in (("train:loss", 5, 0.9), ("train:loss", 65, 0.5), ("val:acc", 66, 0.8))])

    class DescribeOnly:
        def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
            assert TrainingJobName == job
            return {"TrainingStartTime": datetime.fromtimestamp(T0, tz=UTC),
                    "TrainingEndTime": datetime.fromtimestamp(T0 + 70, tz=UTC),
                    "AlgorithmSpecification": {"MetricDefinitions": [
                        {"Name": "train:loss", "Regex": "loss=(.*)"}, {"Name": "val:acc", "Regex": "acc=(.*)"}]}}

    boto = boto3.Session(aws_access_key_id="kiln", aws_secret_access_key="kiln", region_name="us-east-1")
    monkeypatch.setattr(boto, "client", lambda service, **kw: kiln_server.client(service))
    session = sagemaker.Session(boto_session=boto, sagemaker_client=DescribeOnly())
    frame = TrainingJobAnalytics(job, sagemaker_session=session).dataframe()
    rows = sorted(zip(frame["metric_name"], frame["timestamp"], frame["value"], strict=True))
    assert rows == [("train:loss", 0.0, 0.9), ("train:loss", 60.0, 0.5), ("val:acc", 0.0, 0.8)]
