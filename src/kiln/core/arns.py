"""Build ARNs in one place."""

from __future__ import annotations

from kiln.core.scope import Scope


def arn(scope: Scope, service: str, resource: str, *, region: bool = True) -> str:
    reg = scope.region if region else ""
    return f"arn:aws:{service}:{reg}:{scope.account_id}:{resource}"


def sagemaker(scope: Scope, kind: str, name: str) -> str:
    return arn(scope, "sagemaker", f"{kind}/{name.lower()}")


def role(account_id: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{name}"


def assumed_role(account_id: str, name: str, session: str) -> str:
    return f"arn:aws:sts::{account_id}:assumed-role/{name}/{session}"
