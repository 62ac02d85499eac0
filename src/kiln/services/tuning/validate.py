"""CreateHyperParameterTuningJob rules beyond the botocore model, and the request -> Space step.

Messages marked `# unverified` are Kiln's wording where AWS's exact text is not on record.
"""

from __future__ import annotations

from typing import Any

from kiln.core.errors import InvalidInput
from kiln.services.tuning import strategies
from kiln.services.tuning.space import CONTINUOUS, Definition, Space, parse_ranges

MAX_DEFINITIONS = 10


def definitions(request: dict[str, Any]) -> list[Definition]:
    """The request's training job definitions with their ranges and objectives.

    Raises:
        InvalidInput: the request breaks a rule of SageMaker's.
    """
    config = request["HyperParameterTuningJobConfig"]
    single, many = request.get("TrainingJobDefinition"), request.get("TrainingJobDefinitions")
    if bool(single) == bool(many):
        raise InvalidInput("Exactly one of TrainingJobDefinition and TrainingJobDefinitions must be "
                           "specified.")  # unverified
    if single:
        objective = config.get("HyperParameterTuningJobObjective") or single.get("TuningObjective")
        if not objective:
            raise InvalidInput("HyperParameterTuningJobObjective is required.")  # unverified
        ranges = config.get("ParameterRanges") or single.get("HyperParameterRanges")
        return [_definition(single, single.get("DefinitionName"), objective, ranges)]
    if len(many) > MAX_DEFINITIONS:
        raise InvalidInput(f"At most {MAX_DEFINITIONS} training job definitions are allowed.")
    names = [d.get("DefinitionName") for d in many]
    if any(n is None for n in names) or len(set(names)) != len(names):
        raise InvalidInput("Each training job definition needs a unique DefinitionName.")  # unverified
    out = []
    for d in many:
        objective = d.get("TuningObjective") or config.get("HyperParameterTuningJobObjective")
        if not objective:
            raise InvalidInput(f"TuningObjective is required for training job definition {d['DefinitionName']}.")
        out.append(_definition(d, d["DefinitionName"], objective, d.get("HyperParameterRanges")))
    if len({d.objective.get("Type") for d in out}) > 1:
        raise InvalidInput("All training job definitions must have the same objective type.")  # unverified
    return out


def _definition(d: dict[str, Any], name: str | None, objective: dict[str, str],
                ranges: dict[str, Any] | None) -> Definition:
    params = parse_ranges(ranges)
    static = dict(d.get("StaticHyperParameters") or {})
    clash = sorted({p.name for p in params} & set(static))
    if clash:
        raise InvalidInput(f"The hyperparameter(s) {', '.join(clash)} cannot be both static and tunable.")
    algo = d["AlgorithmSpecification"]
    if not algo.get("TrainingImage") and not algo.get("AlgorithmName"):
        raise InvalidInput("AlgorithmSpecification must name a TrainingImage or an AlgorithmName.")
    metric = objective["MetricName"]
    names = [m["Name"] for m in algo.get("MetricDefinitions") or []]
    if "sagemaker_program" in static and metric not in names:
        raise InvalidInput(f"The objective metric for the hyperparameter tuning job, [{metric}], isn't valid for "
                           f"the [{algo.get('TrainingImage', '')}] algorithm. Choose a valid objective metric "
                           "from MetricDefinitions.")  # unverified
    uri = d["OutputDataConfig"]["S3OutputPath"]
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise InvalidInput(f"Invalid S3 URI {uri!r}: it must start with s3:// and name a bucket.")
    if not d.get("ResourceConfig") and not d.get("HyperParameterTuningResourceConfig"):
        raise InvalidInput("One of ResourceConfig and HyperParameterTuningResourceConfig is required.")  # unverified
    return Definition(name, params, static, dict(objective), d)


def check(request: dict[str, Any], space: Space) -> int:
    """Strategy rules; returns the number of trials the job will launch (MaxNumberOfTrainingJobs, or
    the grid's size for Grid)."""
    config = request["HyperParameterTuningJobConfig"]
    strategy = config["Strategy"]
    limits = config["ResourceLimits"]
    if not any(d.params for d in space.definitions):
        raise InvalidInput("At least one hyperparameter range is required.")  # unverified
    if config.get("StrategyConfig") and strategy != "Hyperband":
        raise InvalidInput("StrategyConfig can only be specified for the Hyperband strategy.")  # unverified
    if strategy == "Hyperband":
        if config.get("TrainingJobEarlyStoppingType", "Off") != "Off":
            raise InvalidInput("TrainingJobEarlyStoppingType must be Off for the Hyperband strategy: Hyperband "
                               "has its own early stopping.")
        strategies.hyperband_resources(config, space.definitions[0].static)
    if strategy == "Grid":
        for d in space.definitions:
            continuous = [p.name for p in d.params if p.kind == CONTINUOUS]
            if continuous:
                raise InvalidInput("The Grid strategy supports only categorical (and, in Kiln, integer) "
                                   f"hyperparameter ranges; continuous: {', '.join(continuous)}.")
        size = len(space.grid())
        given = limits.get("MaxNumberOfTrainingJobs")
        return min(size, int(given)) if given is not None else size
    if limits.get("MaxNumberOfTrainingJobs") is None:
        raise InvalidInput(f"MaxNumberOfTrainingJobs is required for the {strategy} strategy.")  # unverified
    return int(limits["MaxNumberOfTrainingJobs"])
