"""Post-incident reviews: opened on resolution, drafted from the timeline, edited, published
with revisions, exported as Markdown, JSON and PDF."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import jsonschema
import pytest
from markdown_it import MarkdownIt
from pypdf import PdfReader

from incidents import actions
from incidents.actions import ActionError
from incidents.models import Incident, TimelineEvent
from incidents.reviews import actions as review_actions
from incidents.reviews.drafting import DEFAULT_CHECKLIST, DRAFT_KINDS, describe, drafted_timeline
from incidents.reviews.export import (
    md_escape,
    review_document,
    schema,
    to_markdown,
    to_pdf,
)
from incidents.reviews.models import PostIncidentReview, ReviewRevision
from tests.conftest import client_for
from tests.incidents.reviews_history import HOSTILE, rich_incident

Kind = TimelineEvent.Kind
pytestmark = pytest.mark.django_db
SECTIONS = [
    "Summary",
    "Impact",
    "Timeline",
    "Root cause",
    "Contributing factors",
    "Fixes applied",
    "Long-term fixes",
    "Action items",
    "Lessons learned",
    "What went well",
    "What could improve",
    "Post-incident checklist",
    "Runbook feedback",
]


@pytest.fixture
def resolved(responder, lead, service) -> Incident:
    return rich_incident(responder, lead, service)


def fill(review: PostIncidentReview, by, text: str = "") -> PostIncidentReview:
    fields = {
        "summary": f"Summary {text}",
        "root_cause": f"Root cause {text}",
        "contributing_factors": f"Factors {text}",
        "fixes_applied": f"Rolled back {text}",
        "long_term_fixes": f"Canary deploys {text}",
        "went_well": f"Fast rollback {text}",
        "could_improve": f"Alerting {text}",
        "users_affected": 1200,
        "customer_facing": True,
    }
    return review_actions.save_review(review, by=by, fields=fields)


def test_resolving_a_p1_opens_a_required_review_due_in_48_hours(resolved):
    review = resolved.review
    assert review.required is True
    assert review.due_at == resolved.resolved_at + timedelta(hours=48)
    assert review.state == "draft"
    opened = resolved.events.get(kind=Kind.REVIEW_OPENED)
    assert opened.data == {"review_id": review.pk, "required": True}
    assert opened.at == resolved.resolved_at
    assert [i.text for i in review.checklist.all()] == DEFAULT_CHECKLIST


def test_reopen_and_resolve_again_keeps_one_review(resolved, lead):
    actions.change_status(resolved, to="investigating", by=lead)
    actions.change_status(resolved, to="resolved", by=lead)
    assert PostIncidentReview.objects.filter(incident=resolved).count() == 1
    assert resolved.events.filter(kind=Kind.REVIEW_OPENED).count() == 1


def test_p3_review_is_optional_without_due_date(lead):
    incident = actions.declare_incident(
        title="Typo on the pricing page", severity="P3", declared_by=lead
    )
    actions.change_status(incident, to="resolved", by=lead)
    review = PostIncidentReview.objects.get(incident=incident)
    assert review.required is False and review.due_at is None
    assert not review.is_overdue(incident.resolved_at + timedelta(days=30))


def test_checklist_comes_from_the_latest_accepted_runbook_proposal(lead):
    from runbooks.importer import import_runbook
    from runbooks.models import Proposal

    version = import_runbook(
        "# R\n\n## Post-Incident\n\n- Item one\n- Item two\n", filename="r.md"
    ).version
    proposal = version.proposals.get(kind="review_checklist")
    assert proposal.payload == {"items": ["Item one", "Item two"]}
    proposal.status = Proposal.Status.ACCEPTED
    proposal.save()
    incident = actions.declare_incident(title="Queue backlog", severity="P1", declared_by=lead)
    actions.change_status(incident, to="resolved", by=lead)
    assert [i.text for i in incident.review.checklist.all()] == ["Item one", "Item two"]


def test_drafted_timeline_matches_the_events(resolved):
    review = resolved.review
    drafted = drafted_timeline(review)
    expected = list(resolved.events.filter(kind__in=DRAFT_KINDS).order_by("at", "id"))
    assert [d.event.pk for d in drafted] == [e.pk for e in expected]
    assert [d.at for d in drafted] == [e.at for e in expected]
    kinds = {d.event.kind for d in drafted}
    for kind in (
        Kind.DECLARED,
        Kind.ACKNOWLEDGED,
        Kind.ROLE_ASSIGNED,
        Kind.STATUS_CHANGED,
        Kind.STEP_DONE,
        Kind.STEP_SKIPPED,
        Kind.PROBE_RESULT,
        Kind.UPDATE_PUBLISHED,
        Kind.ALERT_FIRING,
        Kind.ESCALATION_PAGED,
        Kind.RESOLVED,
    ):
        assert kind in kinds, kind
    assert Kind.REVIEW_OPENED not in kinds
    # Notes are offered but hidden until an editor shows them; the rest is shown.
    assert all(d.shown == (d.event.kind != Kind.NOTE_ADDED) for d in drafted)
    probe = next(d for d in drafted if d.event.kind == Kind.PROBE_RESULT)
    assert probe.text == "Checkout health: CRITICAL · 812 ms · 502 from /health"
    update = next(d for d in drafted if d.event.kind == Kind.UPDATE_PUBLISHED)
    assert update.text == (
        "leo published a status update (Identified): We are rolling back a faulty release."
    )


def test_editors_choose_and_annotate_but_texts_come_from_events(resolved, lead):
    review = resolved.review
    drafted = drafted_timeline(review)
    note = next(d for d in drafted if d.event.kind == Kind.NOTE_ADDED)
    alert = next(d for d in drafted if d.event.kind == Kind.ALERT_FIRING)
    review_actions.save_review(
        review,
        by=lead,
        fields={},
        entries={note.event.pk: (True, "the rollback decision"), alert.event.pk: (False, "")},
    )
    doc = review_document(review)
    shown = {e["event_id"]: e for e in doc["timeline"]}
    assert shown[note.event.pk]["annotation"] == "the rollback decision"
    assert shown[note.event.pk]["text"] == describe(note.event)
    assert alert.event.pk not in shown
    # Only the choice is stored: id, shown flag, annotation.
    assert review.entries.count() == 2


def test_impact_durations_come_from_the_timeline(resolved):
    moments = {m["key"]: m for m in review_document(resolved.review)["impact"]["moments"]}
    assert moments["start"]["seconds_since_start"] == 0
    assert moments["detection"]["at"] == resolved.declared_at.isoformat()
    assert moments["acknowledgement"]["seconds_since_start"] == 4 * 60
    assert moments["mitigation"]["seconds_since_start"] == 20 * 60
    assert moments["resolution"]["seconds_since_start"] == 45 * 60


def test_runbook_feedback_lists_skipped_step_and_failed_check(resolved):
    feedback = review_document(resolved.review)["runbook_feedback"]
    outcomes = sorted(f["outcome"] for f in feedback)
    assert outcomes == ["check failed", "skipped"]
    skipped = next(f for f in feedback if f["outcome"] == "skipped")
    assert skipped["detail"] == "Replica already failed over"
    assert "/runbooks/" in skipped["url"] and "--step-" in skipped["url"]


def test_runbook_feedback_links_land_on_the_step_in_the_runbook_page(resolved, responder):
    """Each link's target is an element of the runbook version's page, and it is that step
    (its text), not the scenario heading."""
    from runbooks.models import StepRun
    from tests.runbooks.test_views import element, words

    client = client_for(responder)
    feedback = review_document(resolved.review)["runbook_feedback"]
    assert feedback
    for item in feedback:
        page, anchor = item["url"].split("#")
        response = client.get(page)
        assert response.status_code == 200
        target = element(response.content.decode(), anchor)
        assert target.found == 1 and target.tag in ("li", "div"), anchor
        step = StepRun.objects.get(run__incident=resolved, text=item["step"])
        assert anchor.endswith(f"--step-{step.position + 1}")
        assert words(item["step"])[:30].replace("`", "") in words(target.text)


def test_publish_freezes_a_revision_and_edits_need_a_new_one(resolved, lead, manager):
    review = resolved.review
    with pytest.raises(ActionError, match="root cause"):
        review_actions.publish(review, by=lead)
    fill(review, lead, "v1")
    review_actions.submit_for_review(review, by=lead)
    review_actions.publish(review, by=lead)
    review.refresh_from_db()
    assert review.state == "published" and review.published_by == lead
    event = resolved.events.get(kind=Kind.REVIEW_PUBLISHED)
    assert event.data == {"review_id": review.pk, "revision": 1}
    with pytest.raises(ActionError, match="read-only"):
        review_actions.save_review(review, by=lead, fields={"root_cause": "changed"})
    with pytest.raises(ActionError, match="read-only"):
        review_actions.add_action_item(review, by=lead, title="x")

    review_actions.start_revision(review, by=manager)
    review_actions.save_review(review, by=manager, fields={"root_cause": "A better cause"})
    review_actions.publish(review, by=manager)
    revisions = list(ReviewRevision.objects.filter(review=review).order_by("number"))
    assert [r.number for r in revisions] == [1, 2]
    assert revisions[0].content["root_cause"] == "Root cause v1"
    assert revisions[1].content["root_cause"] == "A better cause"
    assert resolved.events.filter(kind=Kind.REVIEW_PUBLISHED).count() == 2


def test_json_export_validates_against_its_schema(resolved, lead):
    review = resolved.review
    fill(review, lead, HOSTILE)
    review_actions.add_action_item(
        review,
        by=lead,
        title="Add canary",
        owner=lead,
        due_date=None,
        link="https://tracker.example/T-1",
    )
    doc = review_document(review)
    jsonschema.validate(doc, schema(), format_checker=jsonschema.FormatChecker())
    jsonschema.Draft202012Validator.check_schema(schema())
    assert doc["root_cause"] == f"Root cause {HOSTILE}"


def markdown_sections(text: str) -> tuple[list[str], list]:
    tokens = MarkdownIt("commonmark").parse(text)
    headings = [
        "".join(c.content for c in tokens[i + 1].children)
        for i, t in enumerate(tokens)
        if t.type == "heading_open"
    ]
    return headings, tokens


def test_markdown_has_every_section_and_user_text_round_trips(resolved, lead):
    review = resolved.review
    fill(review, lead, HOSTILE)
    review_actions.add_action_item(review, by=lead, title=f"Fix {HOSTILE}")
    text = to_markdown(review_document(review))
    headings, tokens = markdown_sections(text)
    for section in SECTIONS:
        assert section in headings, section
    html = MarkdownIt("commonmark").render(text)
    # Nothing the user typed became markup: no script, link, emphasis, code or heading.
    assert "<script>" not in html and '<a href="http://evil"' not in html
    assert "<strong>not bold</strong>" not in html and "<code>code</code>" not in html
    assert "&lt;script&gt;" in html
    # The text of the root-cause paragraph is exactly what was typed.
    i = next(
        i
        for i, t in enumerate(tokens)
        if t.type == "heading_open" and tokens[i + 1].content == "Root cause"
    )
    inline = tokens[i + 4]
    rendered = "".join(c.content for c in inline.children if c.type == "text")
    assert rendered == f"Root cause {HOSTILE}"
    # Timeline entries are there, in order, with the event text.
    timeline = [d for d in drafted_timeline(review) if d.shown]
    positions = [text.index(md_escape(d.text)) for d in timeline]
    assert positions == sorted(positions)


def test_md_escape_round_trips_every_ascii_punctuation():
    raw = "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()) + " 1. # - > +"
    html = MarkdownIt("commonmark").parse(md_escape(raw))
    inline = next(t for t in html if t.type == "inline")
    assert "".join(c.content for c in inline.children) == raw


def test_pdf_contains_every_section(resolved, lead):
    review = resolved.review
    fill(review, lead, "with <b>tags</b>")
    pdf = to_pdf(review_document(review))
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for section in SECTIONS:
        assert section in text, section
    assert "Root cause with <b>tags</b>" in text
    assert "Checkout health: CRITICAL · 812 ms" in text
    assert f"Page 1 of {len(reader.pages)}" in text


@pytest.mark.parametrize("fmt", ["md", "json", "pdf"])
def test_export_views_download(resolved, responder, fmt):
    response = client_for(responder).get(f"/incidents/{resolved.pk}/review/export.{fmt}")
    assert response.status_code == 200
    assert f"INC-{resolved.pk:04d}-checkout-returns-502.{fmt}" in response["Content-Disposition"]
    if fmt == "json":
        jsonschema.validate(json.loads(response.content), schema())


def test_unknown_export_format_is_404(resolved, responder):
    response = client_for(responder).get(f"/incidents/{resolved.pk}/review/export.docx")
    assert response.status_code == 404


def test_schema_is_served(client):
    response = client.get("/incidents/reviews/schema.json")
    assert response.status_code == 200
    assert json.loads(b"".join(response.streaming_content))["title"] == "Post-incident review"


def test_demo_p1_review_exports_every_section_with_its_timeline(manager):
    from django.core.management import call_command

    call_command("seed_demo", stdout=io.StringIO())
    published = PostIncidentReview.objects.get(incident__severity="P1", state="published")
    draft = PostIncidentReview.objects.get(state="draft", action_items__isnull=False)
    assert published.action_items.count() == 2 and draft.incident.severity == "P2"
    client = client_for(manager)
    base = f"/incidents/{published.incident_id}/review/export"
    doc = json.loads(client.get(f"{base}.json").content)
    jsonschema.validate(doc, schema())
    drafted = [d for d in drafted_timeline(published) if d.shown]
    assert [e["event_id"] for e in doc["timeline"]] == [d.event.pk for d in drafted]
    assert any(e["annotation"] == "The cause became clear here." for e in doc["timeline"])
    markdown = client.get(f"{base}.md").content.decode()
    headings, _ = markdown_sections(markdown)
    assert all(section in headings for section in SECTIONS)
    for d in drafted:
        assert md_escape(d.text) in markdown
    pdf = PdfReader(io.BytesIO(client.get(f"{base}.pdf").content))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert all(section in text for section in SECTIONS)
    assert "webhook signing secret was rolled" in text
    # Running the seed again writes nothing new.
    call_command("seed_demo", stdout=io.StringIO())
    assert PostIncidentReview.objects.filter(state="published").count() == 1
