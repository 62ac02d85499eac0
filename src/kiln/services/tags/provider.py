"""AddTags / ListTags / DeleteTags for every SageMaker resource."""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.pagination import page
from kiln.services.tags.store import TagStore


class TagsProvider(Provider):
    service = "sagemaker"

    def __init__(self, store: TagStore) -> None:
        self.store = store

    @operation("AddTags")
    def add_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.store.add(request["ResourceArn"], request["Tags"])
        return {"Tags": self.store.list(request["ResourceArn"])}

    @operation("ListTags")
    def list_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        items, token = page(self.store.list(request["ResourceArn"]), request.get("NextToken"),
                            request.get("MaxResults"), default=50)
        return {"Tags": items, "NextToken": token}

    @operation("DeleteTags")
    def delete_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.store.delete(request["ResourceArn"], request["TagKeys"])
        return {}
