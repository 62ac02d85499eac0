"""SageMaker feature-group operations (control plane). Translation only; logic lives in FeatureGroupService."""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.errors import AwsError
from kiln.aws.pagination import page
from kiln.core.errors import DomainError
from kiln.services.featurestore import wire
from kiln.services.featurestore.errors import control_plane_error
from kiln.services.featurestore.models import FeatureGroup
from kiln.services.featurestore.service import FeatureGroupService
from kiln.services.tags.store import TagStore

_SORT_KEYS = {
    "Name": lambda g: g.name,
    "CreationTime": lambda g: g.created_at,
    "FeatureGroupStatus": lambda g: g.status.value,
    "OfflineStoreStatus": lambda g: "Active" if g.offline is not None else "",
}


class FeatureGroupProvider(Provider):
    service = "sagemaker"

    def __init__(self, groups: FeatureGroupService, tags: TagStore) -> None:
        self.groups = groups
        self.tags = tags

    def domain_errors(self, err: DomainError) -> AwsError:
        return control_plane_error(err)

    @operation("CreateFeatureGroup")
    def create_feature_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.create(ctx.scope, wire.spec(request))
        if request.get("Tags"):
            self.tags.add(group.arn, request["Tags"])
        return {"FeatureGroupArn": group.arn}

    @operation("DescribeFeatureGroup")
    def describe_feature_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return wire.describe(self.groups.get(ctx.scope, request["FeatureGroupName"]))

    @operation("ListFeatureGroups")
    def list_feature_groups(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        r = request
        groups: list[FeatureGroup] = self.groups.list(ctx.scope)
        if "NameContains" in r:
            groups = [g for g in groups if r["NameContains"].lower() in g.name.lower()]
        if "FeatureGroupStatusEquals" in r:
            groups = [g for g in groups if g.status.value == r["FeatureGroupStatusEquals"]]
        if "OfflineStoreStatusEquals" in r:
            groups = [g for g in groups if (wire.summary(g).get("OfflineStoreStatus") or {}).get("Status")
                      == r["OfflineStoreStatusEquals"]]
        if "CreationTimeAfter" in r:
            groups = [g for g in groups if g.created_at > r["CreationTimeAfter"].timestamp()]
        if "CreationTimeBefore" in r:
            groups = [g for g in groups if g.created_at < r["CreationTimeBefore"].timestamp()]
        groups.sort(key=_SORT_KEYS[r.get("SortBy", "CreationTime")],
                    reverse=r.get("SortOrder", "Descending") == "Descending")
        items, token = page(groups, r.get("NextToken"), r.get("MaxResults"))
        out: dict[str, Any] = {"FeatureGroupSummaries": [wire.summary(g) for g in items]}
        if token:
            out["NextToken"] = token
        return out

    @operation("UpdateFeatureGroup")
    def update_feature_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        online = request.get("OnlineStoreConfig")
        group = self.groups.update(
            ctx.scope, request["FeatureGroupName"], [wire.feature_in(f) for f in request.get("FeatureAdditions", [])],
            wire.online_in({"EnableOnlineStore": True, **online}) if online else None, request.get("ThroughputConfig"))
        return {"FeatureGroupArn": group.arn}

    @operation("DeleteFeatureGroup")
    def delete_feature_group(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self.groups.delete(ctx.scope, request["FeatureGroupName"])

    @operation("DescribeFeatureMetadata")
    def describe_feature_metadata(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return wire.metadata_out(*self.groups.describe_metadata(ctx.scope, request["FeatureGroupName"],
                                                                 request["FeatureName"]))

    @operation("UpdateFeatureMetadata")
    def update_feature_metadata(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self.groups.update_metadata(
            ctx.scope, request["FeatureGroupName"], request["FeatureName"], request.get("Description"),
            {p["Key"]: p.get("Value", "") for p in request.get("ParameterAdditions", []) if "Key" in p},
            list(request.get("ParameterRemovals", [])))
