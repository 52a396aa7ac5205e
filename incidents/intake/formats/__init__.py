"""Sender formats: one reader module per format, and the one place they are wired (FORMATS).

The interface of a reader module `incidents/intake/formats/<kind>.py`:

    LABEL = "Human name of the format"
    SHORT = "Short name"      (optional: the Integrations list's narrow column; LABEL otherwise)
    HELP = "One sentence"     (optional: shown beside the kind when creating an integration)

    def read(body: bytes, integration: Integration) -> Reading
        The delivery's alerts, or `raise Refusal(reason, status=400)`. Pure: no database
        writes; called by the hook before the delivery is stored (a refusal is answered then)
        and again by processing on the stored body (bytes, UTF-8). Use `base.load_json` for
        JSON bodies: it decodes every JSON encoding and bounds depth and numbers.

    def authenticate(body, integration, headers: Mapping[str, str]) -> None   (optional)
        For senders that sign: raise `Refusal(reason, signature=True)` for a body that is
        not theirs (kept as a security signal), `Refusal(reason, 503)` for missing setup.
        Called by the hook only; a stored delivery is authentic.

`Reading`, `Alert`, `Threshold` and `Refusal` are in `base`. Readers need not fit the database:
`read` below normalises every alert at the edge (NUL removed, lone surrogates replaced, bounded
fields cut at their column's length with "…" and kept whole in `details`).

A new format is a new module and its line in FORMATS (its kind is then a valid
`Integration.kind`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from types import ModuleType
from typing import TYPE_CHECKING

from incidents.intake.formats import (
    alertmanager,
    generic,
    grafana,
    opsgenie,
    pagerduty,
    stripe,
)
from incidents.intake.formats.base import Alert, Reading, Refusal, Threshold, digest

if TYPE_CHECKING:
    from incidents.intake.models import Integration

__all__ = ["FORMATS", "Alert", "Reading", "Refusal", "Threshold", "authenticate", "read"]

FORMATS: dict[str, ModuleType] = {
    "alertmanager": alertmanager,
    "generic": generic,
    "grafana": grafana,
    "opsgenie": opsgenie,
    "pagerduty": pagerduty,
    "stripe": stripe,
}


def authenticate(kind: str, body: bytes, integration: Integration, headers: Mapping) -> None:
    check = getattr(FORMATS[kind], "authenticate", None)
    if check is not None:
        check(body, integration, headers)


def read(kind: str, body: bytes, integration: Integration) -> Reading:
    """The format's reading of the body, every alert normalised to fit the database."""
    reading = FORMATS[kind].read(body, integration)
    if may_need_cleaning(body):
        for alert in reading.alerts:
            clean_alert(alert)
    for alert in reading.alerts:
        bound(alert)
    reading.once_key = cut(clean(reading.once_key), 255, ellipsis=False)
    reading.event_type = cut(clean(reading.event_type), 100, ellipsis=False)
    return reading


# -- normalising at the edge ---------------------------------------------------------------------
# The length of the column each bounded field ends up in (Alert, Incident).
BOUNDS = {"title": 200, "name": 200, "source_url": 1000}
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In UTF-8 JSON, NUL and surrogates can only be escapes (raw, the body is refused): \u0000,
# \ud800-\udfff. A body without one (nearly all) needs no cleaning.
_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def may_need_cleaning(body: bytes) -> bool:
    utf8 = not body[:4].count(0) and not body.startswith((b"\xef\xbb\xbf", b"\xfe", b"\xff"))
    return not utf8 or _ESCAPES.search(body) is not None


ELLIPSIS = "…"


def clean(text: str) -> str:
    """Without NUL (PostgreSQL's text and jsonb refuse it) and with every lone surrogate
    (JSON's "\\ud800" unpaired; no encoding can store it) replaced by U+FFFD."""
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def clean_value(value: object) -> object:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(v) for v in value]
    return value


def cut(text: str, limit: int, *, ellipsis: bool = True) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS if ellipsis else text[:limit]


def normalise(alert: Alert) -> None:
    """Make the alert storable, in place: what is cut is kept whole in `details`."""
    clean_alert(alert)
    bound(alert)


def clean_alert(alert: Alert) -> None:
    for f in fields(alert):
        value = getattr(alert, f.name)
        if isinstance(value, str | dict | list):
            setattr(alert, f.name, clean_value(value))


def bound(alert: Alert) -> None:
    for name, limit in BOUNDS.items():
        value = getattr(alert, name)
        if len(value) > limit:
            alert.details[name] = value
            setattr(alert, name, cut(value, limit))
    if len(alert.group_key) > 200:
        alert.group_key = f"{alert.group_key[:150]}~{digest(alert.group_key)}"
    if len(alert.fingerprint) > 64:
        alert.details["fingerprint"] = alert.fingerprint
        alert.fingerprint = digest(alert.fingerprint)
