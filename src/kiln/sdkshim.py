"""Opt-in shim: make the SageMaker SDK's STS client honour `AWS_ENDPOINT_URL`.

The SDK builds its STS client with an explicit `endpoint_url=sts_regional_endpoint(region)`
(`https://sts.<region>.amazonaws.com`), which beats `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_STS`.
`Session.default_bucket()` (without a `DefaultS3Bucket` config), `Session.account_id()` and
`sagemaker.get_execution_role()` would therefore call AWS. When `KILN_SDK_SHIM=1`, the
`kiln_sdk_shim.pth` file that Kiln installs into site-packages calls `install()` at interpreter
start. It registers an import hook; when the SDK's own module is imported, the real module runs
unchanged, then its `sts_regional_endpoint` is replaced by one that returns `AWS_ENDPOINT_URL_STS`
or `AWS_ENDPOINT_URL` when set, and the SDK's original answer otherwise.

Patched (SDK 2.257, sagemaker-core 1.0): `sagemaker.utils.sts_regional_endpoint` (used by
`sagemaker.session`, which imports it by name after `sagemaker.utils` has run) and the copy in
`sagemaker_core.helper.session_helper`. Nothing is vendored or forked: the SDK's code runs as
shipped, one function is swapped. See docs/sdk-shim.md.

Constraints: this module runs inside every Python process of the environment that has the
variable set, so it imports only the standard library, never imports the SDK itself, and reads
the environment directly (it cannot afford `kiln.config`'s pydantic import).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing would double this module's cost
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType
    from typing import Any

PATCHED_FUNCTION = "sts_regional_endpoint"
TARGET_MODULES = ("sagemaker.utils", "sagemaker_core.helper.session_helper")


def endpoint_override() -> str | None:
    """The STS endpoint the environment asks for, as botocore would read it; None when unset."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() == "true":
        return None
    return os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL") or None


def shimmed(original: Callable[[str], str]) -> Callable[[str], str]:
    """`original` (the SDK's `sts_regional_endpoint`) redirected to the configured endpoint."""
    if getattr(original, "__kiln_shim__", False):
        return original

    def sts_regional_endpoint(region: str) -> str:
        return endpoint_override() or original(region)

    sts_regional_endpoint.__doc__ = original.__doc__
    sts_regional_endpoint.__module__ = original.__module__
    sts_regional_endpoint.__qualname__ = original.__qualname__
    sts_regional_endpoint.__wrapped__ = original  # type: ignore[attr-defined]
    sts_regional_endpoint.__kiln_shim__ = True  # type: ignore[attr-defined]
    return sts_regional_endpoint


def patch_module(module: ModuleType) -> None:
    """Swap the module's `sts_regional_endpoint`, and any copy already imported by name elsewhere."""
    original = getattr(module, PATCHED_FUNCTION, None)
    if original is None or getattr(original, "__kiln_shim__", False):
        return
    replacement = shimmed(original)
    setattr(module, PATCHED_FUNCTION, replacement)
    # A module that ran `from <module> import sts_regional_endpoint` before now holds the original.
    for name, other in list(sys.modules.items()):
        if name.startswith("sagemaker") and other is not None and other is not module \
                and getattr(other, PATCHED_FUNCTION, None) is original:
            setattr(other, PATCHED_FUNCTION, replacement)


class SdkShimFinder:
    """A `sys.meta_path` finder that finds nothing itself: for the target modules it asks the other
    finders for the real spec and wraps that loader's `exec_module` to patch after the module runs."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if fullname not in TARGET_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            loader = spec.loader
            if loader is not None and hasattr(loader, "exec_module"):
                run = loader.exec_module

                def exec_module(module: ModuleType, run: Callable[[ModuleType], None] = run) -> None:
                    run(module)
                    patch_module(module)

                try:
                    loader.exec_module = exec_module  # this loader instance serves only this spec
                except AttributeError:  # a loader with __slots__: leave the module unpatched
                    pass
            return spec
        return None

    def invalidate_caches(self) -> None:
        """Nothing cached here (part of the finder protocol)."""


def installed() -> bool:
    return any(isinstance(f, SdkShimFinder) for f in sys.meta_path)


def install() -> None:
    """Register the import hook (idempotent) and patch target modules that are already imported.

    Called by `kiln_sdk_shim.pth` only when `KILN_SDK_SHIM=1`; calling it directly opts in too.
    """
    if not installed():
        sys.meta_path.insert(0, SdkShimFinder())
    for name in TARGET_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            patch_module(module)


def uninstall() -> None:
    """Remove the import hook and put the SDK's original functions back (for tests)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, SdkShimFinder)]
    for name, module in list(sys.modules.items()):
        current = getattr(module, PATCHED_FUNCTION, None) if name.startswith("sagemaker") else None
        if getattr(current, "__kiln_shim__", False):
            setattr(module, PATCHED_FUNCTION, current.__wrapped__)  # type: ignore[union-attr]
