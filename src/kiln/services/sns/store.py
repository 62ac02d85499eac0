"""SNS state: topics, subscriptions and every published message (kept, so users and tests can read
what was sent; deliveries to subscribers are recorded beside them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from kiln.core.scope import Scope
from kiln.core.state.db import METADATA, Database, Migration, create_tables

topics = sa.Table(
    "sns_topics", METADATA,
    sa.Column("arn", sa.String(300), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_sns_topics_scope", "account_id", "region", "name"),
)

subscriptions = sa.Table(
    "sns_subscriptions", METADATA,
    sa.Column("arn", sa.String(400), primary_key=True),
    sa.Column("topic_arn", sa.String(300), nullable=False),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("protocol", sa.String(32), nullable=False),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_sns_subscriptions_topic", "topic_arn"),
)

messages = sa.Table(
    "sns_messages", METADATA,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("topic_arn", sa.String(300), nullable=False),
    sa.Column("subject", sa.Text),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("structure", sa.String(16)),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("published_at", sa.Float, nullable=False),
    sa.Column("deliveries", sa.JSON, nullable=False),  # [{subscription, status, attempts, error}]
    sa.Index("ix_sns_messages_topic", "topic_arn", "seq"),
)

MIGRATIONS = [Migration("sns-0001-topics-subscriptions-messages", create_tables(topics, subscriptions, messages))]


@dataclass(slots=True)
class Topic:
    arn: str
    scope: Scope
    name: str
    attributes: dict[str, str]
    created_at: float


@dataclass(slots=True)
class Subscription:
    arn: str
    topic_arn: str
    scope: Scope
    protocol: str
    endpoint: str
    attributes: dict[str, str]
    created_at: float


@dataclass(slots=True)
class Message:
    id: str
    topic_arn: str
    message: str
    subject: str | None
    structure: str | None
    attributes: dict[str, Any]
    published_at: float
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def body(self, protocol: str) -> str:
        """The text a subscriber of `protocol` receives (MessageStructure=json picks per protocol)."""
        if self.structure != "json":
            return self.message
        doc = json.loads(self.message)
        return str(doc.get(protocol, doc["default"]))


def _topic(r: Any) -> Topic:
    return Topic(r.arn, Scope(r.account_id, r.region), r.name, dict(r.attributes), r.created_at)


def _sub(r: Any) -> Subscription:
    return Subscription(r.arn, r.topic_arn, Scope(r.account_id, r.region), r.protocol, r.endpoint,
                        dict(r.attributes), r.created_at)


def _msg(r: Any) -> Message:
    return Message(r.id, r.topic_arn, r.message, r.subject, r.structure, dict(r.attributes), r.published_at,
                   list(r.deliveries))


class SnsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # topics
    def put_topic(self, t: Topic) -> Topic:
        """Insert, or return the existing topic of that ARN (CreateTopic is idempotent)."""
        with self.db.tx() as conn:
            row = conn.execute(sa.select(topics).where(topics.c.arn == t.arn)).first()
            if row is not None:
                return _topic(row)
            conn.execute(topics.insert().values(arn=t.arn, account_id=t.scope.account_id, region=t.scope.region,
                                                name=t.name, attributes=t.attributes, created_at=t.created_at))
        return t

    def get_topic(self, arn: str) -> Topic | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(topics).where(topics.c.arn == arn)).first()
        return _topic(row) if row else None

    def topics(self, scope: Scope) -> list[Topic]:
        q = sa.select(topics).where(topics.c.account_id == scope.account_id, topics.c.region == scope.region)
        with self.db.read() as conn:
            return [_topic(r) for r in conn.execute(q.order_by(topics.c.arn)).all()]

    def delete_topic(self, arn: str) -> None:
        with self.db.tx() as conn:
            conn.execute(subscriptions.delete().where(subscriptions.c.topic_arn == arn))
            conn.execute(topics.delete().where(topics.c.arn == arn))

    # subscriptions
    def put_subscription(self, s: Subscription) -> Subscription:
        """Insert, or return the existing subscription of the same topic, protocol and endpoint."""
        with self.db.tx() as conn:
            row = conn.execute(sa.select(subscriptions).where(
                subscriptions.c.topic_arn == s.topic_arn, subscriptions.c.protocol == s.protocol,
                subscriptions.c.endpoint == s.endpoint)).first()
            if row is not None:
                return _sub(row)
            conn.execute(subscriptions.insert().values(
                arn=s.arn, topic_arn=s.topic_arn, account_id=s.scope.account_id, region=s.scope.region,
                protocol=s.protocol, endpoint=s.endpoint, attributes=s.attributes, created_at=s.created_at))
        return s

    def get_subscription(self, arn: str) -> Subscription | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(subscriptions).where(subscriptions.c.arn == arn)).first()
        return _sub(row) if row else None

    def subscriptions(self, scope: Scope, topic_arn: str | None = None) -> list[Subscription]:
        q = sa.select(subscriptions).where(subscriptions.c.account_id == scope.account_id,
                                           subscriptions.c.region == scope.region)
        if topic_arn is not None:
            q = q.where(subscriptions.c.topic_arn == topic_arn)
        with self.db.read() as conn:
            return [_sub(r) for r in conn.execute(q.order_by(subscriptions.c.created_at,
                                                             subscriptions.c.arn)).all()]

    def delete_subscription(self, arn: str) -> bool:
        with self.db.tx() as conn:
            return bool(conn.execute(subscriptions.delete().where(subscriptions.c.arn == arn)).rowcount)

    # messages
    def add_message(self, m: Message) -> bool:
        """Keep a message; False when one with its id is kept already."""
        with self.db.tx() as conn:
            if conn.execute(sa.select(messages.c.seq).where(messages.c.id == m.id)).first() is not None:
                return False
            conn.execute(messages.insert().values(
                id=m.id, topic_arn=m.topic_arn, subject=m.subject, message=m.message, structure=m.structure,
                attributes=m.attributes, published_at=m.published_at, deliveries=m.deliveries))
        return True

    def get_message(self, message_id: str) -> Message | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(messages).where(messages.c.id == message_id)).first()
        return _msg(row) if row else None

    def set_deliveries(self, message_id: str, deliveries: list[dict[str, Any]]) -> None:
        with self.db.tx() as conn:
            conn.execute(messages.update().where(messages.c.id == message_id).values(deliveries=deliveries))

    def messages(self, topic_arn: str, after: int = 0) -> list[Message]:
        q = sa.select(messages).where(messages.c.topic_arn == topic_arn, messages.c.seq > after)
        with self.db.read() as conn:
            return [_msg(r) for r in conn.execute(q.order_by(messages.c.seq)).all()]
