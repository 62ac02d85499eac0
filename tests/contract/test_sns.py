"""SNS with boto3 against a live server: topics, http subscriptions that really receive messages,
Publish (kept and readable), errors as SNS answers them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sns_subscriber import Subscriber


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    s = Subscriber()
    yield s
    s.close()


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_topics_create_list_delete(aws_client: Any, unique_name: str) -> None:
    sns = aws_client("sns")
    arn = sns.create_topic(Name=unique_name)["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:123456789012:{unique_name}"
    assert sns.create_topic(Name=unique_name)["TopicArn"] == arn  # idempotent
    topics = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
    assert arn in topics
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["TopicArn"] == arn and attrs["Owner"] == "123456789012" and attrs["SubscriptionsConfirmed"] == "0"
    sns.delete_topic(TopicArn=arn)
    assert arn not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    with pytest.raises(ClientError) as missing:
        sns.get_topic_attributes(TopicArn=arn)
    assert _code(missing) == ("NotFound", "Topic does not exist", 404)


def test_invalid_names_and_parameters(aws_client: Any, unique_name: str) -> None:
    sns = aws_client("sns")
    with pytest.raises(ClientError) as bad:
        sns.create_topic(Name="has space")
    assert _code(bad) == ("InvalidParameter", "Invalid parameter: Topic Name", 400)
    arn = sns.create_topic(Name=unique_name)["TopicArn"]
    with pytest.raises(ClientError) as empty:
        sns.publish(TopicArn=arn, Message="")
    assert _code(empty)[:2] == ("InvalidParameter", "Invalid parameter: Empty message")
    with pytest.raises(ClientError) as proto:
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="a@example.com")
    assert _code(proto)[0] == "InvalidParameter" and "Protocol" in _code(proto)[1]
    with pytest.raises(ClientError) as structure:
        sns.publish(TopicArn=arn, Message=json.dumps({"http": "x"}), MessageStructure="json")
    assert "No default entry" in _code(structure)[1]
    with pytest.raises(ClientError) as nowhere:
        sns.publish(TopicArn=arn + "-missing", Message="hi")
    assert _code(nowhere)[0] == "NotFound"
    sns.delete_topic(TopicArn=arn)


def test_unimplemented_operation_answers_not_implemented(aws_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        aws_client("sns").list_platform_applications()
    code, message, status = _code(exc)
    assert (code, status) == ("NotImplemented", 501) and "ListPlatformApplications" in message


def test_http_subscription_receives_published_messages(aws_client: Any, kiln_server: Any, unique_name: str,
                                                       subscriber: Subscriber) -> None:
    sns = aws_client("sns")
    arn = sns.create_topic(Name=unique_name)["TopicArn"]
    sub = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=subscriber.url,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    raw = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=subscriber.url + "?raw",
                        Attributes={"RawMessageDelivery": "true"})["SubscriptionArn"]
    assert sub.startswith(arn + ":")
    listed = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert {s["SubscriptionArn"] for s in listed} == {sub, raw}
    assert {s["Endpoint"] for s in listed} == {subscriber.url, subscriber.url + "?raw"}
    assert sub in {s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]}
    assert sns.get_subscription_attributes(SubscriptionArn=raw)["Attributes"]["RawMessageDelivery"] == "true"

    message_id = sns.publish(TopicArn=arn, Message="hello", Subject="greeting",
                             MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})["MessageId"]
    got = subscriber.wait_for(lambda m: m.get("MessageId") == message_id)[0]
    assert got["Type"] == "Notification" and got["TopicArn"] == arn and got["Message"] == "hello"
    assert got["Subject"] == "greeting" and got["MessageAttributes"]["kind"] == {"Type": "String", "Value": "test"}
    deadline = time.monotonic() + 60  # the raw subscriber is served after the envelope one, in the same batch
    while not kiln_server.platform.sns.service.messages(arn)[0].deliveries and time.monotonic() < deadline:
        time.sleep(0.1)
    deliveries = kiln_server.platform.sns.service.messages(arn)[0].deliveries
    assert sorted((d["SubscriptionArn"], d["Status"]) for d in deliveries) == sorted([(sub, "Delivered"),
                                                                                     (raw, "Delivered")])
    raw_bodies = [r["body"] for r in subscriber.received if r["headers"].get("x-amz-sns-rawdelivery") == "true"]
    assert raw_bodies == ["hello"]
    headers = next(r["headers"] for r in subscriber.received if "x-amz-sns-rawdelivery" not in r["headers"])
    assert headers["x-amz-sns-message-type"] == "Notification" and headers["x-amz-sns-subscription-arn"] == sub

    kept = kiln_server.platform.sns.service.messages(arn)  # Kiln keeps every message
    assert [(m.id, m.message, m.subject) for m in kept] == [(message_id, "hello", "greeting")]
    sns.unsubscribe(SubscriptionArn=sub)
    sns.unsubscribe(SubscriptionArn=raw)
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []
    sns.delete_topic(TopicArn=arn)
