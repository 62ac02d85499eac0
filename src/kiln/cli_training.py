"""`kiln jobs` and `kiln spot interrupt`: training jobs from the terminal."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from kiln.cli import EndpointOption, app, default_endpoint, fail, load_settings
from kiln.core.instances import lookup

spot = typer.Typer(help="Managed spot training tools (Kiln-only).", no_args_is_help=True)
app.add_typer(spot, name="spot")


def _client(endpoint: str | None, service: str) -> tuple[Any, str]:
    import boto3
    from botocore.config import Config

    from kiln.envvars import DUMMY_KEY, DUMMY_SECRET, server_identity

    settings = load_settings()
    url = (endpoint or default_endpoint(settings)).rstrip("/")
    who = server_identity(url, settings, timeout=2.0)
    if not who.reachable:
        fail(f"no Kiln server answering at {url}. Start one with `kiln server`.")
    return boto3.client(service, endpoint_url=url, region_name=who.region, aws_access_key_id=DUMMY_KEY,
                        aws_secret_access_key=DUMMY_SECRET, config=Config(retries={"max_attempts": 2})), url


def _jobs_table(sm: Any, limit: int) -> Table:
    table = Table(title="Training jobs")
    for col, justify in (("name", "left"), ("status", "left"), ("secondary", "left"), ("instance", "left"),
                         ("spot", "left"), ("duration", "right"), ("billable s", "right"), ("cost $", "right")):
        table.add_column(col, justify=justify, no_wrap=col == "name")  # type: ignore[arg-type]
    summaries = sm.list_training_jobs(MaxResults=min(limit, 100), SortBy="CreationTime")["TrainingJobSummaries"]
    for s in summaries:
        d = sm.describe_training_job(TrainingJobName=s["TrainingJobName"])
        rc = d["ResourceConfig"]
        start = d.get("TrainingStartTime")
        end = d.get("TrainingEndTime") or datetime.now(UTC)
        duration = f"{(end - start).total_seconds():.0f}s" if start else "-"
        billable = d.get("BillableTimeInSeconds", 0)
        cost = billable / 3600 * lookup(rc["InstanceType"]).price * rc["InstanceCount"]
        table.add_row(d["TrainingJobName"], d["TrainingJobStatus"], d["SecondaryStatus"],
                      f"{rc['InstanceCount']}x {rc['InstanceType']}", "yes" if d["EnableManagedSpotTraining"] else "",
                      duration, str(billable), f"{cost:.4f}")
    return table


@app.command()
def jobs(endpoint: EndpointOption = None,
         limit: Annotated[int, typer.Option(help="How many of the newest jobs to show.")] = 20,
         watch: Annotated[bool, typer.Option("--watch", help="Refresh every second until Ctrl-C.")] = False) -> None:
    """Training jobs: status, duration, billable seconds and cost (on-demand prices, spot discount applied)."""
    sm, _ = _client(endpoint, "sagemaker")
    if not watch:
        Console().print(_jobs_table(sm, limit))
        return
    try:
        with Live(_jobs_table(sm, limit), refresh_per_second=2) as live:
            while True:
                time.sleep(1)
                live.update(_jobs_table(sm, limit))
    except KeyboardInterrupt:
        return


@spot.command("interrupt")
def interrupt(job: Annotated[str, typer.Argument(help="Training job name.")], endpoint: EndpointOption = None) -> None:
    """Interrupt a running managed-spot training job as a spot reclaim would (it resumes from its checkpoint)."""
    _, url = _client(endpoint, "sagemaker")
    response = httpx.post(f"{url}/_kiln/training-jobs/{job}/interrupt", timeout=10)
    if response.status_code != 200:
        fail(response.json().get("error", f"HTTP {response.status_code}"))
    typer.echo(f"interrupted {job}; it resumes from its last checkpoint")


@app.command("job-logs")
def job_logs(job: Annotated[str, typer.Argument(help="Training job name.")],
             follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
             endpoint: EndpointOption = None) -> None:
    """Print a training job's log, every host's stream (prefixed with the host when there are several)."""
    from botocore.exceptions import ClientError

    logs, _ = _client(endpoint, "logs")
    sm, _ = _client(endpoint, "sagemaker")
    try:
        sm.describe_training_job(TrainingJobName=job)
    except ClientError:
        fail(f"training job {job} does not exist")
    seen: dict[str, int] = {}
    while True:
        try:
            streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                                logStreamNamePrefix=f"{job}/")["logStreams"]
        except ClientError:
            streams = []
        for s in streams:
            name = s["logStreamName"]
            request: dict[str, Any] = {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": name,
                                       "startFromHead": True}
            events = logs.get_log_events(**request)["events"]
            host = name.split("/", 1)[1].rsplit("-", 1)[0]
            for event in events[seen.get(name, 0):]:
                typer.echo(f"[{host}] {event['message']}" if len(streams) > 1 else event["message"])
            seen[name] = len(events)
        if not follow or sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] not in (
                "InProgress", "Stopping"):
            return
        time.sleep(1)
