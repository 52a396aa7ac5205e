"""gunicorn's threaded worker, except that a new connection takes no thread until it speaks.

gunicorn 27's `gthread` worker hands every accepted connection straight to a pool thread,
which then waits up to 5 s for the request's first bytes. A browser's preconnects and any
idle or slow client each hold a thread that long: with 2 workers × 4 threads, six idle
sockets made a note POST wait 4.9 s while Django spent 20 ms on it (../shared/DESIGN.md,
"Measured on the embedded default"). Here a new connection waits on the worker's poller, as
gunicorn already does for kept-alive ones, and reaches a thread only once it is readable; one
that sends nothing for FIRST_BYTES_SECONDS is closed.

Used by `manage.py runconsole` (`--worker-class console.gunicorn_worker.ReadyThreadWorker`).
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

FIRST_BYTES_SECONDS = 10.0


class ReadyThreadWorker(ThreadWorker):
    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        # TConn leaves the socket non-blocking, as the poller needs.
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        # pending_conns is expired oldest first (murder_pending), so one timeout for all.
        conn.timeout = time.monotonic() + FIRST_BYTES_SECONDS
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )
