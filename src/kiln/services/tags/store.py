"""Tags on any SageMaker resource, keyed by ARN (AddTags / ListTags / DeleteTags)."""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import METADATA, Database, Migration, create_tables

tags = sa.Table(
    "tags",
    METADATA,
    sa.Column("arn", sa.String(256), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

MIGRATIONS = [Migration("tags-0001", create_tables(tags))]


class TagStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, arn: str, items: list[dict[str, str]]) -> None:
        with self.db.tx() as conn:
            for item in items:
                conn.execute(tags.delete().where(tags.c.arn == arn, tags.c.key == item["Key"]))
                conn.execute(tags.insert().values(arn=arn, key=item["Key"], value=item.get("Value", "")))

    def list(self, arn: str) -> list[dict[str, str]]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(tags.c.key, tags.c.value).where(tags.c.arn == arn)
                                .order_by(tags.c.key)).all()
        return [{"Key": k, "Value": v} for k, v in rows]

    def delete(self, arn: str, keys: list[str]) -> None:
        with self.db.tx() as conn:
            conn.execute(tags.delete().where(tags.c.arn == arn, tags.c.key.in_(keys)))
