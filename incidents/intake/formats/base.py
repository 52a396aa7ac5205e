"""What every reader returns, and the helpers they share.

A reader turns a delivery's bytes into `Alert`s (see the package docstring for the interface).
The JSON it reads is decoded here, once, with the bounds the hook promises: any of the JSON
encodings (UTF-8, UTF-16, UTF-32, with or without a byte order mark), at most MAX_DEPTH levels
of nesting and numbers of at most MAX_NUMBER_DIGITS digits; anything else is a `Refusal` (400)
with a reason the sender can act on, never an exception from the parser.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.dateparse import parse_datetime

from incidents.models import Severity

MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 100
SEVERITY_WORDS = {
    "critical": Severity.P0,
    "high": Severity.P1,
    "error": Severity.P1,
    "warning": Severity.P2,
    "medium": Severity.P2,
    "low": Severity.P3,
    "info": Severity.P3,
}


class Refusal(Exception):  # noqa: N818 - a refusal is an answer, not a failure
    """The delivery is not accepted: `reason` goes back to the sender as `{"error": reason}`
    with `status` (400 unless said otherwise). `signature=True` marks a failed signature or
    credential check: the hook keeps it as a security signal."""

    def __init__(self, reason: str, status: int = 400, *, signature: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.signature = signature


@dataclass(frozen=True)
class Threshold:
    """Open the incident only once `count` alerts of the group arrived within `window`;
    below that an alert is kept (and counted) but opens nothing. It still joins an open
    incident of its group."""

    count: int
    window: timedelta


@dataclass
class Alert:
    """One normalised alert. Alerts of one delivery with the same `group_key` are one group:
    they open or join one incident, titled by the first one's `title`, `severity`, `summary`.

    `group_key` names the incident within the console (include the integration's id unless the
    thing it names is global, as a Stripe dispute is). `fingerprint` names the alert across
    deliveries and groupings: an alert whose fingerprint is already on an open incident of the
    same integration joins that incident. `starts_at` tells one firing of it from the next.
    """

    group_key: str
    title: str
    name: str
    status: str = "firing"  # or "resolved"
    fingerprint: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    source_url: str = ""
    severity: str = ""  # P0–P3, or "" for the rule's or the integration's
    service: str = ""  # a service's name, or ""
    summary: str = ""  # the incident's summary if this alert opens it
    receiver: str = ""  # what routing rules see as `receiver`
    scenario: str = ""  # a runbook scenario title to attach when this alert opens the incident
    threshold: Threshold | None = None
    note: str = ""  # the timeline text when it fires ("" → "<name> firing: <summary>")
    data: dict = field(default_factory=dict)  # more for its timeline event
    details: dict[str, str] = field(default_factory=dict)  # full text of fields cut to fit
    # More fields routing rules match on, by their sender's names (PagerDuty's
    # `payload.component`, Opsgenie's `tags`/`priority`): merged into `context()`.
    fields: dict = field(default_factory=dict)
    # "acknowledge": the sender acknowledged the incident holding this alert (PagerDuty,
    # Opsgenie); it opens nothing and changes no alert.
    action: str = ""

    @property
    def key(self) -> str:
        """The alert's identity across deliveries: fingerprint + startsAt, or its labels."""
        start = self.starts_at.isoformat() if self.starts_at else ""
        if self.fingerprint:
            return f"{self.fingerprint[:64]}:{start}"[:128]
        return f"labels:{digest(self.labels)}:{start}"[:128]

    def context(self) -> dict:
        """What routing rules match on (see routing.field_value)."""
        return {
            "labels": self.labels,
            "annotations": self.annotations,
            "title": self.title,
            "status": self.status,
            "severity": self.severity,
            "service": self.service,
            "receiver": self.receiver,
            **self.fields,
        }


@dataclass
class Reading:
    """A reader's answer: the alerts (possibly none: the delivery is kept and processed, and
    opens nothing), and, for senders that deliver at least once with an id, that id
    (`once_key`: a second delivery of it is answered "duplicate") and its `event_type`."""

    alerts: list[Alert]
    once_key: str = ""
    event_type: str = ""


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:40]


# -- JSON ----------------------------------------------------------------------------------------
_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)


def decode(body: bytes) -> str:
    """The body as text: a byte order mark names the encoding; without one, the pattern of
    zero bytes in the first four (RFC 4627 §3, kept by RFC 7159 §8.1) tells UTF-16/32 from
    UTF-8."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return _decode(body[len(bom) :], encoding)
    head = body[:4]
    if len(head) == 4 and head[:3] == b"\0\0\0":
        encoding = "utf-32-be"
    elif len(head) == 4 and head[1:] == b"\0\0\0":
        encoding = "utf-32-le"
    elif len(head) >= 2 and head[0] == 0:
        encoding = "utf-16-be"
    elif len(head) >= 2 and head[1] == 0:
        encoding = "utf-16-le"
    else:
        encoding = "utf-8"
    return _decode(body, encoding)


def _decode(body: bytes, encoding: str) -> str:
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Refusal(f"The body is not {encoding.upper()} text: {exc.reason}.") from None


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise Refusal(f"A number in the body has more than {MAX_NUMBER_DIGITS} digits.")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise Refusal(f"A number in the body has more than {MAX_NUMBER_DIGITS} digits.")
    value = float(text)
    if not math.isfinite(value):
        raise Refusal(f"The number {text} is out of range.")
    return value


def _constant(name: str) -> float:
    raise Refusal(f"{name} is not a JSON value.")


def _depth_ok(text: str) -> bool:
    """Nesting at most MAX_DEPTH, counting brackets outside strings (a linear scan, only
    for a body with that many brackets at all)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return True
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif char in "]}":
            depth -= 1
    return True


def load_json(body: bytes | str) -> dict:
    """The body's JSON object, or a Refusal saying why not."""
    text = decode(body) if isinstance(body, bytes) else body
    if not _depth_ok(text):
        raise Refusal(f"The body nests deeper than {MAX_DEPTH} levels.")
    try:
        document = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise Refusal(f"The body is not JSON: {exc}") from None
    except RecursionError:  # unreachable below MAX_DEPTH; kept as a 400 all the same
        raise Refusal(f"The body nests deeper than {MAX_DEPTH} levels.") from None
    if not isinstance(document, dict):
        raise Refusal("The body must be a JSON object.")
    return document


# -- fields --------------------------------------------------------------------------------------
def severity_of(value: object) -> str:
    """P0–P3 as such, or a word (critical/high/medium/low, warning/info); '' if unknown."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if text.upper() in Severity.values:
        return text.upper()
    return SEVERITY_WORDS.get(text.lower(), "")


def string_map(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise Refusal(f"{what} must be an object of strings.")
    return value


# Alertmanager's "zero" time: an alert with no end yet.
ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(value: object, what: str) -> datetime | None:
    if value in (None, "", ZERO_TIME):
        return None
    if not isinstance(value, str):
        raise Refusal(f"{what} must be an RFC 3339 time.")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Refusal(f"{what} must be an RFC 3339 time with a zone, not {value[:60]!r}.")
    return None if parsed.year <= 1 else parsed
