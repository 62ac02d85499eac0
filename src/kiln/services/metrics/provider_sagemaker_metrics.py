"""SageMaker Metrics (`sagemaker-metrics`, rest-json, signs as `sagemaker`): BatchPutMetrics and
BatchGetMetrics, as the SDK's `Run.log_metric` and its MLflow metric forwarding use them.

Values put for a trial component are stored in namespace `/aws/sagemaker/TrialComponents` with
dimension `TrialComponentName`, so CloudWatch reads see them too. BatchGetMetrics also reads a
training job's metrics (`/aws/sagemaker/TrainingJobs`, `TrainingJobName`) for a training-job ARN.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.services.metrics import trial_metrics
from kiln.services.metrics.models import Datum
from kiln.services.metrics.store import MetricStore
from kiln.services.metrics.wire_cloudwatch import epoch


class SageMakerMetricsProvider(Provider):
    service = "sagemaker-metrics"

    def __init__(self, store: MetricStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    @operation("BatchPutMetrics")
    def batch_put_metrics(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        """Stores the valid entries; each invalid one is reported in `Errors` by its index."""
        name = request["TrialComponentName"]
        dims = trial_metrics.trial_component_dimensions(name)
        now = self._clock()
        data: list[Datum] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(request["MetricData"]):
            ts, value = epoch(item["Timestamp"]), item["Value"]
            if not math.isfinite(value) or not trial_metrics.timestamp_in_window(ts, now):
                errors.append({"Code": "VALIDATION_ERROR", "MetricIndex": index})
                continue
            data.append(Datum(trial_metrics.TRIAL_COMPONENTS_NAMESPACE, item["MetricName"], dims, ts, value,
                              step=item.get("Step")))
        self._store.put(ctx.scope, data)
        return {"Errors": errors} if errors else {}

    @operation("BatchGetMetrics")
    def batch_get_metrics(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return {"MetricQueryResults": [self._query(q) for q in request["MetricQueries"]]}

    def _query(self, query: dict[str, Any]) -> dict[str, Any]:
        try:
            ref = trial_metrics.resolve(query["ResourceArn"])
        except ValueError as exc:
            return {"Status": "ValidationError", "Message": str(exc), "XAxisValues": [], "MetricValues": []}
        points = self._store.raw(ref.scope, ref.namespace, query["MetricName"], ref.dimensions,
                                 query.get("Start"), query.get("End"))
        xs, ys = trial_metrics.aggregate(points, query["MetricStat"], query["Period"], query["XAxisType"])
        return {"Status": "Complete", "XAxisValues": xs, "MetricValues": ys}
