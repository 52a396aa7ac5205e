"""Shared pieces of the escalation tests: on-call rotation members and a local HTTP server
that records what Slack or a webhook receiver would get."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.contrib.auth.models import Group, User

from incidents.escalation.defaults import PRIMARY_ROTATION
from incidents.escalation.defaults import install as install_defaults
from incidents.escalation.models import NotificationProfile, OnCallRotation, RotationMember
from incidents.permissions import LEAD, MANAGER, RESPONDER


def staff_the_ladder() -> dict[str, User]:
    """An on-call engineer in the primary rotation, a lead, a manager: one person per level
    group, each with an email address and a Slack member id."""
    # A transactional test before this one flushed the migration's defaults: put them back.
    install_defaults()
    people = {}
    for username, group, slack in [
        ("oncall-olga", RESPONDER, "U0ONCALL01"),
        ("lead-lars", LEAD, "U0LEADXX02"),
        ("cto-carmen", MANAGER, "U0CTOXXX03"),
    ]:
        user = User.objects.create_user(username, f"{username}@example.com", "x")
        user.groups.add(Group.objects.get(name=group))
        NotificationProfile.objects.create(user=user, slack_member_id=slack)
        people[username] = user
    rotation = OnCallRotation.objects.get(name=PRIMARY_ROTATION)
    rotation.starts_on = date(2020, 1, 6)
    rotation.save()
    RotationMember.objects.create(rotation=rotation, user=people["oncall-olga"], position=0)
    return people


class Recorder(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        server = self.server
        with server.lock:
            server.received.append({"headers": dict(self.headers), "body": body})
            status = server.statuses.pop(0) if server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok" if status < 400 else b"error")

    def log_message(self, *args) -> None:
        pass


@contextmanager
def receiving_server(statuses: list[int] | None = None) -> Iterator[ThreadingHTTPServer]:
    """A server on 127.0.0.1 recording each POST; answers `statuses` in turn, then 200."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.received = []
    server.statuses = list(statuses or [])
    server.lock = threading.Lock()
    server.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def json_bodies(server) -> list[dict]:
    with server.lock:
        return [json.loads(r["body"]) for r in server.received]
