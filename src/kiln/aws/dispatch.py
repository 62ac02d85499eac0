"""Operation handlers: `@operation` marks a provider method, `DispatchTable` collects them.

A handler has the signature `(self, ctx: RequestContext, request: dict) -> dict | None`, where the
request is the validated dict keyed by the model's member names. It may be `async def` (the data
path: streaming bodies, model invocation); plain methods run in a worker thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from kiln.aws.errors import AwsError, InternalFailure, ResourceInUse, ResourceNotFound, ValidationException
from kiln.aws.specs import service_model
from kiln.core import errors as domain

F = TypeVar("F", bound=Callable[..., Any])


def operation(name: str) -> Callable[[F], F]:
    """Mark a provider method as the handler for AWS operation `name` (checked against the model)."""

    def mark(fn: F) -> F:
        fn.__aws_operation__ = name  # type: ignore[attr-defined]
        return fn

    return mark


def default_domain_errors(err: domain.DomainError) -> AwsError:
    match err:
        case domain.NotFound():
            return ResourceNotFound(err.message)
        case domain.AlreadyExists():
            return ResourceInUse(err.message)
        case domain.InvalidState() | domain.InvalidInput():
            return ValidationException(err.message)
        case domain.LimitExceeded():
            from kiln.aws.errors import ResourceLimitExceeded

            return ResourceLimitExceeded(err.message)
    return InternalFailure("An internal error occurred.")


class Provider:
    """Base for a service area's operations. `service` is the botocore service name."""

    service: ClassVar[str]

    def domain_errors(self, err: domain.DomainError) -> AwsError:
        """Map a domain error to this service's AWS error (override per service)."""
        return default_domain_errors(err)


@dataclass(frozen=True, slots=True)
class Handler:
    service: str
    operation: str
    fn: Callable[..., Any]
    provider: Provider
    is_async: bool


class DispatchTable:
    """(service, operation) -> handler. Fails at start-up on a name the model lacks or a double claim."""

    def __init__(self, providers: Iterable[Provider]) -> None:
        self._handlers: dict[tuple[str, str], Handler] = {}
        for provider in providers:
            model = service_model(provider.service)
            for attr in dir(type(provider)):
                fn = getattr(type(provider), attr, None)
                name = getattr(fn, "__aws_operation__", None)
                if name is None:
                    continue
                if name not in model.operation_names:
                    raise ValueError(f"{type(provider).__name__}.{attr}: {name} is not an operation of "
                                     f"{provider.service}")
                key = (provider.service, name)
                if key in self._handlers:
                    raise ValueError(f"{provider.service}:{name} is claimed twice")
                bound = getattr(provider, attr)
                self._handlers[key] = Handler(provider.service, name, bound, provider,
                                              inspect.iscoroutinefunction(bound))

    def get(self, service: str, operation_name: str) -> Handler | None:
        return self._handlers.get((service, operation_name))

    def implemented(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for service, name in sorted(self._handlers):
            out.setdefault(service, []).append(name)
        return out
