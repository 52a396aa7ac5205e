"""Real servers on 127.0.0.1 for the probe tests: HTTP(S) with scripted answers, a fake of the
Stripe REST paths the probe reads, a self-signed certificate, a private redis-server."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

Route = Callable[[BaseHTTPRequestHandler], tuple[int, dict, bytes]]


class Recorder:
    """What the server saw: requests by path, and the most requests in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.paths: list[str] = []
        self.queries: list[dict] = []

    def enter(self, path: str, query: dict) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.paths.append(path)
            self.queries.append(query)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


@contextmanager
def http_server(routes: dict[str, Route], certfile: Path | None = None) -> Iterator[tuple]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output readable
            pass

        def handle_any(self) -> None:
            parts = urlsplit(self.path)
            recorder.enter(parts.path, parse_qs(parts.query))
            try:
                route = routes.get(parts.path)
                status, headers, body = route(self) if route else (404, {}, b"not found")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            finally:
                recorder.leave()

        do_GET = do_HEAD = do_POST = handle_any

    server = QuietServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if certfile is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()


def json_answer(status: int, document: object, delay: float = 0) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> tuple[int, dict, bytes]:
        if delay:
            time.sleep(delay)
        return status, {"Content-Type": "application/json"}, json.dumps(document).encode()

    return route


def self_signed(directory: Path, days: int = 365, name: str = "127.0.0.1") -> Path:
    """A certificate + key for 127.0.0.1, valid for `days`, as one PEM file."""
    pem = directory / f"cert-{days}.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            str(days),
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=IP:{name}",
            "-keyout",
            str(pem),
            "-out",
            str(pem),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return pem


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def redis_server(*args: str) -> Iterator[str]:
    """A private redis-server on a free port, so tests can set maxmemory freely."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def stripe_routes(endpoints: list[dict], events: list[dict], charges: list[dict]) -> dict:
    """GET /v1/webhook_endpoints, /v1/events, /v1/charges as Stripe lists them."""

    def listing(url: str, items: list[dict]) -> Route:
        def route(handler: BaseHTTPRequestHandler) -> tuple[int, dict, bytes]:
            if handler.headers.get("Authorization") != "Bearer sk_test_console":
                body = {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}
                return 401, {"Content-Type": "application/json"}, json.dumps(body).encode()
            document = {"object": "list", "url": url, "has_more": False, "data": items}
            return 200, {"Content-Type": "application/json"}, json.dumps(document).encode()

        return route

    return {
        "/v1/webhook_endpoints": listing("/v1/webhook_endpoints", endpoints),
        "/v1/events": listing("/v1/events", events),
        "/v1/charges": listing("/v1/charges", charges),
    }
