"""The public status page: /status/, /status.json, /status/incidents.json, /status/feed.atom.

No login. Each answer is rendered once per change (see public.cached) and carries
Cache-Control: public, an ETag and Last-Modified; a matching If-None-Match gets a 304.
"""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.template.loader import render_to_string
from django.utils.http import http_date
from django.views.decorators.http import require_safe

from incidents.statuspage import public

MAX_AGE = 30
FEED_ENTRIES = 50
ATOM = "http://www.w3.org/2005/Atom"


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _answer(request: HttpRequest, rendered: public.Rendered, content_type: str) -> HttpResponse:
    if rendered.etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(rendered.body, content_type=content_type)
    response["ETag"] = rendered.etag
    response["Last-Modified"] = http_date(rendered.last_modified.timestamp())
    response["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response["Vary"] = "Accept-Encoding"
    return response


@require_safe
def status_page(request: HttpRequest) -> HttpResponse:
    def build(data: dict) -> bytes:
        context = dict(data, history=public.history_by_day(data))
        return render_to_string("statuspage/status.html", context).encode()

    rendered = public.cached("html", _base_url(request), build)
    return _answer(request, rendered, "text/html; charset=utf-8")


def _json(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@require_safe
def status_json(request: HttpRequest) -> HttpResponse:
    rendered = public.cached(
        "summary", _base_url(request), lambda data: _json(public.summary_json(data))
    )
    response = _answer(request, rendered, "application/json")
    # Widgets on other sites read it.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def incidents_json(request: HttpRequest) -> HttpResponse:
    rendered = public.cached(
        "incidents", _base_url(request), lambda data: _json(public.incidents_json(data))
    )
    response = _answer(request, rendered, "application/json")
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def feed(request: HttpRequest) -> HttpResponse:
    rendered = public.cached("atom", _base_url(request), atom_feed)
    return _answer(request, rendered, "application/atom+xml; charset=utf-8")


def atom_feed(data: dict) -> bytes:
    """Atom 1.0: one entry per published update, newest first."""
    page = data["page"]
    ET.register_namespace("", ATOM)

    def sub(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    root = ET.Element(f"{{{ATOM}}}feed")
    sub(root, "id", f"{page['url']}feed.atom")
    sub(root, "title", f"{page['name']} · status updates")
    sub(root, "updated", page["updated_at"].isoformat())
    sub(root, "link", href=page["url"], rel="alternate", type="text/html")
    sub(root, "link", href=f"{page['url']}feed.atom", rel="self", type="application/atom+xml")
    sub(sub(root, "author"), "name", page["name"])
    entries = [
        (update, row) for row in data["incidents"] + data["history"] for update in row["updates"]
    ]
    entries.sort(key=lambda pair: (pair[0]["at"], int(pair[0]["id"])), reverse=True)
    for update, row in entries[:FEED_ENTRIES]:
        entry = sub(root, "entry")
        sub(entry, "id", f"{page['url']}#update-{update['id']}")
        sub(entry, "title", f"{update['title']} · {update['status_label']}")
        sub(entry, "updated", update["at"].isoformat())
        sub(entry, "published", update["at"].isoformat())
        sub(entry, "link", href=row["shortlink"], rel="alternate", type="text/html")
        components = ", ".join(c.display_name for c in update["components"])
        text = update["body"] + (f"\n\nAffected: {components}" if components else "")
        sub(entry, "content", text, type="text")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
