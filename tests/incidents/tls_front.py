"""A TLS front for a live console on 127.0.0.1, for clients that insist on https:// (PagerDuty's
Python client refuses any other scheme). A self-signed certificate made with openssl for
127.0.0.1; each connection is decrypted and piped to the console's plain HTTP port."""

from __future__ import annotations

import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        with suppress(OSError):
            while chunk := source.recv(65536):
                target.sendall(chunk)
    finally:
        for sock in (source, target):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def tls_front(backend_port: int, folder: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    """Yields the https:// base URL and a client SSL context that trusts it."""
    cert, key = self_signed(folder)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                front = server_context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            back = socket.create_connection(("127.0.0.1", backend_port), timeout=30)
            upstream = threading.Thread(target=_pipe, args=(front, back), daemon=True)
            upstream.start()
            _pipe(back, front)
            upstream.join(timeout=30)
            front.close()
            back.close()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(cert))
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", client_context
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
