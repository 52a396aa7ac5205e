"""What every checker returns, and the small helpers they share."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from django.core.exceptions import ValidationError

Status = Literal["ok", "warning", "critical", "error"]
SEVERITY_ORDER = {"ok": 0, "warning": 1, "critical": 2, "error": 3}
# A failure counts towards opening an incident; a warning does not.
FAILING = {"critical", "error"}


@dataclass
class CheckResult:
    """ok / warning / critical: what the target looks like; error: the probe could not judge
    (missing secret, unexpected answer). Latency is that of the main request, if any."""

    status: Status
    summary: str
    latency_ms: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failing(self) -> bool:
        return self.status in FAILING


def worst(*statuses: Status) -> Status:
    return max(statuses, key=SEVERITY_ORDER.__getitem__)


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.ms = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.ms = round((time.perf_counter() - self.started) * 1000, 2)


def secret_from_env(name: str) -> str:
    """Secrets live in the environment; the probe stores only the variable's name."""
    value = os.environ.get(name, "")
    if not value:
        raise MissingSecret(f"environment variable {name} is not set")
    return value


class MissingSecret(Exception):
    pass


def latency_status(ms: float, config: dict) -> Status:
    crit, warn = config.get("latency_crit_ms"), config.get("latency_warn_ms")
    if crit is not None and ms >= crit:
        return "critical"
    if warn is not None and ms >= warn:
        return "warning"
    return "ok"


# -- config validation ------------------------------------------------------------------------
def require(config: dict, key: str, kind: type | tuple[type, ...], errors: dict) -> Any:
    value = config.get(key)
    if value is None or value == "":
        errors[key] = "This field is required."
    elif not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        errors[key] = f"Expected {getattr(kind, '__name__', kind)}."
    return value


def optional_number(config: dict, key: str, errors: dict, minimum: float = 0) -> None:
    value = config.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        errors[key] = f"Expected a number ≥ {minimum}."


def env_name(config: dict, key: str, errors: dict) -> None:
    value = config.get(key)
    if not isinstance(value, str) or not value.replace("_", "").isalnum() or not value.isupper():
        errors[key] = "Name an environment variable (e.g. DATABASE_URL); never the secret itself."


def raise_errors(errors: dict) -> None:
    if errors:
        raise ValidationError({f"config.{k}": v for k, v in errors.items()})
