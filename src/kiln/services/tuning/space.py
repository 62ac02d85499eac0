"""The search space: SageMaker parameter ranges as Optuna distributions, and back to the strings a
training job receives.

Values are strings on the wire. Categorical values are used verbatim, so the SDK's JSON-quoted
values (`"\\"sgd\\""` for framework estimators) reach the training job exactly as they were sent.
Scaling: `Auto` and `Linear` sample uniformly, `Logarithmic` uniformly in log space (needs
MinValue > 0), `ReverseLogarithmic` (continuous ranges within [0, 1) only) samples 1 - x in log
space, so values crowd towards 1. With several training job definitions the definition is itself a
categorical choice and each definition's parameters are named `<definition>/<name>` for the sampler.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import Trial as OptunaTrial

from kiln.core.errors import InvalidInput

DEFINITION_PARAM = "_definition"
GRID_PARAM = "_grid"
MAX_GRID = 10_000  # Kiln's cap on the number of grid points
INTEGER, CONTINUOUS, CATEGORICAL = "Integer", "Continuous", "Categorical"


def fmt_float(value: float) -> str:
    """Shortest round-tripping text of a float ("0.001", "12.5")."""
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Auto"
    choices: tuple[str, ...] = ()

    @property
    def reverse(self) -> bool:
        return self.scaling == "ReverseLogarithmic"

    def distribution(self) -> BaseDistribution:
        if self.kind == CATEGORICAL:
            return CategoricalDistribution(list(self.choices))
        log = self.scaling in ("Logarithmic", "ReverseLogarithmic")
        if self.kind == INTEGER:
            return IntDistribution(int(self.low), int(self.high), log=log)
        if self.reverse:
            return FloatDistribution(1.0 - self.high, 1.0 - self.low, log=True)
        return FloatDistribution(self.low, self.high, log=log)

    def suggest(self, trial: OptunaTrial, key: str) -> str:
        """Ask the sampler for a value; returns the wire string."""
        if self.kind == CATEGORICAL:
            return str(trial.suggest_categorical(key, list(self.choices)))
        log = self.scaling in ("Logarithmic", "ReverseLogarithmic")
        if self.kind == INTEGER:
            return str(trial.suggest_int(key, int(self.low), int(self.high), log=log))
        if self.reverse:
            return self.to_wire(trial.suggest_float(key, 1.0 - self.high, 1.0 - self.low, log=True))
        return self.to_wire(trial.suggest_float(key, self.low, self.high, log=log))

    def to_wire(self, value: Any) -> str:
        if self.kind == CATEGORICAL:
            return str(value)
        if self.kind == INTEGER:
            return str(int(value))
        x = 1.0 - float(value) if self.reverse else float(value)
        return fmt_float(min(self.high, max(self.low, x)))

    def from_wire(self, text: str) -> Any | None:
        """The sampler-side value of a hyperparameter string, or None when it lies outside this range."""
        if self.kind == CATEGORICAL:
            if text in self.choices:
                return text
            decoded = _decode(text)
            return next((c for c in self.choices if _decode(c) == decoded), None)
        try:
            number = float(_decode(text))
        except (TypeError, ValueError):
            return None
        if not self.low <= number <= self.high:
            return None
        if self.kind == INTEGER:
            return int(number) if number == int(number) else None
        return 1.0 - number if self.reverse else number

    def grid_values(self) -> list[str]:
        if self.kind == CATEGORICAL:
            return list(self.choices)
        return [str(v) for v in range(int(self.low), int(self.high) + 1)]


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


@dataclass(frozen=True, slots=True)
class Definition:
    """One training job definition: its tuned ranges, static hyperparameters and objective."""

    name: str | None
    params: tuple[Param, ...]
    static: dict[str, str]
    objective: dict[str, str]  # {"Type": "Minimize"|"Maximize", "MetricName": ...}
    request: dict[str, Any] = field(hash=False, compare=False)


def parse_ranges(ranges: dict[str, Any] | None) -> tuple[Param, ...]:
    """ParameterRanges -> Params, validated.

    Raises:
        InvalidInput: a range breaks one of SageMaker's rules.
    """
    ranges = ranges or {}
    if ranges.get("AutoParameters"):
        raise InvalidInput("AutoParameters (Autotune) are not supported by Kiln; give explicit ranges.")
    out: list[Param] = []
    for kind, key in ((INTEGER, "IntegerParameterRanges"), (CONTINUOUS, "ContinuousParameterRanges")):
        for r in ranges.get(key) or []:
            out.append(_numeric(kind, r))
    for r in ranges.get("CategoricalParameterRanges") or []:
        values = list(r["Values"])
        if not values:
            raise InvalidInput(f"The categorical hyperparameter {r['Name']} must have at least one value.")
        if len(set(values)) != len(values):
            raise InvalidInput(f"The categorical hyperparameter {r['Name']} has duplicate values.")
        out.append(Param(r["Name"], CATEGORICAL, choices=tuple(values)))
    names = [p.name for p in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"Hyperparameter names must be unique across ranges; duplicated: {', '.join(dupes)}.")
    return tuple(out)


def _numeric(kind: str, r: dict[str, Any]) -> Param:
    name, scaling = r["Name"], r.get("ScalingType", "Auto")
    try:
        low, high = float(r["MinValue"]), float(r["MaxValue"])
    except ValueError as exc:
        raise InvalidInput(f"The MinValue and MaxValue of hyperparameter {name} must be numbers.") from exc
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InvalidInput(f"The MinValue and MaxValue of hyperparameter {name} must be finite.")
    if kind == INTEGER and (low != int(low) or high != int(high)):
        raise InvalidInput(f"The MinValue and MaxValue of integer hyperparameter {name} must be integers.")
    if low > high:
        raise InvalidInput(f"The MinValue of hyperparameter {name} must be less than or equal to its MaxValue.")
    if scaling == "Logarithmic" and low <= 0:
        raise InvalidInput(f"Logarithmic scaling of hyperparameter {name} needs a MinValue greater than 0.")
    if scaling == "ReverseLogarithmic":
        if kind == INTEGER:
            raise InvalidInput(f"ReverseLogarithmic scaling is not supported for integer hyperparameter {name}.")
        if not (0 <= low < high < 1):
            raise InvalidInput(f"ReverseLogarithmic scaling of hyperparameter {name} needs 0 <= MinValue < "
                               "MaxValue < 1.")
    return Param(name, kind, low, high, scaling)


class Space:
    """All definitions' ranges, as the sampler sees them."""

    def __init__(self, definitions: list[Definition]) -> None:
        self.definitions = definitions
        self.multi = len(definitions) > 1
        self._grid: list[tuple[int, dict[str, str]]] | None = None

    def key(self, definition: Definition, param: Param) -> str:
        return f"{definition.name}/{param.name}" if self.multi else param.name

    def definition(self, name: str | None) -> Definition:
        return next((d for d in self.definitions if d.name == name), self.definitions[0])

    # -- sampling --------------------------------------------------------------------------------
    def suggest(self, trial: OptunaTrial) -> tuple[Definition, dict[str, str]]:
        """Ask the sampler for one combination: (definition, tuned hyperparameters as strings)."""
        definition = self.definitions[0]
        if self.multi:
            chosen = trial.suggest_categorical(DEFINITION_PARAM, [d.name for d in self.definitions])
            definition = self.definition(str(chosen))
        return definition, {p.name: p.suggest(trial, self.key(definition, p)) for p in definition.params}

    def suggest_grid(self, trial: OptunaTrial) -> tuple[Definition, dict[str, str]]:
        index = int(trial.suggest_categorical(GRID_PARAM, list(range(len(self.grid())))))
        d, tuned = self.grid()[index]
        return self.definitions[d], dict(tuned)

    def grid(self) -> list[tuple[int, dict[str, str]]]:
        """Every combination, definition by definition (the grid strategy's points)."""
        if self._grid is None:
            points: list[tuple[int, dict[str, str]]] = []
            for i, d in enumerate(self.definitions):
                names = [p.name for p in d.params]
                for combo in itertools.product(*(p.grid_values() for p in d.params)):
                    points.append((i, dict(zip(names, combo, strict=True))))
                    if len(points) > MAX_GRID:
                        raise InvalidInput(f"The grid has more than {MAX_GRID} combinations; narrow the ranges.")
            self._grid = points
        return self._grid

    def distributions(self, params: dict[str, Any], grid: bool = False) -> dict[str, BaseDistribution]:
        """Distributions of stored sampler params (to rebuild a study)."""
        if grid:
            return {GRID_PARAM: CategoricalDistribution(list(range(len(self.grid()))))}
        out: dict[str, BaseDistribution] = {}
        if self.multi:
            out[DEFINITION_PARAM] = CategoricalDistribution([d.name for d in self.definitions])
        for d in self.definitions:
            for p in d.params:
                key = self.key(d, p)
                if key in params:
                    out[key] = p.distribution()
        return {k: v for k, v in out.items() if k in params}

    def from_hyperparameters(self, definition: str | None,
                             hyperparameters: dict[str, str]) -> dict[str, Any]:
        """Sampler params for a parent trial's hyperparameters (warm start): the ones that fit."""
        d = self.definition(definition)
        params: dict[str, Any] = {}
        if self.multi:
            params[DEFINITION_PARAM] = d.name
        for p in d.params:
            if p.name in hyperparameters:
                value = p.from_wire(hyperparameters[p.name])
                if value is not None:
                    params[self.key(d, p)] = value
        return params if any(k != DEFINITION_PARAM for k in params) else {}
