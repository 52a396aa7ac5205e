"""Which scenarios and procedures fit an incident: ranked term matching over the runbooks.

The candidates are the scenarios and procedures of each runbook's current version, read in one
query. An incident's words (title, services, summary) are matched against each candidate's
title (weight 3: a title that names the problem is the strongest signal) and its search text
(weight 1, with BM25's saturation and length normalisation, so a long procedure that mentions
everything doesn't win by volume). Each term counts by its IDF over the candidates: "redis"
says more than "check".

Normalisation is deliberately light: lowercase, stopwords out, a crude suffix stripper that
makes "connections"/"connection"/"connecting" and "exhausted"/"exhaustion" meet. It only has
to be consistent between the incident's words and the runbooks' words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from django.db.models import F

from runbooks.models import Scenario

TITLE_WEIGHT = 3.0
TEXT_WEIGHT = 1.0
# The incident's own fields: a title is written to name the problem, a summary rambles.
QUERY_WEIGHTS = {"title": 1.0, "services": 1.0, "summary": 0.5}
BM25_K1 = 1.2
BM25_B = 0.75
LIMIT = 5

# Not "down", "slow", "high": in an incident title those carry meaning.
_STOPWORD_TEXT = """
    a about after all also an and any are as at be been before being but by can could did do
    does doing during each few for from had has have having how if in into is it its just more
    most no nor not now of off on once only or other our out over own same should so some such
    than that the their them then there these they this those through to too under until very
    was we were what when where which while who why will with would you your since still via
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """Crude English suffix stripping: plurals, -ing, -ed, -ion, -ment, a final -e."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed", "ion"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            # running → runn → run; but keep "ss" (processing → process)
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "sl":
                word = word[:-1]
            break
    if word.endswith("ment") and len(word) >= 8:  # deployment → deploy, not comment → com
        word = word[:-4]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


@lru_cache(maxsize=4096)
def terms(text: str) -> tuple[str, ...]:
    """The text's terms in order, normalised. Cached: runbook versions never change."""
    return tuple(
        stem(word)
        for word in WORD.findall(text.lower())
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit())
    )


@dataclass(frozen=True)
class Candidate:
    scenario_id: int
    title: str
    kind: str
    severity: str
    anchor: str
    runbook_id: int
    runbook_title: str
    runbook_slug: str
    version_number: int
    search_text: str
    runbook_filename: str = ""


@dataclass(frozen=True)
class Suggestion:
    candidate: Candidate
    score: float
    # The incident's own words that matched, to show why this was suggested.
    matched: tuple[str, ...]


def load_candidates() -> list[Candidate]:
    """Scenarios and procedures of every runbook's current version, in one query."""
    rows = (
        Scenario.objects.units()
        .filter(version__runbook__current_version=F("version"))
        # Runbooks that share a title stay apart: each one's units together, in order.
        .order_by("version__runbook__title", "version__runbook_id", "position")
        .values_list(
            "pk",
            "title",
            "kind",
            "severity",
            "anchor",
            "version__runbook_id",
            "version__runbook__title",
            "version__runbook__slug",
            "version__number",
            "search_text",
            "version__filename",
        )
    )
    return [Candidate(*row) for row in rows]


def runbook_labels(runbooks: Iterable[tuple[int, str, str]]) -> dict[int, str]:
    """A name for each runbook (id, title, file name) that tells it apart from the others
    listed with it: its title, and its file name too when another one has the same title."""
    found: dict[int, tuple[str, str]] = {}
    for pk, title, filename in runbooks:
        found.setdefault(pk, (title, filename))
    shared = Counter(title.casefold() for title, _ in found.values())
    labels: dict[int, str] = {}
    for pk, (title, filename) in found.items():
        labels[pk] = f"{title} ({filename or f'#{pk}'})" if shared[title.casefold()] > 1 else title
    return labels


def query_terms(title: str, summary: str = "", services: Iterable[str] = ()) -> dict[str, float]:
    """Each normalised term of the incident with its weight, and nothing else."""
    weights: dict[str, float] = {}
    fields = {"title": title, "services": " ".join(services), "summary": summary}
    for field, text in fields.items():
        for term in terms(text or ""):
            weights[term] = max(weights.get(term, 0.0), QUERY_WEIGHTS[field])
    return weights


def _originals(texts: Iterable[str]) -> dict[str, str]:
    """stem → the first word that produced it, to say "matches redis, errors" in people's words."""
    words: dict[str, str] = {}
    for text in texts:
        for word in WORD.findall((text or "").lower()):
            if word not in STOPWORDS:
                words.setdefault(stem(word), word)
    return words


def rank(
    candidates: list[Candidate],
    *,
    title: str,
    summary: str = "",
    services: Iterable[str] = (),
    exclude: Iterable[int] = (),
    limit: int = LIMIT,
) -> list[Suggestion]:
    """The best `limit` candidates with a score above zero, best first."""
    services = list(services)
    wanted = query_terms(title, summary, services)
    if not wanted or not candidates:
        return []
    docs = [(c, frozenset(terms(c.title)), Counter(terms(c.search_text))) for c in candidates]
    count = len(docs)
    average_length = sum(sum(body.values()) for _, _, body in docs) / count or 1.0
    # IDF over the candidates, of only the terms the incident has.
    frequency = Counter(t for _, head, body in docs for t in wanted if t in head or t in body)
    idf = {t: math.log(1 + (count - n + 0.5) / (n + 0.5)) for t, n in frequency.items()}

    excluded = set(exclude)
    scored: list[tuple[float, int, Candidate, tuple[str, ...]]] = []
    for order, (candidate, head, body) in enumerate(docs):
        if candidate.scenario_id in excluded:
            continue
        length_norm = 1 - BM25_B + BM25_B * sum(body.values()) / average_length
        score = 0.0
        matched = []
        for term, weight in wanted.items():
            tf = body.get(term, 0)
            if term not in head and not tf:
                continue
            saturated = tf * (BM25_K1 + 1) / (tf + BM25_K1 * length_norm)
            score += weight * idf[term] * (TITLE_WEIGHT * (term in head) + TEXT_WEIGHT * saturated)
            matched.append(term)
        if score > 0:
            scored.append((score, order, candidate, tuple(matched)))
    scored.sort(key=lambda item: (-item[0], item[1]))
    words = _originals([title, " ".join(services), summary])
    return [
        Suggestion(candidate, round(score, 3), tuple(words.get(t, t) for t in matched))
        for score, _, candidate, matched in scored[:limit]
    ]


def suggest(incident, *, services: Iterable[str] | None = None, limit: int = LIMIT):
    """Suggestions for an incident (services: their names, if the caller has them already)."""
    if services is None:
        services = incident.services.values_list("name", flat=True)
    return rank(
        load_candidates(),
        title=incident.title,
        summary=incident.summary,
        services=services,
        limit=limit,
    )
