"""The `kiln` command: run the server, print the client environment, show status, tail logs.

Every failure the user can cause or fix (no server running, a missing log group, a refused bind
address) prints one line starting with `kiln:` on stderr and exits non-zero; never a traceback.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from kiln import __version__
from kiln.config import Settings

app = typer.Typer(name="kiln", help="Kiln: a self-hosted ML platform that speaks the SageMaker APIs.",
                  add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)

EndpointOption = Annotated[str | None, typer.Option(
    "--endpoint", help="Kiln server URL [default: http://127.0.0.1:<KILN_PORT or 8437>].")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"kiln: {message}", err=True)
    raise typer.Exit(code)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_endpoint(settings: Settings) -> str:
    host = settings.host
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        fail(f"invalid setting {where or '?'}: {first.get('msg', 'invalid value')}", 2)


# -- server -------------------------------------------------------------------------------------------

def check_bindable(host: str, port: int) -> None:
    """Fail with one line if `host:port` can't be listened on (uvicorn would log and exit instead)."""
    bare = host.strip("[]")
    with socket.socket(socket.AF_INET6 if ":" in bare else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind((bare, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(f"port {port} on {host} is already in use; pick another with --port")
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


@app.command()
def server(
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8437].")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where Kiln keeps its state [default: ~/.kiln].")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning or error.")] = None,
    allow_remote: Annotated[bool, typer.Option(
        help="Allow listening on a non-loopback address. Kiln has no authentication: anyone who can "
             "reach the port controls it.")] = False,
) -> None:
    """Run the Kiln server (AWS APIs on one port; GET /_kiln/health answers 200 once ready)."""
    settings = load_settings(host=host, port=port, data_dir=data_dir.expanduser() if data_dir else None,
                             log_level=log_level)
    if not is_loopback(settings.host) and not allow_remote:
        fail(f"refusing to listen on non-loopback address {settings.host}: Kiln has no authentication. "
             f"Pass --allow-remote to do it anyway.", 2)
    level = settings.log_level.lower()
    if level not in ("critical", "error", "warning", "info", "debug", "trace"):
        fail(f"unknown log level {settings.log_level!r} (use debug, info, warning or error)", 2)
    check_bindable(settings.host, settings.port)
    logging.basicConfig(level=logging.DEBUG if level == "trace" else level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    import uvicorn

    from kiln.app import build_app

    try:
        application = build_app(settings)
    except Exception as exc:
        fail(f"cannot start: {type(exc).__name__}: {exc}")
    typer.echo(f"Kiln {__version__} on {default_endpoint(settings)} (data dir {settings.data_dir}). "
               f'Clients: eval "$(kiln env)"', err=True)
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=level, lifespan="on",
                loop="auto", http="auto", server_header=False)


# -- env ----------------------------------------------------------------------------------------------

@app.command()
def env(
    endpoint: EndpointOption = None,
    config_dir: Annotated[Path | None, typer.Option(
        help="Where to write the SageMaker SDK config file [default: <data dir>/client].")] = None,
) -> None:
    """Print `export` lines that point boto3 and the SageMaker SDK at Kiln: eval "$(kiln env)"."""
    from kiln.envvars import client_env, export_lines, server_identity

    settings = load_settings()
    url = endpoint or default_endpoint(settings)
    target = (config_dir or settings.data_dir / "client").expanduser()
    if not server_identity(url, settings, timeout=1.0).reachable:
        typer.echo(f"kiln: note: no server answering at {url}; using account {settings.account_id} and "
                   f"region {settings.region} from the settings.", err=True)
    try:
        variables = client_env(url, settings, target)
    except OSError as exc:
        fail(f"cannot write the SDK config into {target}: {exc.strerror or exc}")
    typer.echo(f"# Kiln client environment for {url}. Use: eval \"$(kiln env)\"")
    typer.echo(export_lines(variables), nl=False)


# -- status -------------------------------------------------------------------------------------------

def _get_json(url: str) -> tuple[int, Any]:
    import httpx

    try:
        response = httpx.get(url, timeout=5.0)
    except httpx.HTTPError as exc:
        base = url.split("/_kiln/", 1)[0]
        fail(f"no Kiln server answering at {base} ({type(exc).__name__}). Start one with `kiln server`.")
    try:
        return response.status_code, response.json()
    except ValueError:
        fail(f"{url} did not answer with JSON (HTTP {response.status_code}); is that a Kiln server?")


@app.command()
def status(endpoint: EndpointOption = None) -> None:
    """Show the server's health, data directory and resource counts."""
    url = (endpoint or default_endpoint(load_settings())).rstrip("/")
    code, health = _get_json(f"{url}/_kiln/health")
    _, info = _get_json(f"{url}/_kiln/status")
    table = Table(title=f"Kiln at {url}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("status", "ready" if code == 200 else str(health.get("status", code)))
    table.add_row("version", str(health.get("version", "?")))
    table.add_row("data dir", str(info.get("dataDir", health.get("dataDir", "?"))))
    table.add_row("account", str(info.get("accountId", "?")))
    table.add_row("region", str(info.get("region", "?")))
    resources = info.get("resources") or {}
    for name, count in sorted(resources.items()):
        table.add_row(name, str(count))
    if not resources:
        table.add_row("resources", "none")
    console = Console()
    if not console.is_terminal:  # piped: don't wrap long paths at 80 columns
        console = Console(width=max(console.width, 240))
    console.print(table)
    if code != 200:
        raise typer.Exit(1)


# -- logs ---------------------------------------------------------------------------------------------

@app.command()
def logs(
    group: Annotated[str, typer.Argument(help="Log group, e.g. /aws/sagemaker/TrainingJobs.")],
    stream: Annotated[str, typer.Argument(help="Log stream, e.g. <job-name>/algo-1-<epoch>.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep polling for new events.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls with --follow.")] = 1.0,
    endpoint: EndpointOption = None,
) -> None:
    """Print a log stream's events (through the CloudWatch Logs API, as any boto3 client would)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    from kiln.envvars import DUMMY_KEY, DUMMY_SECRET, server_identity

    settings = load_settings()
    url = (endpoint or default_endpoint(settings)).rstrip("/")
    who = server_identity(url, settings, timeout=2.0)
    client = boto3.client("logs", endpoint_url=url, region_name=who.region, aws_access_key_id=DUMMY_KEY,
                          aws_secret_access_key=DUMMY_SECRET,
                          config=Config(retries={"max_attempts": 2, "mode": "standard"}))
    request: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    try:
        while True:
            page = client.get_log_events(**request)
            for event in page["events"]:
                typer.echo(event["message"])
            request["nextToken"] = page["nextForwardToken"]
            if not page["events"]:
                if not follow:
                    return
                time.sleep(interval)
    except KeyboardInterrupt:
        return
    except EndpointConnectionError:
        fail(f"no Kiln server answering at {url}. Start one with `kiln server`.")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        fail(f"{error.get('Message') or error.get('Code')} ({group} / {stream})")
    except BotoCoreError as exc:
        fail(str(exc))


# -- demo -------------------------------------------------------------------------------------------

@app.command()
def demo(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Keep the demo's server data here.")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the demo's work directory.")] = False,
) -> None:
    """Run the end-to-end demo: a server on the embedded default and the seed's scripts, unmodified."""
    from kiln.demo.runner import run_demo

    raise typer.Exit(run_demo(data_dir, keep))


@app.command()
def tuning(name: Annotated[str | None, typer.Argument(help="Tuning job name (omit to list tuning jobs).")] = None,
           endpoint: EndpointOption = None,
           once: Annotated[bool, typer.Option("--once", help="Print the table once, do not follow.")] = False) -> None:
    """A tuning job's trials as a live table (objective, hyperparameters, status), best first."""
    from rich.live import Live

    from kiln.cli_training import _client
    from kiln.services.tuning.console import jobs_table, trials_table

    sm, _ = _client(endpoint, "sagemaker")
    if name is None:
        Console().print(jobs_table(sm))
        return
    table, active = trials_table(sm, name)
    if once or not active:
        Console().print(table)
        return
    try:
        with Live(table, refresh_per_second=2) as live:
            while active:
                time.sleep(1)
                table, active = trials_table(sm, name)
                live.update(table)
    except KeyboardInterrupt:
        return


@app.command()
def features(endpoint: EndpointOption = None) -> None:
    """Feature groups: status, online and offline record counts, last ingest."""
    from kiln.services.featurestore.console import features_table

    url = (endpoint or default_endpoint(load_settings())).rstrip("/")
    _, info = _get_json(f"{url}/_kiln/status")
    Console().print(features_table(info.get("featureStore") or []))


@app.command()
def endpoints(endpoint: EndpointOption = None) -> None:
    """Endpoints: status, variants, instance counts, weights, invocations per minute."""
    from kiln.cli_training import _client
    from kiln.services.hosting.console import endpoints_table

    sm, _ = _client(endpoint, "sagemaker")
    cw, _ = _client(endpoint, "cloudwatch")
    Console().print(endpoints_table(sm, cw))


@app.command()
def invoke(name: Annotated[str, typer.Argument(help="Endpoint name.")],
           body: Annotated[str, typer.Option("--body", help="Request body, or @file to read it from a file.")],
           content_type: Annotated[str, typer.Option("--content-type")] = "application/json",
           accept: Annotated[str | None, typer.Option("--accept")] = None,
           variant: Annotated[str | None, typer.Option("--variant", help="TargetVariant.")] = None,
           endpoint: EndpointOption = None) -> None:
    """InvokeEndpoint: print the model's answer (the invoked variant goes to stderr)."""
    from botocore.exceptions import ClientError

    from kiln.cli_training import _client
    from kiln.services.hosting.console import invoke as call
    from kiln.services.hosting.console import read_body

    rt, _ = _client(endpoint, "sagemaker-runtime")
    try:
        data = read_body(body)
    except OSError as exc:
        fail(f"cannot read the body: {exc}")
    try:
        out, _, used = call(rt, name, data, content_type, accept, variant)
    except ClientError as exc:
        fail(f"{exc.response['Error']['Code']}: {exc.response['Error']['Message']}")
    typer.echo(f"variant: {used}", err=True)
    typer.echo(out.decode("utf-8", "replace"))


def main() -> None:
    import kiln.cli_training  # noqa: F401  (registers `kiln jobs` and `kiln spot`)

    app(prog_name="kiln")
