"""POST /hooks/<kind>/<token>/: authenticate by token (and the format's signature), bound the
body, rate-limit, validate with the format's reader (`formats`), store the raw delivery and
queue its processing (`process`); answer 202 in milliseconds.

Errors are JSON `{"error": "…"}` with the status a sender's retry logic understands: 400 for a
payload that will never work, 404 for an unknown token, 413 for a body over 1 MB, 429 with
Retry-After when the integration's per-minute budget is spent. With the broker down the
delivery is processed in the request instead of being lost.
"""

from __future__ import annotations

import time

from django.core.cache import cache
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
from incidents.intake.process import kick_key, process_event, signature_failed

MAX_BODY = 1024 * 1024


def refuse(status: int, reason: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": reason}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def over_rate(integration: Integration) -> int:
    """Seconds until the next minute if this delivery is over the integration's budget,
    else 0. Counted in the cache (Redis in production); a cache that is down limits nothing."""
    now = time.time()
    window = int(now // 60)
    key = f"hook-rate:{integration.pk}:{window}"
    count = count_in_window(key, 90)
    if count is not None and count > integration.rate_limit_per_minute:
        return max(1, int(60 - now % 60))
    return 0


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


def read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over MAX_BODY (without reading more than that)."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = request.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


@csrf_exempt
def hook(request: HttpRequest, kind: str, token: str) -> JsonResponse:
    if request.method != "POST":
        return refuse(405, "POST the payload to this URL.", Allow="POST")
    integration = find_integration(kind, token)
    if integration is None or kind not in formats.FORMATS:
        return refuse(404, "No enabled integration of this kind has this token.")
    body = read_body(request)
    if body is None:
        return refuse(413, f"The body is over {MAX_BODY} bytes.")
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
    text = decode(body)
    if reading.once_key:
        return store_once(integration, text, reading)
    return accepted(InboundEvent.objects.receive(integration, text))


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
        first = (
            InboundEvent.objects.filter(integration=integration, external_id=reading.once_key)
            .values_list("pk", flat=True)
            .first()
        )
        if first is None:  # not the event-id constraint after all
            raise
        return JsonResponse({"status": "duplicate", "id": first})
    return accepted(event)


def accepted(event: InboundEvent) -> JsonResponse:
    """Have the delivery processed: by a worker, or here when the broker is down."""
    if kick(event.integration_id):
        return JsonResponse({"id": event.pk, "status": "queued"}, status=202)
    outcome = process_event(event.pk)
    return JsonResponse(
        {
            "id": event.pk,
            "status": outcome.state,
            "incident": outcome.incident.reference if outcome.incident else None,
            "note": "The task queue is unavailable: processed in the request.",
        },
        status=202,
    )


# A processing task per integration at most this often; it drains every pending delivery.
KICK_SECONDS = 1


def kick(integration_id: int) -> bool:
    """Make sure a task will process this integration's pending deliveries; False if the
    broker can't take it.

    One publish per integration per KICK_SECONDS instead of one per delivery: a Celery publish
    costs about as much as the rest of the request, and under a burst (Alertmanager resending
    a whole group to many receivers) the task drains everything that arrived meanwhile. The
    delivery is stored before its kick, and the drain forgets the kick before its last pass,
    so a delivery either meets that last pass or kicks a new drain (see process_pending).
    """
    from incidents.tasks import process_pending

    key = kick_key(integration_id)
    if not cache.add(key, 1, KICK_SECONDS) and not getattr(cache, "unavailable", False):
        return True  # a task is on its way
    if enqueue(process_pending, integration_id):
        return True
    cache.delete(key)
    return False
