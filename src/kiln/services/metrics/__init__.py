"""CloudWatch-style metrics: the store (domain) and the `cloudwatch` / `sagemaker-metrics` providers."""

from kiln.services.metrics.models import Datapoint, Datum, MetricIdentity, StatisticSet
from kiln.services.metrics.store import MetricStore

__all__ = ["Datapoint", "Datum", "MetricIdentity", "MetricStore", "StatisticSet"]
