"""SNS operations (query protocol). Translation only; the logic lives in SnsService. Operations not
listed here answer `NotImplemented` (501) naming the operation."""

from __future__ import annotations

from typing import Any

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.pagination import page
from kiln.core import errors as domain
from kiln.services.sns.service import SnsService
from kiln.services.sns.store import Subscription

InvalidParameter = errors.error("InvalidParameter")
NotFoundError = errors.error("NotFound", 404)
InternalError = errors.error("InternalError", 500, sender_fault=False)
PAGE = 100


def _sub(s: Subscription) -> dict[str, Any]:
    return {"SubscriptionArn": s.arn, "Owner": s.scope.account_id, "Protocol": s.protocol, "Endpoint": s.endpoint,
            "TopicArn": s.topic_arn}


class SnsProvider(Provider):
    service = "sns"

    def __init__(self, sns: SnsService) -> None:
        self.sns = sns

    def domain_errors(self, err: domain.DomainError) -> errors.AwsError:
        match err:
            case domain.NotFound():
                return NotFoundError(err.message)
            case domain.InvalidInput() | domain.InvalidState() | domain.AlreadyExists():
                return InvalidParameter(err.message)
        return InternalError("An internal error occurred.")

    @operation("CreateTopic")
    def create_topic(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return {"TopicArn": self.sns.create_topic(ctx.scope, request["Name"], request.get("Attributes")).arn}

    @operation("ListTopics")
    def list_topics(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        chunk, token = page(self.sns.store.topics(ctx.scope), request.get("NextToken"), PAGE)
        return {"Topics": [{"TopicArn": t.arn} for t in chunk], "NextToken": token}

    @operation("DeleteTopic")
    def delete_topic(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.sns.delete_topic(ctx.scope, request["TopicArn"])
        return {}

    @operation("GetTopicAttributes")
    def get_topic_attributes(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": self.sns.attributes(ctx.scope, request["TopicArn"])}

    @operation("Subscribe")
    def subscribe(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        sub = self.sns.subscribe(ctx.scope, request["TopicArn"], request["Protocol"], request.get("Endpoint"),
                                 request.get("Attributes"))
        return {"SubscriptionArn": sub.arn}

    @operation("Unsubscribe")
    def unsubscribe(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.sns.unsubscribe(ctx.scope, request["SubscriptionArn"])
        return {}

    @operation("GetSubscriptionAttributes")
    def get_subscription_attributes(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": self.sns.subscription_attributes(ctx.scope, request["SubscriptionArn"])}

    @operation("ListSubscriptions")
    def list_subscriptions(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        chunk, token = page(self.sns.store.subscriptions(ctx.scope), request.get("NextToken"), PAGE)
        return {"Subscriptions": [_sub(s) for s in chunk], "NextToken": token}

    @operation("ListSubscriptionsByTopic")
    def list_subscriptions_by_topic(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.sns.topic(ctx.scope, request["TopicArn"])
        chunk, token = page(self.sns.store.subscriptions(ctx.scope, request["TopicArn"]), request.get("NextToken"),
                            PAGE)
        return {"Subscriptions": [_sub(s) for s in chunk], "NextToken": token}

    @operation("Publish")
    def publish(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("PhoneNumber"):
            raise InvalidParameter("Invalid parameter: PhoneNumber Reason: Kiln does not send SMS")
        arn = request.get("TopicArn") or request.get("TargetArn")
        if not arn:
            raise InvalidParameter("Invalid parameter: TopicArn or TargetArn Reason: no value for required "
                                   "parameter")
        m = self.sns.publish(ctx.scope, arn, request["Message"], subject=request.get("Subject"),
                             structure=request.get("MessageStructure"), attributes=request.get("MessageAttributes"))
        return {"MessageId": m.id}
