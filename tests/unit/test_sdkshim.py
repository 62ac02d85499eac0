"""kiln.sdkshim: the opt-in STS endpoint patch for the SageMaker SDK."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln import sdkshim

PROBE = """
import json, sys
import sagemaker.session, sagemaker.utils
from sagemaker_core.helper import session_helper
shim = sys.modules.get("kiln.sdkshim")
print(json.dumps({
    "utils": sagemaker.utils.sts_regional_endpoint("eu-west-1"),
    "session": sagemaker.session.sts_regional_endpoint("eu-west-1"),
    "core": session_helper.sts_regional_endpoint("eu-west-1"),
    "installed": bool(shim and shim.installed()),
    "loader": type(sagemaker.utils.__loader__).__name__,
}))
"""


def probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("AWS_", "KILN_SDK_SHIM", "SAGEMAKER_USER_CONFIG"))}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, "SAGEMAKER_SUPPRESS_V2_WARNING": "1", **env},
                         capture_output=True, text=True, timeout=120, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


AWS_STS = "https://sts.eu-west-1.amazonaws.com"


@pytest.mark.sdk
def test_inert_without_the_variable() -> None:
    got = probe(AWS_ENDPOINT_URL="http://127.0.0.1:9")
    assert got == {"utils": AWS_STS, "session": AWS_STS, "core": AWS_STS, "installed": False,
                   "loader": "SourceFileLoader"}


@pytest.mark.sdk
def test_redirects_every_copy_when_enabled() -> None:
    got = probe(KILN_SDK_SHIM="1", AWS_ENDPOINT_URL="http://127.0.0.1:9")
    assert got == {"utils": "http://127.0.0.1:9", "session": "http://127.0.0.1:9", "core": "http://127.0.0.1:9",
                   "installed": True, "loader": "SourceFileLoader"}
    sts = probe(KILN_SDK_SHIM="1", AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ENDPOINT_URL_STS="http://sts:1")
    assert sts["session"] == "http://sts:1"


@pytest.mark.sdk
def test_falls_back_to_the_sdk_when_no_endpoint_is_set() -> None:
    assert probe(KILN_SDK_SHIM="1")["session"] == AWS_STS
    ignored = probe(KILN_SDK_SHIM="1", AWS_ENDPOINT_URL="http://127.0.0.1:9",
                    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="true")
    assert ignored["session"] == AWS_STS


def test_install_is_cheap_and_never_imports_the_sdk() -> None:
    code = ("import sys; from kiln import sdkshim; sdkshim.install(); sdkshim.install(); "
            "assert sum(isinstance(f, sdkshim.SdkShimFinder) for f in sys.meta_path) == 1; "
            "bad = [m for m in sys.modules if m.startswith(('sagemaker', 'boto', 'pydantic', 'typing'))]; "
            "assert not bad, bad")
    env = {k: v for k, v in os.environ.items() if k != "KILN_SDK_SHIM"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


# -- in-process, with stand-in modules (no SDK import) --------------------------------------------------

@pytest.fixture
def fake_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    package = tmp_path / "sagemaker_kiln_fake"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "utils.py").write_text(
        "def sts_regional_endpoint(region):\n    return 'https://sts.%s.amazonaws.com' % region\n")
    (package / "session.py").write_text("from sagemaker_kiln_fake.utils import sts_regional_endpoint\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sdkshim, "TARGET_MODULES", ("sagemaker_kiln_fake.utils",))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS", raising=False)
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
    yield "sagemaker_kiln_fake"
    sdkshim.uninstall()
    for name in [m for m in sys.modules if m.startswith("sagemaker_kiln_fake")]:
        del sys.modules[name]


def test_hook_patches_on_import(fake_sdk: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sdkshim.install()
    session = importlib.import_module(f"{fake_sdk}.session")
    utils = sys.modules[f"{fake_sdk}.utils"]
    assert utils.sts_regional_endpoint("us-east-1") == "http://127.0.0.1:9"
    assert session.sts_regional_endpoint is utils.sts_regional_endpoint
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert session.sts_regional_endpoint("us-east-1") == "https://sts.us-east-1.amazonaws.com"
    importlib.reload(utils)  # re-running the module re-applies the patch
    assert getattr(utils.sts_regional_endpoint, "__kiln_shim__", False)
    sdkshim.uninstall()
    assert not getattr(utils.sts_regional_endpoint, "__kiln_shim__", False)


def test_install_after_import_patches_copies_taken_by_name(fake_sdk: str) -> None:
    session = importlib.import_module(f"{fake_sdk}.session")
    utils = sys.modules[f"{fake_sdk}.utils"]
    assert session.sts_regional_endpoint("x") == "https://sts.x.amazonaws.com"
    sdkshim.install()
    assert utils.sts_regional_endpoint("x") == "http://127.0.0.1:9"
    assert session.sts_regional_endpoint("x") == "http://127.0.0.1:9"


def test_shimmed_is_idempotent_and_keeps_the_original() -> None:
    def sts_regional_endpoint(region: str) -> str:
        """The SDK's docstring."""
        return f"https://sts.{region}.amazonaws.com"

    once = sdkshim.shimmed(sts_regional_endpoint)
    assert sdkshim.shimmed(once) is once
    assert once.__wrapped__ is sts_regional_endpoint  # type: ignore[attr-defined]
    assert once.__doc__ == "The SDK's docstring."
