"""Fuzzing both JSON hooks with hypothesis: no body gets a 5xx, and every well-formed delivery
that is accepted ends processed (never stored-but-failed), whatever its text holds (NUL,
lone surrogates, emoji, any length up to the format's limits)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.intake.models import InboundEvent
from incidents.intake.process import drain
from incidents.models import Incident
from tests.incidents.test_intake import make_integration

# Every code point, lone surrogates and NUL included; sent as JSON escapes.
ANY_CHAR = st.characters(codec=None, categories=None)
TEXT = st.text(ANY_CHAR, max_size=400)
SHORT = st.text(ANY_CHAR, min_size=1, max_size=80)
LABELS = st.dictionaries(SHORT, TEXT, max_size=6)
TIMES = st.sampled_from(
    ["2026-11-23T10:00:00Z", "2026-11-23T10:00:00.123456789+02:00", "0001-01-01T00:00:00Z", ""]
)
FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def alert() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "status": st.sampled_from(["firing", "resolved"]),
            "labels": LABELS,
            "annotations": LABELS,
            "startsAt": TIMES,
            "endsAt": TIMES,
            "generatorURL": TEXT,
            "fingerprint": st.text(ANY_CHAR, max_size=300),
        }
    )


ALERTMANAGER = st.fixed_dictionaries(
    {
        "version": st.sampled_from(["4", "3"]),
        "groupKey": TEXT,
        "status": st.sampled_from(["firing", "resolved"]),
        "receiver": TEXT,
        "alerts": st.lists(alert(), min_size=1, max_size=4),
        "groupLabels": LABELS,
        "commonLabels": LABELS,
        "commonAnnotations": LABELS,
        "externalURL": TEXT,
    }
)
DETAIL = st.one_of(
    TEXT,
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.lists(TEXT, max_size=3),
)
GENERIC = st.fixed_dictionaries(
    {"title": st.text(ANY_CHAR, min_size=1, max_size=300).filter(str.strip)},
    optional={
        "severity": st.sampled_from(["P0", "P1", "P2", "P3", "critical", "info", ""]),
        "status": st.sampled_from(["firing", "resolved"]),
        "service": TEXT,
        "dedup_key": st.text(ANY_CHAR, max_size=200),
        "details": st.dictionaries(SHORT, DETAIL),
        "url": TEXT,
    },
)
GARBAGE = st.one_of(
    st.binary(max_size=300),
    st.text(ANY_CHAR, max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SHORT, inner, max_size=4),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
)


def post(client, kind: str, token: str, body: bytes):
    return client.post(f"/hooks/{kind}/{token}/", body, content_type="application/json")


def test_fuzzed_well_formed_deliveries_are_accepted_and_all_processed(client, db):
    hooks = {
        kind: make_integration(kind, rate_limit_per_minute=100_000)
        for kind in ("alertmanager", "generic")
    }
    answers: list[int] = []

    @FUZZ
    @given(kind=st.sampled_from(["alertmanager", "generic"]), data=st.data())
    def deliver(kind: str, data) -> None:
        payload = data.draw(ALERTMANAGER if kind == "alertmanager" else GENERIC)
        response = post(client, kind, hooks[kind][1], json.dumps(payload).encode())
        answers.append(response.status_code)
        assert response.status_code == 202, response.content

    deliver()
    assert drain(None) == len(answers) > 0
    states = set(InboundEvent.objects.values_list("state", flat=True))
    assert states <= {"processed", "dropped"}, InboundEvent.objects.exclude(
        state__in=["processed", "dropped"]
    ).values_list("error", flat=True)[:3]
    assert not Incident.objects.open().filter(alerts__isnull=True).exists()


def test_fuzzed_bodies_of_any_shape_get_no_5xx_and_nothing_fails(client, db):
    hooks = {
        kind: make_integration(kind, rate_limit_per_minute=100_000)
        for kind in ("alertmanager", "generic", "stripe")
    }

    @FUZZ
    @given(kind=st.sampled_from(sorted(hooks)), body=GARBAGE)
    def deliver(kind: str, body: bytes) -> None:
        response = post(client, kind, hooks[kind][1], body)
        assert response.status_code < 500 or response.status_code == 503 and kind == "stripe"
        assert "error" in response.json() or response.status_code == 202

    deliver()
    drain(None)
    assert not InboundEvent.objects.exclude(state__in=["processed", "dropped"]).exists()
