"""Search the current runbook versions' scenarios and procedures, or every section of them.

PostgreSQL: full-text search with ranking (title weighted A, steps and symptoms B, the
runbook's title C), queries in the websearch syntax people type into search boxes
("redis connection", "stripe -webhook", "\"connection pool\""). SQLite: every term must
appear (case-insensitive) in the title, the search text or the runbook's title, ranked by where
it appears. Both return the same `SearchResult`s, best first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import Case, F, FloatField, Q, QuerySet, Value, When
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from runbooks.models import RunbookSection, Scenario

MAX_RESULTS = 25
SNIPPET_WIDTH = 160
SEARCH_CONFIG = "english"


@dataclass
class SearchResult:
    scenario: Scenario
    rank: float
    snippet: SafeString

    @property
    def runbook(self):
        return self.scenario.version.runbook


def search_scenarios(query: str, limit: int = MAX_RESULTS) -> list[SearchResult]:
    """Scenarios and procedures of current runbook versions matching `query`, best first."""
    query = " ".join(query.split())[:200]
    include, exclude = _terms(query)
    if not include:
        return []
    scenarios = (
        Scenario.objects.units()
        .filter(version__runbook__current_version=F("version"))
        .select_related("version__runbook")
        # The version row carries the whole text and tree; a result needs four fields of it.
        .only(
            "kind",
            "title",
            "anchor",
            "severity",
            "position",
            "search_text",
            "version__number",
            "version__filename",
            "version__runbook__slug",
            "version__runbook__title",
        )
    )
    if connection.vendor == "postgresql":
        scenarios = _postgres(scenarios, query)
    else:
        scenarios = _portable(scenarios, include, exclude)
    ranked = scenarios.order_by("-rank", "version__runbook__title", "position")[:limit]
    return [SearchResult(s, float(s.rank), snippet(s.search_text, include)) for s in ranked]


@dataclass
class SectionResult:
    section: RunbookSection
    rank: float
    snippet: SafeString

    @property
    def runbook(self):
        return self.section.version.runbook


def search_sections(query: str, limit: int = MAX_RESULTS) -> list[SectionResult]:
    """Every section of the current runbook versions matching `query` (units or not), best
    first: what a responder can follow even where the reading found no unit. Ranked and
    matched like scenarios (the same fields: title, search text, the runbook's title)."""
    query = " ".join(query.split())[:200]
    include, exclude = _terms(query)
    if not include:
        return []
    sections = (
        RunbookSection.objects.filter(version__runbook__current_version=F("version"))
        .select_related("version__runbook")
        .only(
            "path",
            "anchor",
            "title",
            "trail",
            "kind",
            "severity",
            "step_count",
            "position",
            "search_text",
            "version__number",
            "version__filename",
            "version__runbook__slug",
            "version__runbook__title",
        )
    )
    if connection.vendor == "postgresql":
        sections = _postgres(sections, query)
    else:
        sections = _portable(sections, include, exclude)
    ranked = sections.order_by("-rank", "version__runbook__title", "version_id", "position")
    return [
        SectionResult(s, float(s.rank), snippet(s.search_text, include)) for s in ranked[:limit]
    ]


def _postgres(scenarios: QuerySet, query: str) -> QuerySet:
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    vector = (
        SearchVector("title", weight="A", config=SEARCH_CONFIG)
        + SearchVector("search_text", weight="B", config=SEARCH_CONFIG)
        + SearchVector("version__runbook__title", weight="C", config=SEARCH_CONFIG)
    )
    search = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
    return scenarios.annotate(document=vector, rank=SearchRank(vector, search)).filter(
        document=search
    )


# Where a term is found, for ranking on SQLite; a title match outweighs any number of step
# mentions, as the A/B weights do on PostgreSQL.
TITLE_SCORE, TEXT_SCORE, RUNBOOK_SCORE, PHRASE_SCORE = 4.0, 1.0, 0.5, 4.0


def _portable(scenarios: QuerySet, include: list[str], exclude: list[str]) -> QuerySet:
    rank = Value(0.0, output_field=FloatField())
    for term in include:
        scenarios = scenarios.filter(
            Q(title__icontains=term)
            | Q(search_text__icontains=term)
            | Q(version__runbook__title__icontains=term)
        )
        rank = (
            rank
            + _score(Q(title__icontains=term), TITLE_SCORE)
            + _score(Q(search_text__icontains=term), TEXT_SCORE)
            + _score(Q(version__runbook__title__icontains=term), RUNBOOK_SCORE)
        )
    if len(include) > 1:
        rank = rank + _score(Q(title__icontains=" ".join(include)), PHRASE_SCORE)
    for term in exclude:
        scenarios = scenarios.exclude(Q(title__icontains=term) | Q(search_text__icontains=term))
    return scenarios.annotate(rank=rank)


def _score(condition: Q, points: float) -> Case:
    return Case(
        When(condition, then=Value(points)),
        default=Value(0.0),
        output_field=FloatField(),
    )


# Identifiers (REDIS_URL, pg_stat_activity) stay one word.
WORD = re.compile(r"\w+(?:['’.-]\w+)*")
# Words PostgreSQL's english configuration ignores too, so that both backends find the same
# things; on SQLite they would match inside almost every text ("the" in "authentication").
STOP = {"a", "an", "and", "or", "the", "of", "to", "in", "on", "is", "it", "if", "for", "with"}


def _terms(query: str) -> tuple[list[str], list[str]]:
    """Words to find and words to exclude (`-word`), read the way websearch reads them."""
    include: list[str] = []
    exclude: list[str] = []
    for token in query.split():
        words = WORD.findall(token)
        if not words:
            continue
        if token.startswith("-") and len(token) > 1:
            exclude.extend(words)
        else:
            include.extend(w for w in words if w.lower() not in STOP and len(w) > 1)
    return include, exclude


def snippet(text: str, terms: list[str], width: int = SNIPPET_WIDTH) -> SafeString:
    """A short excerpt of the step text around the first match, matches in <mark>."""
    # The first line is the title, which the result already shows.
    _, _, body = text.partition("\n")
    body = " ".join(body.replace("`", "").replace("**", "").split())
    if not body:
        return mark_safe("")
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.I)
    found = pattern.search(body)
    start = 0
    if found and found.start() > width // 3:
        start = body.rfind(" ", 0, found.start() - width // 3) + 1
    excerpt = body[start : start + width]
    if start + width < len(body):
        excerpt = excerpt[: excerpt.rfind(" ")] if " " in excerpt else excerpt
    parts: list[str] = []
    last = 0
    for match in pattern.finditer(excerpt):
        parts.append(escape(excerpt[last : match.start()]))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        last = match.end()
    parts.append(escape(excerpt[last:]))
    prefix = "… " if start else ""
    suffix = " …" if start + len(excerpt) < len(body) else ""
    # Every piece of the runbook's text above went through escape().
    return mark_safe(prefix + "".join(parts) + suffix)
