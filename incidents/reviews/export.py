"""A review as JSON (the documented schema), CommonMark and PDF.

The JSON document is the one source: Markdown and the PDF are rendered from it, and a
published revision is stored as it. User text is escaped for each format: backslash escapes
for every ASCII punctuation character in Markdown, Django's autoescape in the PDF's HTML.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string

from incidents.reviews.drafting import drafted_timeline, impact_moments, runbook_feedback
from incidents.reviews.models import PostIncidentReview

SCHEMA_PATH = Path(__file__).with_name("review.schema.json")
SCHEMA_ID = "/incidents/reviews/schema.json"
FORMAT_VERSION = 1
FORMATS = ("md", "json", "pdf")


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _user(user) -> str | None:
    return user.get_username() if user else None


def review_document(review: PostIncidentReview) -> dict:
    incident = review.incident
    events = drafted_timeline(review)
    moments = impact_moments(review, events)
    return {
        "$schema": SCHEMA_ID,
        "format_version": FORMAT_VERSION,
        "incident": {
            "id": incident.pk,
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity,
            "services": [s.name for s in incident.services.all()],
            "declared_at": _iso(incident.declared_at),
            "resolved_at": _iso(incident.resolved_at),
            "url": incident.get_absolute_url(),
        },
        "review": {
            "state": review.state,
            "revision": review.revision,
            "required": review.required,
            "opened_at": _iso(review.opened_at),
            "due_at": _iso(review.due_at),
            "published_at": _iso(review.published_at),
            "published_by": _user(review.published_by),
            "updated_at": _iso(review.updated_at),
            "updated_by": _user(review.updated_by),
        },
        "summary": review.summary,
        "impact": {
            "moments": [
                {
                    "key": m.key,
                    "label": m.label,
                    "at": _iso(m.at),
                    "seconds_since_start": (
                        round(m.since_start.total_seconds()) if m.since_start is not None else None
                    ),
                }
                for m in moments
            ],
            "users_affected": review.users_affected,
            "customer_facing": review.customer_facing,
        },
        "timeline": [
            {
                "event_id": d.event.pk,
                "at": _iso(d.at),
                "kind": d.event.kind,
                "text": d.text,
                "annotation": d.annotation,
            }
            for d in events
            if d.shown
        ],
        "root_cause": review.root_cause,
        "contributing_factors": review.contributing_factors,
        "fixes_applied": review.fixes_applied,
        "long_term_fixes": review.long_term_fixes,
        "action_items": [
            {
                "title": item.title,
                "owner": _user(item.owner),
                "due_date": item.due_date.isoformat() if item.due_date else None,
                "status": item.status,
                "link": item.link,
            }
            for item in review.action_items.select_related("owner").order_by("id")
        ],
        "lessons_learned": {"went_well": review.went_well, "could_improve": review.could_improve},
        "checklist": [
            {
                "item": item.text,
                "done": item.done,
                "done_by": _user(item.done_by),
                "done_at": _iso(item.done_at),
            }
            for item in review.checklist.select_related("done_by")
        ],
        "runbook_feedback": [
            {
                "runbook": f.runbook,
                "version": f.version,
                "scenario": f.scenario,
                "step": f.step,
                "outcome": f.outcome,
                "detail": f.detail,
                "url": f.url,
            }
            for f in runbook_feedback(review)
        ],
    }


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def to_json(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- Markdown -------------------------------------------------------------------------------

# What can start markup inside a line (CommonMark + GFM tables and strikethrough): emphasis,
# code, links and images, raw HTML and autolinks, entities. Escaping only these keeps the text
# readable as plain text too (`06:59`, `p95.`, `(EU)` stay as typed).
_INLINE = re.compile(r"([\\`*_\[\]<>&|~])")
# At the start of a line: headings, block quotes, list items, setext underlines, numbered lists.
_LINE_START = re.compile(r"^([#>+=-]|\d{1,9}(?=[.)]))")
EMPTY = "*Not written yet.*"


def md_escape(text: str) -> str:
    """One line of user text as CommonMark inline content that renders as exactly that text:
    the characters that could make markup are backslash-escaped, whitespace runs folded."""
    escaped = _INLINE.sub(r"\\\1", " ".join(str(text).split()))
    match = _LINE_START.match(escaped)
    if match and match.group(1).isdigit():
        # "1. " starts a list; "1\. " doesn't.
        end = match.end()
        return escaped[:end] + "\\" + escaped[end:]
    if match:
        return "\\" + escaped
    return escaped


def absolute(url: str) -> str:
    """A console path as a full link, so the exported file works outside the console."""
    if url.startswith("/"):
        return settings.CONSOLE_BASE_URL.rstrip("/") + url
    return url


def md_block(text: str) -> str:
    """Multi-line user text as paragraphs (blank lines separate them, single line breaks are
    kept as hard breaks)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", str(text).replace("\r\n", "\n")) if p.strip()]
    if not paragraphs:
        return EMPTY
    out = []
    for paragraph in paragraphs:
        lines = [md_escape(line) for line in paragraph.split("\n") if line.strip()]
        out.append("\\\n".join(lines))
    return "\n\n".join(out)


def _when(iso: str | None) -> str:
    return iso.replace("T", " ")[:19] + " UTC" if iso else "—"


