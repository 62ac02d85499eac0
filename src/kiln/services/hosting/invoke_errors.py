"""The errors InvokeEndpoint answers when the model cannot (runtime.py, multimodel.py)."""

from __future__ import annotations

from kiln.aws import errors

ModelError = errors.error("ModelError", 424)
ServiceUnavailable = errors.error("ServiceUnavailable", 503, sender_fault=False)
ModelNotReadyException = errors.error("ModelNotReadyException", 429)


def timed_out(seconds: float) -> errors.AwsError:
    """The container did not answer within `seconds`."""
    return ModelError(
        'Received server error (0) from primary with message "Your invocation timed out while waiting '
        'for a response from container primary. Review the latency metrics for each container in '
        'Amazon CloudWatch, resolve the issue, and try again."',  # unverified
        fields={"OriginalStatusCode": 0, "OriginalMessage": f"no response within {seconds:g} s"})


def no_instance(variant: str) -> errors.AwsError:
    return ServiceUnavailable(f"No healthy instance of variant {variant} is available; try again shortly.")


def unavailable(variant: str, exc: BaseException) -> errors.AwsError:
    """The replica could not be reached, on the second try too."""
    return ServiceUnavailable(f"The model container of variant {variant} is unavailable: {exc}")
