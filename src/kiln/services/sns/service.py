"""SNS use-cases: topics, subscriptions, Publish. Every published message is kept in the store
(`messages()`), and http/https subscribers get it delivered (`delivery.py`).

Kiln-only simplifications: http/https subscriptions are confirmed at once (no
SubscriptionConfirmation round trip); other protocols (email, sqs, lambda, sms, ...) are refused,
since Kiln cannot deliver to them.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from kiln.core import arns
from kiln.core.errors import InvalidInput, NotFound
from kiln.core.scope import Scope
from kiln.services.sns.delivery import HttpDelivery
from kiln.services.sns.store import Message, SnsStore, Subscription, Topic

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")
MAX_MESSAGE = 256 * 1024
DELIVERED = ("http", "https")


def topic_arn(scope: Scope, name: str) -> str:
    return arns.arn(scope, "sns", name)


def _topic_missing() -> NotFound:
    return NotFound("Topic", "", "Topic does not exist")


class SnsService:
    def __init__(self, store: SnsStore, delivery: HttpDelivery | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.delivery = delivery
        self.clock = clock

    # -- topics ---------------------------------------------------------------------------------------
    def create_topic(self, scope: Scope, name: str, attributes: dict[str, str] | None = None) -> Topic:
        attributes = dict(attributes or {})
        fifo = str(attributes.get("FifoTopic", "false")).lower() == "true"
        if not (_FIFO_NAME if fifo else _NAME).match(name):
            raise InvalidInput("Invalid parameter: Topic Name")
        existing = self.store.get_topic(topic_arn(scope, name))
        if existing is not None and attributes and any(existing.attributes.get(k) != v for k, v in attributes.items()):
            raise InvalidInput("Invalid parameter: Attributes Reason: Topic already exists with different "
                               "attributes")
        return self.store.put_topic(Topic(topic_arn(scope, name), scope, name, attributes, self.clock()))

    def topic(self, scope: Scope, arn: str) -> Topic:
        t = self.store.get_topic(arn)
        if t is None or t.scope != scope:
            raise _topic_missing()
        return t

    def delete_topic(self, scope: Scope, arn: str) -> None:
        self.store.delete_topic(arn)  # deleting a topic that does not exist succeeds, as in SNS

    def attributes(self, scope: Scope, arn: str) -> dict[str, str]:
        t = self.topic(scope, arn)
        subs = self.store.subscriptions(scope, arn)
        return {**t.attributes, "TopicArn": t.arn, "Owner": scope.account_id,
                "DisplayName": t.attributes.get("DisplayName", ""), "SubscriptionsConfirmed": str(len(subs)),
                "SubscriptionsPending": "0", "SubscriptionsDeleted": "0",
                "Policy": t.attributes.get("Policy", json.dumps(_default_policy(t)))}

    # -- subscriptions --------------------------------------------------------------------------------
    def subscribe(self, scope: Scope, arn: str, protocol: str, endpoint: str | None,
                  attributes: dict[str, str] | None = None) -> Subscription:
        self.topic(scope, arn)
        protocol = protocol.lower()
        if protocol not in DELIVERED:
            raise InvalidInput(f"Invalid parameter: Protocol Reason: Kiln delivers to http and https endpoints "
                               f"only, not {protocol}")
        if not endpoint or not endpoint.lower().startswith(f"{protocol}://"):
            raise InvalidInput("Invalid parameter: Endpoint Reason: must be an URL that starts with "
                               f"{protocol}://")
        raw = str((attributes or {}).get("RawMessageDelivery", "false")).lower()
        if raw not in ("true", "false"):
            raise InvalidInput("Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value "
                               f"[{raw}]. Must be true or false.")
        sub = Subscription(f"{arn}:{uuid.uuid4()}", arn, scope, protocol, endpoint, dict(attributes or {}),
                           self.clock())
        return self.store.put_subscription(sub)

    def subscription(self, scope: Scope, arn: str) -> Subscription:
        sub = self.store.get_subscription(arn)
        if sub is None or sub.scope != scope:
            raise NotFound("Subscription", arn, "Subscription does not exist")
        return sub

    def unsubscribe(self, scope: Scope, arn: str) -> None:
        self.subscription(scope, arn)
        self.store.delete_subscription(arn)

    def subscription_attributes(self, scope: Scope, arn: str) -> dict[str, str]:
        sub = self.subscription(scope, arn)
        return {**sub.attributes, "SubscriptionArn": sub.arn, "TopicArn": sub.topic_arn, "Owner": scope.account_id,
                "Protocol": sub.protocol, "Endpoint": sub.endpoint, "ConfirmationWasAuthenticated": "false",
                "PendingConfirmation": "false", "RawMessageDelivery": sub.attributes.get("RawMessageDelivery", "false")}

    # -- publish --------------------------------------------------------------------------------------
    def publish(self, scope: Scope, arn: str, message: str, *, subject: str | None = None,
                structure: str | None = None, attributes: dict[str, Any] | None = None,
                message_id: str | None = None) -> Message:
        """Publish (keep, then deliver). `message_id` (Kiln-internal callers) makes the call idempotent:
        a message already published under that id is returned, not published again."""
        self.topic(scope, arn)
        if message_id is not None:
            existing = self.store.get_message(message_id)
            if existing is not None:
                return existing
        if not message:
            raise InvalidInput("Invalid parameter: Empty message")
        if len(message.encode()) > MAX_MESSAGE:
            raise InvalidInput("Invalid parameter: Message too long")
        if subject is not None and (not subject or len(subject) > 100):
            raise InvalidInput("Invalid parameter: Subject")
        if structure is not None:
            if structure != "json":
                raise InvalidInput("Invalid parameter: MessageStructure")
            try:
                doc = json.loads(message)
            except ValueError:
                raise InvalidInput("Invalid parameter: Message Structure - JSON message body failed to "
                                   "parse") from None
            if not isinstance(doc, dict) or "default" not in doc:
                raise InvalidInput("Invalid parameter: Message Structure - No default entry in JSON message body")
        m = Message(message_id or str(uuid.uuid4()), arn, message, subject, structure, dict(attributes or {}),
                    self.clock())
        subs = self.store.subscriptions(scope, arn)
        if not self.store.add_message(m):
            return self.store.get_message(m.id) or m
        if self.delivery is not None:
            self.delivery.deliver(m, subs)
        return m

    def messages(self, topic_arn: str, after: int = 0) -> list[Message]:
        """Every message published to the topic, oldest first (Kiln-only: SNS keeps none)."""
        return self.store.messages(topic_arn, after)


def _default_policy(t: Topic) -> dict[str, Any]:
    return {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
        "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:GetTopicAttributes", "SNS:DeleteTopic"],
        "Resource": t.arn, "Condition": {"StringEquals": {"AWS:SourceOwner": t.scope.account_id}}}]}
