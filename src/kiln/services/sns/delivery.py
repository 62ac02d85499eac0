"""Delivery of published messages to http/https subscribers, on a few background threads.

The request is SNS's: `POST` with `x-amz-sns-message-type: Notification`, the message id, topic and
subscription ARNs as headers, and the JSON envelope as the body (`RawMessageDelivery=true`: the
message itself). Kiln does not sign envelopes (`Signature` is empty; a subscriber that verifies
signatures must be told so). A failed delivery (no answer, or a status outside 2xx) is retried
after 1 s and 5 s, then recorded as failed; deliveries are not resumed after a server restart.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx

from kiln.services.sns.store import Message, Subscription

LOG = logging.getLogger(__name__)
RETRY_DELAYS = (1.0, 5.0)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def envelope(m: Message, sub: Subscription, endpoint_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": "Notification", "MessageId": m.id, "TopicArn": m.topic_arn}
    if m.subject is not None:
        out["Subject"] = m.subject
    out.update({"Message": m.body(sub.protocol), "Timestamp": iso(m.published_at), "SignatureVersion": "1",
                "Signature": "", "SigningCertURL": "",
                "UnsubscribeURL": f"{endpoint_url}/?Action=Unsubscribe&SubscriptionArn={sub.arn}"})
    if m.attributes:
        out["MessageAttributes"] = {k: {"Type": v.get("DataType", "String"),
                                        "Value": v.get("StringValue", v.get("BinaryValue", ""))}
                                    for k, v in m.attributes.items()}
    return out


class HttpDelivery:
    def __init__(self, endpoint_url: str, record: Callable[[str, list[dict[str, Any]]], None],
                 workers: int = 4, timeout: float = 15.0) -> None:
        self.endpoint_url = endpoint_url
        self.record = record  # (message id, deliveries) -> persisted
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kiln-sns")
        self._closed = False

    def deliver(self, m: Message, subs: list[Subscription]) -> None:
        targets = [s for s in subs if s.protocol in ("http", "https")]
        if targets and not self._closed:
            self._pool.submit(self._run, m, targets)

    def _run(self, m: Message, subs: list[Subscription]) -> None:
        results = []
        with httpx.Client(timeout=self.timeout) as client:
            for sub in subs:
                results.append(self._one(client, m, sub))
        try:
            self.record(m.id, results)
        except Exception:
            LOG.exception("recording SNS deliveries of %s failed", m.id)

    def _one(self, client: httpx.Client, m: Message, sub: Subscription) -> dict[str, Any]:
        raw = str(sub.attributes.get("RawMessageDelivery", "false")).lower() == "true"
        body = m.body(sub.protocol) if raw else json.dumps(envelope(m, sub, self.endpoint_url))
        headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": m.id,
                   "x-amz-sns-topic-arn": m.topic_arn, "x-amz-sns-subscription-arn": sub.arn,
                   "Content-Type": "text/plain; charset=UTF-8",
                   "User-Agent": "Amazon Simple Notification Service Agent"}
        if raw:
            headers["x-amz-sns-rawdelivery"] = "true"
        error = ""
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
            if self._closed:
                break
            time.sleep(delay)
            try:
                status = client.post(sub.endpoint, content=body.encode(), headers=headers).status_code
                if 200 <= status < 300:
                    return {"SubscriptionArn": sub.arn, "Status": "Delivered", "Attempts": attempt}
                error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        LOG.warning("SNS delivery of %s to %s failed: %s", m.id, sub.endpoint, error)
        return {"SubscriptionArn": sub.arn, "Status": "Failed", "Attempts": attempt, "Error": error}

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
