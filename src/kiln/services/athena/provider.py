"""Athena (`athena`, JSON 1.1): start, follow, page through and stop query executions."""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.errors import AwsError, InternalFailure, error
from kiln.aws.pagination import decode_token, encode_token
from kiln.core.errors import DomainError, InvalidInput, InvalidState, NotFound
from kiln.services.athena import results, wire
from kiln.services.athena.models import QueryState
from kiln.services.athena.service import QueryService

InvalidRequestException = error("InvalidRequestException")
LONG_POLL_SECONDS = 1.0  # GetQueryExecution waits this long for a running query (Kiln: fewer SDK sleeps)


def _invalid(message: str, code: str = "INVALID_INPUT") -> AwsError:
    return InvalidRequestException(message, fields={"AthenaErrorCode": code})


class AthenaProvider(Provider):
    service = "athena"

    def __init__(self, queries: QueryService) -> None:
        self.queries = queries

    def domain_errors(self, err: DomainError) -> AwsError:
        match err:
            case NotFound():
                return _invalid(err.message, "INVALID_INPUT")
            case InvalidInput() | InvalidState():
                return _invalid(err.message)
        return InternalFailure("An internal error occurred.")

    @operation("StartQueryExecution")
    def start_query_execution(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        context = request.get("QueryExecutionContext") or {}
        result = request.get("ResultConfiguration") or {}
        kms = (result.get("EncryptionConfiguration") or {}).get("KmsKey")
        q = self.queries.start(ctx.scope, request["QueryString"], context.get("Catalog", "AwsDataCatalog"),
                               context.get("Database", "default"), result.get("OutputLocation"),
                               request.get("WorkGroup", "primary"), kms)
        return {"QueryExecutionId": q.id}

    @operation("GetQueryExecution")
    def get_query_execution(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        q = self.queries.wait(ctx.scope, request["QueryExecutionId"], LONG_POLL_SECONDS)
        return {"QueryExecution": wire.query_execution(q)}

    @operation("BatchGetQueryExecution")
    def batch_get_query_execution(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        found, missing = [], []
        for qid in request["QueryExecutionIds"]:
            try:
                found.append(wire.query_execution(self.queries.get(ctx.scope, qid)))
            except NotFound as exc:
                missing.append({"QueryExecutionId": qid, "ErrorCode": "INVALID_INPUT", "ErrorMessage": exc.message})
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    @operation("ListQueryExecutions")
    def list_query_executions(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ids = self.queries.list_ids(ctx.scope, request.get("WorkGroup"))
        start = int(decode_token(request["NextToken"])["o"]) if request.get("NextToken") else 0
        size = request.get("MaxResults", 50)
        out: dict[str, Any] = {"QueryExecutionIds": ids[start:start + size]}
        if start + size < len(ids):
            out["NextToken"] = encode_token({"o": start + size})
        return out

    @operation("StopQueryExecution")
    def stop_query_execution(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.queries.stop(ctx.scope, request["QueryExecutionId"])
        return {}

    @operation("GetQueryResults")
    def get_query_results(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        q = self.queries.get(ctx.scope, request["QueryExecutionId"])
        if q.state is not QueryState.SUCCEEDED:
            raise _invalid(f"Query has not yet finished. Current state: {q.state.value}")  # unverified wording
        limit = request.get("MaxResults", 1000)
        offset = int(decode_token(request["NextToken"])["o"]) if request.get("NextToken") else 0
        rows: list[dict[str, Any]] = []
        data_offset, want = offset, limit
        if offset == 0 and q.columns:
            rows.append(wire.row([name for name, _ in q.columns]))  # Athena's first row: the column names
            want -= 1
        else:
            data_offset = offset - 1
        if q.rows:
            rows += [wire.row(r) for r in self.queries.rows(q, max(data_offset, 0), max(want, 0))]
        consumed = offset + len(rows)
        total = (q.rows or 0) + (1 if q.columns else 0)
        out: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {"Rows": rows, "ResultSetMetadata": {
                "ColumnInfo": [results.column_info(n, t) for n, t in q.columns]}},
        }
        if consumed < total:
            out["NextToken"] = encode_token({"o": consumed})
        return out
