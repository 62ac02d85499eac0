"""Domain errors. The API layer maps each to an AWS error code per service (services/*/errors.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Base for errors the API layer translates. Never raised for Kiln's own bugs."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    def __init__(self, kind: str, name: str, message: str | None = None) -> None:
        super().__init__(message or f"{kind} {name} does not exist.")
        self.kind = kind
        self.name = name


class AlreadyExists(DomainError):
    def __init__(self, kind: str, name: str, message: str | None = None) -> None:
        super().__init__(message or f"{kind} {name} already exists.")
        self.kind = kind
        self.name = name


class InvalidState(DomainError):
    """The resource is not in a state that allows the request."""


class InvalidInput(DomainError):
    """Input that passed the model's validation but breaks a rule of the domain."""


class LimitExceeded(DomainError):
    """A quota or size limit would be exceeded."""


class Conflict(DomainError):
    """Lost a compare-and-set race. Callers reload and decide again; never sent to clients as-is."""
