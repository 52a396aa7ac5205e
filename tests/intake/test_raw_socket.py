"""Through gunicorn as deployed, on raw sockets: a chunked body is read (up to the 1 MB bound),
and a 413 on a kept-alive connection says `Connection: close` and closes it, so the client's
next request is never taken for the rest of the refused body. A real worker then drains."""

from __future__ import annotations

import json
import socket

import pytest
from django.core.cache import cache

from console.celery import app
from incidents.intake.models import InboundEvent
from incidents.intake.views import MAX_BODY
from incidents.models import Incident
from tests.incidents.payloads import ALERTMANAGER
from tests.incidents.test_intake import make_integration
from tests.intake.gunicorn import gunicorn
from tests.waiting import wait_for
from tests.workers import worker_processes


def request_head(path: str, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunks(body: bytes, size: int = 700) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
             for i in range(0, len(body), size)]  # fmt: skip
    return b"".join(parts) + b"0\r\n\r\n"


def response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response (status, headers, body) read off the socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(status_line.split()[1]), headers, body


def closed(sock: socket.socket) -> bool:
    """The server closed its side: EOF (or a reset) on the next read."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def payload(group: str) -> bytes:
    body = json.loads(json.dumps(ALERTMANAGER))
    body["groupKey"] = group
    for alert in body["alerts"]:
        alert["fingerprint"] = f"{group}-{alert['fingerprint']}"
    return json.dumps(body).encode()


@pytest.mark.django_db(transaction=True)
def test_chunked_bodies_and_a_413_on_keep_alive_through_gunicorn():
    integration, token = make_integration()
    path = f"/hooks/alertmanager/{token}/"
    cache.clear()
    app.control.purge()
    with gunicorn() as base, worker_processes("raw-socket@test"):
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            # Two chunked deliveries on one kept-alive connection.
            for group in ("chunked-1", "chunked-2"):
                sock.sendall(
                    request_head(path, Transfer_Encoding="chunked") + chunks(payload(group))
                )
                status, headers, body = response(sock)
                assert status == 202, body
                assert headers["connection"] == "keep-alive"
            # A chunked body over the bound: 413, and this connection is closed after it.
            big = payload("too-big").replace(
                b'"receiver"', b'"pad": "' + b"p" * MAX_BODY + b'", "receiver"'
            )
            sock.sendall(request_head(path, Transfer_Encoding="chunked") + chunks(big, 65536))
            status, headers, body = response(sock)
            assert status == 413 and "over 1048576 bytes" in json.loads(body)["error"]
            assert headers["connection"] == "close" and closed(sock)

        # Declared too large: answered before the body is sent, then closed; the client's next
        # request on it can't be mistaken for body bytes.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(request_head(path, Content_Length=str(2 * MAX_BODY)) + b" " * 4096)
            status, headers, body = response(sock)
            assert status == 413 and headers["connection"] == "close" and closed(sock)

        # A body exactly at the bound, chunked, is read whole (and refused only for what it is).
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            exact = payload("exact")
            exact = exact[:-1] + b', "pad": "' + b"p" * (MAX_BODY - len(exact) - 11) + b'"}'
            assert len(exact) == MAX_BODY
            sock.sendall(request_head(path, Transfer_Encoding="chunked") + chunks(exact, 65536))
            status, headers, body = response(sock)
            assert status == 202, body

        assert wait_for(lambda: not InboundEvent.objects.filter(state="pending").exists(), 60)
    assert InboundEvent.objects.count() == 3
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}
    assert Incident.objects.count() == 3
    assert not Incident.objects.filter(alerts__isnull=True).exists()
    assert all(i.alerts.count() == 2 for i in Incident.objects.all())
