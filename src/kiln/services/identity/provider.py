"""The identity calls the SageMaker SDK makes: `sts:GetCallerIdentity` and `iam:GetRole`.

Kiln has one account (configurable, `KILN_ACCOUNT_ID`). The caller is an assumed role, so that the
SDK's `get_execution_role()` turns the ARN into `arn:aws:iam::<acct>:role/<name>` and finds it with
`iam:GetRole`. Any role name exists: Kiln does not enforce IAM.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.core import arns

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_TRUST_POLICY = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
                 '{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}')


def _role_id(name: str) -> str:
    return "AROA" + hashlib.sha1(name.encode()).hexdigest()[:17].upper()


class StsProvider(Provider):
    service = "sts"

    def __init__(self, role_name: str) -> None:
        self.role_name = role_name

    @operation("GetCallerIdentity")
    def get_caller_identity(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        account = ctx.scope.account_id
        return {
            "UserId": f"{_role_id(self.role_name)}:kiln",
            "Account": account,
            "Arn": arns.assumed_role(account, self.role_name, "kiln"),
        }


class IamProvider(Provider):
    service = "iam"

    @operation("GetRole")
    def get_role(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = request["RoleName"]
        return {"Role": {
            "Path": "/",
            "RoleName": name,
            "RoleId": _role_id(name),
            "Arn": arns.role(ctx.scope.account_id, name),
            "CreateDate": _EPOCH,
            "AssumeRolePolicyDocument": _TRUST_POLICY,
            "MaxSessionDuration": 3600,
        }}
