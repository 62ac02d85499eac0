"""The `kiln` CLI in-process (typer's CliRunner): env output, status, logs, and the one-line errors."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kiln import cli
from kiln.core.scope import Scope

DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port here
runner = CliRunner()


def exports(stdout: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        assert line.startswith("export "), line
        name, _, value = line[len("export "):].partition("=")
        env[name] = shlex.split(value)[0]
    return env


def one_line_error(result: Any) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiln: "), result.stderr
    return str(lines[0])


def test_env_without_a_server_uses_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_ACCOUNT_ID", "111122223333")
    monkeypatch.setenv("KILN_REGION", "eu-west-1")
    config_dir = tmp_path / "cfg dir"
    result = runner.invoke(cli.app, ["env", "--endpoint", DEAD, "--config-dir", str(config_dir)])
    assert result.exit_code == 0, result.output
    env = exports(result.stdout)
    config = config_dir / "sagemaker-config.yaml"
    assert env == {
        "AWS_ENDPOINT_URL": DEAD,
        "AWS_ACCESS_KEY_ID": "kiln",
        "AWS_SECRET_ACCESS_KEY": "kiln-secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config.resolve()),
        "KILN_SDK_SHIM": "1",
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }
    assert yaml.safe_load(config.read_text()) == {
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {
            "Session": {"DefaultS3Bucket": "sagemaker-eu-west-1-111122223333"},
            "TelemetryOptOut": True}}},
    }
    assert "no server answering" in result.stderr


def test_env_asks_the_server(kiln_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_ACCOUNT_ID", "111122223333")  # the server's own account wins
    result = runner.invoke(cli.app, ["env", "--endpoint", kiln_server.url, "--config-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    env = exports(result.stdout)
    assert env["AWS_ENDPOINT_URL"] == kiln_server.url
    config = yaml.safe_load(Path(env["SAGEMAKER_USER_CONFIG_OVERRIDE"]).read_text())
    assert config["SageMaker"]["PythonSDK"]["Modules"]["Session"]["DefaultS3Bucket"] == (
        "sagemaker-us-east-1-123456789012")


def test_status(kiln_server: Any) -> None:
    result = runner.invoke(cli.app, ["status", "--endpoint", kiln_server.url])
    assert result.exit_code == 0, result.output
    for text in ("ready", str(kiln_server.data_dir), "123456789012", "us-east-1", "logGroups"):
        assert text in result.stdout


def test_status_without_a_server() -> None:
    line = one_line_error(runner.invoke(cli.app, ["status", "--endpoint", DEAD]))
    assert "no Kiln server answering at http://127.0.0.1:9" in line


def test_logs_prints_a_stream(kiln_server: Any, unique_name: str) -> None:
    store = kiln_server.platform.logs
    scope = Scope("123456789012", "us-east-1")
    group = f"/kiln/cli/{unique_name}"
    store.ensure_stream(scope, group, "job/algo-1")
    now = int(time.time() * 1000)
    store.put_events(scope, group, "job/algo-1", [(now, "first [not markup]"), (now + 1, "second")])
    result = runner.invoke(cli.app, ["logs", group, "job/algo-1", "--endpoint", kiln_server.url])
    assert result.exit_code == 0, result.output
    assert result.stdout == "first [not markup]\nsecond\n"


def test_logs_follow_polls_until_interrupted(kiln_server: Any, unique_name: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store = kiln_server.platform.logs
    scope = Scope("123456789012", "us-east-1")
    group = f"/kiln/cli/{unique_name}"
    store.ensure_stream(scope, group, "s")
    store.put_events(scope, group, "s", [(1, "before")])
    polls: list[float] = []

    def fake_sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            store.put_events(scope, group, "s", [(2, "while following")])
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.time, "sleep", fake_sleep)
    result = runner.invoke(cli.app, ["logs", group, "s", "-f", "--interval", "0.5",
                                     "--endpoint", kiln_server.url])
    assert result.exit_code == 0, result.output
    assert result.stdout == "before\nwhile following\n"
    assert polls == [0.5, 0.5]


def test_logs_missing_group(kiln_server: Any) -> None:
    line = one_line_error(runner.invoke(cli.app, ["logs", "/no/such/group", "s", "--endpoint", kiln_server.url]))
    assert line == "kiln: The specified log group does not exist. (/no/such/group / s)"


def test_logs_without_a_server() -> None:
    line = one_line_error(runner.invoke(cli.app, ["logs", "g", "s", "--endpoint", DEAD]))
    assert "no Kiln server answering" in line


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_server_refuses_non_loopback_without_allow_remote(host: str, tmp_path: Path) -> None:
    line = one_line_error(runner.invoke(cli.app, ["server", "--host", host, "--data-dir", str(tmp_path)]))
    assert f"refusing to listen on non-loopback address {host}" in line and "--allow-remote" in line
    assert not (tmp_path / "kiln.db").exists()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.5.5.5", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("10.0.0.1", False), ("myhost", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert cli.is_loopback(host) is loopback


def test_bad_settings_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_PORT", "not-a-port")
    line = one_line_error(runner.invoke(cli.app, ["env", "--endpoint", DEAD]))
    assert line.startswith("kiln: invalid setting port:")


def test_server_rejects_an_unknown_log_level(tmp_path: Path) -> None:
    line = one_line_error(runner.invoke(cli.app, ["server", "--log-level", "loud", "--data-dir", str(tmp_path)]))
    assert "unknown log level" in line


def test_default_endpoint_connects_to_loopback_for_wildcard_hosts() -> None:
    assert cli.default_endpoint(cli.Settings(host="0.0.0.0", port=1234)) == "http://127.0.0.1:1234"
    assert cli.default_endpoint(cli.Settings(host="::1", port=1234)) == "http://[::1]:1234"


def test_demo_is_documented() -> None:
    # The demo itself runs in tests/e2e/test_sdk_training.py (its seed scripts) and `make demo`.
    result = runner.invoke(cli.app, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--data-dir" in result.stdout and "--keep" in result.stdout
