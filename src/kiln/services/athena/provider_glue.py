"""Glue Data Catalog (`glue`, JSON 1.1): the database and table calls Athena users and the SDK make."""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.errors import AwsError, InternalFailure, error
from kiln.aws.pagination import page
from kiln.core.errors import AlreadyExists, DomainError, InvalidInput, InvalidState, NotFound
from kiln.services.athena import wire
from kiln.services.athena.catalog import Catalog
from kiln.services.athena.models import CatalogDatabase

EntityNotFoundException = error("EntityNotFoundException")
AlreadyExistsException = error("AlreadyExistsException")
InvalidInputException = error("InvalidInputException")


class GlueProvider(Provider):
    service = "glue"

    def __init__(self, catalog: Catalog, account_id: str) -> None:
        self.catalog = catalog
        self.account_id = account_id

    def domain_errors(self, err: DomainError) -> AwsError:
        match err:
            case NotFound():
                return EntityNotFoundException(err.message)
            case AlreadyExists():
                return AlreadyExistsException(err.message)
            case InvalidInput() | InvalidState():
                return InvalidInputException(err.message)
        return InternalFailure("An internal error occurred.")

    def _catalog_id(self, ctx: RequestContext, request: dict[str, Any]) -> str:
        return str(request.get("CatalogId") or ctx.scope.account_id)

    @operation("GetDatabase")
    def get_database(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        db = self.catalog.get_database(ctx.scope, request["Name"])
        return {"Database": wire.database(db, self._catalog_id(ctx, request))}

    @operation("GetDatabases")
    def get_databases(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        items, token = page(self.catalog.databases(ctx.scope), request.get("NextToken"), request.get("MaxResults"),
                            default=100)
        out: dict[str, Any] = {"DatabaseList": [wire.database(d, self._catalog_id(ctx, request)) for d in items]}
        if token:
            out["NextToken"] = token
        return out

    @operation("CreateDatabase")
    def create_database(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        d = request["DatabaseInput"]
        self.catalog.create_database(ctx.scope, CatalogDatabase(d["Name"], d.get("Description"), d.get("LocationUri"),
                                                                dict(d.get("Parameters") or {})))
        return {}

    @operation("GetTable")
    def get_table(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        t = self.catalog.get_table(ctx.scope, request["DatabaseName"], request["Name"])
        return {"Table": wire.table(t, self._catalog_id(ctx, request))}

    @operation("GetTables")
    def get_tables(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        tables = self.catalog.tables(ctx.scope, request["DatabaseName"], request.get("Expression"))
        items, token = page(tables, request.get("NextToken"), request.get("MaxResults"), default=100)
        out: dict[str, Any] = {"TableList": [wire.table(t, self._catalog_id(ctx, request)) for t in items]}
        if token:
            out["NextToken"] = token
        return out

    @operation("CreateTable")
    def create_table(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.catalog.put_table(ctx.scope, wire.table_in(request["DatabaseName"], request["TableInput"]), replace=False)
        return {}

    @operation("DeleteTable")
    def delete_table(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.catalog.delete_table(ctx.scope, request["DatabaseName"], request["Name"])
        return {}
