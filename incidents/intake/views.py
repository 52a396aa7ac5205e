"""POST /hooks/<kind>/<token>/: authenticate by token (and the format's signature), bound the
body, rate-limit, validate with the format's reader (`formats`), store the raw delivery and
queue its processing (`process`); answer 202 in milliseconds.

Errors are JSON `{"error": "…"}` with the status a sender's retry logic understands: 400 for a
payload that will never work, 404 for an unknown token, 413 for a body over 1 MB, 429 with
Retry-After when the integration's per-minute budget is spent. With the broker down the
delivery is processed in the request instead of being lost.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from console.queue import enqueue
from incidents.intake import formats
from incidents.intake.formats import Reading, Refusal
from incidents.intake.formats.base import decode
from incidents.intake.models import InboundEvent, Integration, token_digest
from incidents.intake.process import (
    drain,
    kick_key,
    process_again,
    refresh_health_now_and_then,
    signature_failed,
)
from incidents.models import Incident

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024


def refuse(status: int, reason: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": reason}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def over_rate(integration: Integration) -> int:
    """Seconds until the next minute if the integration's budget for this minute is spent,
    else 0.

    No round trip: the budget is read from this process's last count of the integration's
    deliveries, which `kick` brings back from the shared counter (Redis in production; while
    the cache is down, this process's own count) with its claim, after the delivery is
    stored. A delivery refused here is not counted. Concurrent deliveries can pass on a count
    a few short of the budget, so it can be overrun by at most as many deliveries as are in
    flight at once (gunicorn's threads); one client sending in turn gets the budget exactly.
    """
    now = time.time()
    seen = _budget_seen.get(integration.pk)
    if (
        seen is not None
        and seen[0] == int(now // 60)
        and seen[1] >= integration.rate_limit_per_minute
    ):
        return max(1, int(60 - now % 60))
    return 0


def cache_unavailable() -> bool:
    return bool(getattr(cache, "unavailable", False))


# Integration id → (minute, deliveries counted in it) as this process last saw them.
_budget_seen: dict[int, tuple[int, int]] = {}


def count_delivery(integration_id: int, claim: str | None) -> bool:
    """Count a stored delivery in its integration's minute and, given a kick key, claim the
    drain (one round trip on Redis for both). True if this call claimed it, or if the cache
    is down (then publish: the broker's breaker decides)."""
    now = time.time()
    window = int(now // 60)
    key = f"hook-rate:{integration_id}:{window}"
    count, claimed = None, True
    both = getattr(cache, "incr_expiring_and_add", None)
    if claim is not None and both is not None:
        answer = both(key, 90, claim, KICK_SECONDS)
        if answer is not None:
            count, claimed = answer
    else:
        count = count_in_window(key, 90)
        if claim is not None:
            claimed = bool(cache.add(claim, 1, KICK_SECONDS)) or cache_unavailable()
    if count is None:
        count = count_here(key, window)
    if len(_budget_seen) >= LOOKUP_MAX:
        _budget_seen.clear()
    _budget_seen[integration_id] = (window, count)
    return claimed


_local_counts: dict[str, int] = {}
_local_window = [0]
_local_lock = threading.Lock()


def count_here(key: str, window: int) -> int:
    """The per-process fallback of count_in_window: this minute's counts, in memory."""
    with _local_lock:
        if _local_window[0] != window:
            _local_counts.clear()
            _local_window[0] = window
        _local_counts[key] = _local_counts.get(key, 0) + 1
        return _local_counts[key]


def count_in_window(key: str, ttl: int) -> int | None:
    """Add one to the key's count and return it (None when the cache is down). One round trip
    on Redis (INCR and EXPIRE pipelined); elsewhere (local memory) Django's incr."""
    pipelined = getattr(cache, "incr_expiring", None)
    if pipelined is not None:
        return pipelined(key, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # first delivery of this window
        return 1 if cache.add(key, 1, ttl) else cache.incr(key)


# Token → integration, remembered for a moment per process: the lookup is a fifth of a
# delivery's cost under load. A save in this process forgets at once (signals below); other
# processes see a rotated or disabled token within LOOKUP_SECONDS.
LOOKUP_SECONDS = 2.0
LOOKUP_MAX = 1000
_lookups: dict[str, tuple[float, Integration | None]] = {}


def find_integration(kind: str, token: str) -> Integration | None:
    digest = token_digest(token)
    now = time.monotonic()
    hit = _lookups.get(digest)
    if hit is None or hit[0] < now:
        if len(_lookups) >= LOOKUP_MAX:
            _lookups.clear()
        found = Integration.objects.filter(token_hash=digest, enabled=True).first()
        hit = _lookups[digest] = (now + LOOKUP_SECONDS, found)
    integration = hit[1]
    return integration if integration is not None and integration.kind == kind else None


@receiver([post_save, post_delete], sender=Integration)
def forget_integrations(**kwargs) -> None:
    _lookups.clear()
    _budget_seen.clear()


def chunked(request: HttpRequest) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over MAX_BODY (without reading more than that).

    A chunked body has no Content-Length, so Django's request stream is empty: it is read from
    the server's input instead, which gunicorn ends at the last chunk (`wsgi.input_terminated`).
    """
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    if chunked(request) and not declared:
        body = request.environ["wsgi.input"].read(MAX_BODY + 1)
    else:
        body = request.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


@csrf_exempt
def hook(request: HttpRequest, kind: str, token: str) -> JsonResponse:
    if request.method != "POST":
        return refuse(405, "POST the payload to this URL.", Allow="POST")
    integration = find_integration(kind, token)
    if integration is None or kind not in formats.FORMATS:
        return refuse(404, "No enabled integration of this kind has this token.")
    if chunked(request) and not request.environ.get("wsgi.input_terminated"):
        return refuse(
            411, "This server reads chunked bodies only behind gunicorn: send Content-Length."
        )
    body = read_body(request)
    if body is None:
        return too_large(request)
    retry_after = over_rate(integration)
    if retry_after:
        return refuse(
            429,
            f"Over {integration.rate_limit_per_minute} deliveries a minute for this integration.",
            Retry_After=str(retry_after),
        )
    try:
        formats.authenticate(kind, body, integration, request.headers)
    except Refusal as exc:
        if not exc.signature:
            return refuse(exc.status, exc.reason)
        signature_failed(integration, exc.reason, request.META.get("REMOTE_ADDR", ""))
        return refuse(400, f"Signature not verified: {exc.reason[:300]}")
    try:
        reading = formats.read(kind, body, integration)
    except Refusal as exc:
        return refuse(exc.status, exc.reason)
    except Exception:  # a reader's bug: keep the delivery, processing fails it visibly
        log.exception("the %s reader raised on a delivery to %s", kind, integration)
        reading = Reading([])
    text = decode(body)
    if reading.once_key:
        return store_once(integration, text, reading)
    return accepted(InboundEvent.objects.receive(integration, text))


def too_large(request: HttpRequest) -> JsonResponse:
    """413, and the connection closed after it: the rest of the body is not read, and a
    client that sends its next request on this connection must not have it taken for that."""
    response = refuse(413, f"The body is over {MAX_BODY} bytes.")
    close_after(request)
    return response


def close_after(request: HttpRequest) -> None:
    """Have the server close this connection once the response is sent (gunicorn drops a
    Connection header from the application, so its request is told instead)."""
    request.environ["console.close_connection"] = True


def store_once(integration: Integration, text: str, reading: Reading) -> JsonResponse:
    """Keep a delivery with an id once: a replay (same id) finds the first row and is not
    processed again."""
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                integration=integration,
                body=text,
                external_id=reading.once_key,
                event_type=reading.event_type,
            )
    except IntegrityError:
        first = InboundEvent.objects.filter(
            integration=integration, external_id=reading.once_key
        ).values_list("pk", "state")
        if not first:  # not the event-id constraint after all
            raise
        [(pk, state)] = first
        if state == InboundEvent.State.FAILED and process_again(first.filter(pk=pk)):
            # The first delivery failed: the sender's retry is a chance to process it again.
            return accepted(InboundEvent.objects.get(pk=pk))
        return JsonResponse({"status": "duplicate", "id": pk})
    return accepted(event)


def accepted(event: InboundEvent) -> JsonResponse:
    """Have the delivery processed: by a worker, or here when the broker is down."""
    refresh_health_now_and_then()
    if kick(event.integration_id):
        return JsonResponse({"id": event.pk, "status": "queued"}, status=202)
    process_here()
    state, incident = (
        InboundEvent.objects.filter(pk=event.pk).values_list("state", "incident_id").get()
    )
    processed = state != InboundEvent.State.PENDING
    return JsonResponse(
        {
            "id": event.pk,
            "status": state,
            "incident": Incident(pk=incident).reference if incident else None,
            "note": "The task queue is unavailable: "
            + ("processed in the request." if processed else "processed by this server shortly."),
        },
        status=202,
    )


# With the broker down, one request at a time per process processes what is pending (its own
# delivery and those that arrived meanwhile, collapsed by group); the others only say "more"
# and answer at once, instead of queueing on the same alerts' row locks.
HERE_PASSES = 4
_here_lock = threading.Lock()
_here_more = threading.Event()


def process_here() -> None:
    """Process pending deliveries in this request unless another request of this process is
    doing so: then it will, as it drains again while `_here_more` is set. A delivery stored
    before the flag is set is seen by the holder's next pass, or by this caller once the
    holder lets go. At most HERE_PASSES batches per request: under a flood, what is left
    goes to the next delivery's request (or the sweep, once the broker is back)."""
    _here_more.set()
    passes = 0
    while passes < HERE_PASSES and _here_more.is_set() and _here_lock.acquire(blocking=False):
        try:
            while passes < HERE_PASSES and _here_more.is_set():
                passes += 1
                _here_more.clear()
                drain(None, max_batches=1)
        finally:
            _here_lock.release()


# A processing task per integration at most this often; it drains every pending delivery.
KICK_SECONDS = 1


def kick(integration_id: int, *, delivery: bool = True) -> bool:
    """Count a stored delivery (see over_rate; `delivery=False` for a person's "Process
    again", which is not the sender's budget) and make sure a task will process this
    integration's pending deliveries; False if the broker can't take it.

    One publish per integration per KICK_SECONDS instead of one per delivery: a Celery publish
    costs about as much as the rest of the request, and under a burst (Alertmanager resending
    a whole group to many receivers) the task drains everything that arrived meanwhile. The
    delivery is stored before its kick, and the drain forgets the kick before its last pass,
    so a delivery either meets that last pass or kicks a new drain (see process_pending).
    That needs a cache shared with the worker (Redis, or the embedded default's file cache);
    with local memory every delivery kicks.
    """
    from incidents.tasks import process_pending

    key = kick_key(integration_id)
    shared = not isinstance(caches["default"], LocMemCache)
    if delivery:
        claimed = count_delivery(integration_id, key if shared else None)
    else:
        claimed = not shared or bool(cache.add(key, 1, KICK_SECONDS)) or cache_unavailable()
    if not claimed:
        return True  # a task is on its way
    if enqueue(process_pending, integration_id):
        return True
    if shared:
        cache.delete(key)
    return False
