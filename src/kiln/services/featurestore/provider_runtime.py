"""`sagemaker-featurestore-runtime` operations. Translation only; the semantics live in RecordService.

GetRecord is the hot read path: it runs on the event loop (no thread hop); the online store's read is
a single indexed lookup.
"""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.errors import AwsError
from kiln.core.errors import DomainError
from kiln.services.featurestore import wire
from kiln.services.featurestore.errors import runtime_error
from kiln.services.featurestore.records import RecordService


class FeatureStoreRuntimeProvider(Provider):
    service = "sagemaker-featurestore-runtime"

    def __init__(self, records: RecordService) -> None:
        self.records = records

    def domain_errors(self, err: DomainError) -> AwsError:
        return runtime_error(err)

    @operation("PutRecord")
    def put_record(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self.records.put(ctx.scope, wire.write_request(request["FeatureGroupName"], request))

    @operation("GetRecord")
    async def get_record(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        found = self.records.get(ctx.scope, request["FeatureGroupName"], request["RecordIdentifierValueAsString"],
                                 request.get("FeatureNames"))
        if found is None:
            return {}
        out: dict[str, Any] = {"Record": wire.record_out(found.values)}
        if request.get("ExpirationTimeResponse") == "Enabled" and found.expires_at is not None:
            out["ExpiresAt"] = wire.expires_at(found.expires_at)
        return out

    @operation("BatchGetRecord")
    def batch_get_record(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        records: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        expiry = request.get("ExpirationTimeResponse") == "Enabled"
        for ident in request["Identifiers"]:
            name, ids = ident["FeatureGroupName"], ident["RecordIdentifiersValueAsString"]
            try:
                group, found = self.records.get_many(ctx.scope, name, ids, ident.get("FeatureNames"))
            except DomainError as exc:
                err = runtime_error(exc)
                errors += [{"FeatureGroupName": name, "RecordIdentifierValueAsString": rid, "ErrorCode": err.code,
                            "ErrorMessage": err.message} for rid in ids]
                continue
            for rid in ids:
                rec = found.get(rid)
                if rec is None:
                    continue
                detail: dict[str, Any] = {"FeatureGroupName": group.name, "RecordIdentifierValueAsString": rid,
                                          "Record": wire.record_out(rec.values)}
                if expiry and rec.expires_at is not None:
                    detail["ExpiresAt"] = wire.expires_at(rec.expires_at)
                records.append(detail)
        return {"Records": records, "Errors": errors, "UnprocessedIdentifiers": []}

    @operation("DeleteRecord")
    def delete_record(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self.records.delete(ctx.scope, request["FeatureGroupName"], request["RecordIdentifierValueAsString"],
                            request["EventTime"], request.get("TargetStores"),
                            request.get("DeletionMode", "SoftDelete") == "HardDelete")

    @operation("BatchWriteRecord")
    def batch_write_record(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        entries = request["Entries"]
        default_ttl = request.get("TtlDuration")
        writes = [wire.write_request(e["FeatureGroupName"], {**e, "TtlDuration": e.get("TtlDuration") or default_ttl})
                  for e in entries]
        results = self.records.put_many(ctx.scope, writes)
        errors = []
        for entry, exc in zip(entries, results, strict=True):
            if exc is None:
                continue
            err = runtime_error(exc)
            errors.append({"Entry": entry, "ErrorCode": err.code, "ErrorMessage": err.message})
        return {"Errors": errors, "UnprocessedEntries": []}

    @operation("ListRecords")
    def list_records(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ids, token = self.records.list_ids(ctx.scope, request["FeatureGroupName"], request.get("NextToken"),
                                           request.get("MaxResults", 100),
                                           bool(request.get("IncludeSoftDeletedRecords", False)))
        out: dict[str, Any] = {"RecordIdentifiers": ids}
        if token:
            out["NextToken"] = token
        return out