def _secs(value: int | None) -> str:
    if value is None:
        return "—"
    minutes, seconds = divmod(abs(value), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def to_markdown(doc: dict) -> str:
    inc, rev, impact = doc["incident"], doc["review"], doc["impact"]
    lines = [
        f"# {md_escape(inc['reference'])} {md_escape(inc['title'])}: post\\-incident review",
        "",
        f"- Severity: {md_escape(inc['severity'])}",
        f"- Services: {md_escape(', '.join(inc['services'])) or '—'}",
        f"- Declared: {md_escape(_when(inc['declared_at']))}",
        f"- Resolved: {md_escape(_when(inc['resolved_at']))}",
        f"- Review: {md_escape(rev['state'].replace('_', ' '))}, revision {rev['revision']}"
        + (f", due {md_escape(_when(rev['due_at']))}" if rev["due_at"] else ", optional"),
        f"- Incident: <{absolute(inc['url'])}>",
        "",
        "## Summary",
        "",
        md_block(doc["summary"]),
        "",
        "## Impact",
        "",
    ]
    for m in impact["moments"]:
        since = f" (\\+{_secs(m['seconds_since_start'])})" if m["seconds_since_start"] else ""
        lines.append(f"- {md_escape(m['label'])}: {md_escape(_when(m['at']))}{since}")
    users = impact["users_affected"]
    lines += [
        f"- Users affected: {users if users is not None else 'unknown'}",
        f"- Customer\\-facing: {'yes' if impact['customer_facing'] else 'no'}",
        "",
        "## Timeline",
        "",
    ]
    if not doc["timeline"]:
        lines.append(EMPTY)
    for entry in doc["timeline"]:
        line = f"- **{md_escape(_when(entry['at']))}** {md_escape(entry['text'])}"
        if entry["annotation"].strip():
            line += f"\\\n  *{md_escape(entry['annotation'])}*"
        lines.append(line)
    for key, title in [
        ("root_cause", "Root cause"),
        ("contributing_factors", "Contributing factors"),
        ("fixes_applied", "Fixes applied"),
        ("long_term_fixes", "Long-term fixes"),
    ]:
        lines += ["", f"## {md_escape(title)}", "", md_block(doc[key])]
    lines += ["", "## Action items", ""]
    if not doc["action_items"]:
        lines.append("*None.*")
    for item in doc["action_items"]:
        title = md_escape(item["title"])
        if item["link"]:
            title = f"[{title}](<{item['link'].replace('>', '%3E').replace('<', '%3C')}>)"
        details = [item["status"].replace("_", " ")]
        details.append(f"owner {item['owner']}" if item["owner"] else "no owner")
        if item["due_date"]:
            details.append(f"due {item['due_date']}")
        lines.append(f"- {title}: {md_escape(', '.join(details))}")
    lessons = doc["lessons_learned"]
    lines += [
        "",
        "## Lessons learned",
        "",
        "### What went well",
        "",
        md_block(lessons["went_well"]),
        "",
        "### What could improve",
        "",
        md_block(lessons["could_improve"]),
        "",
        "## Post-incident checklist",
        "",
    ]
    for item in doc["checklist"]:
        done = f": done by {item['done_by']}, {_when(item['done_at'])}" if item["done"] else ""
        lines.append(f"- {'☑' if item['done'] else '☐'} {md_escape(item['item'] + done)}")
    lines += ["", "## Runbook feedback", ""]
    if not doc["runbook_feedback"]:
        lines.append("*Every runbook step that was followed went as written.*")
    for f in doc["runbook_feedback"]:
        where = md_escape(f"{f['runbook']} v{f['version']} › {f['scenario']}")
        what = md_escape(
            f"{f['outcome']}: {f['step']}" + (f" ({f['detail']})" if f["detail"] else "")
        )
        lines.append(f"- {what}: [{where}](<{absolute(f['url'])}>)")
    return "\n".join(lines) + "\n"


# --- PDF ------------------------------------------------------------------------------------

# WeasyPrint narrates every layout step at INFO; a bulk export would flood the worker's log.
logging.getLogger("weasyprint").setLevel(logging.WARNING)
PRINT_CSS = Path(settings.BASE_DIR) / "static" / "css" / "review_print.css"


def to_html(doc: dict) -> str:
    moments = [
        {
            **m,
            "when": _when(m["at"]),
            "since": "+" + _secs(m["seconds_since_start"])
            if m["seconds_since_start"] is not None
            else "—",
        }
        for m in doc["impact"]["moments"]
    ]
    context = {
        "doc": doc,
        "moments": moments,
        "declared": _when(doc["incident"]["declared_at"]),
        "published": _when(doc["review"]["published_at"]) if doc["review"]["published_at"] else "",
        "timeline": [{**e, "time": _when(e["at"])[11:19]} for e in doc["timeline"]],
    }
    return render_to_string("incidents/review_print.html", context)


def to_pdf(doc: dict) -> bytes:
    from weasyprint import CSS, HTML

    html = HTML(string=to_html(doc), base_url=str(settings.BASE_DIR))
    return html.write_pdf(stylesheets=[CSS(filename=str(PRINT_CSS))])


def export_filename(doc: dict, ext: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", doc["incident"]["title"].lower()).strip("-")[:50]
    return f"{doc['incident']['reference']}-{slug or 'review'}.{ext}"
