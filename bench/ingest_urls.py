"""The console's URLs plus `/bench/noop/`, a JSON view that does nothing (the ceiling intake is
measured against), and `/bench/store/`, which only stores the body as a pending delivery of
the benchmark's integration (the floor: what one durable write costs on this server)."""

import functools

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from incidents.intake.models import InboundEvent, Integration


@csrf_exempt
def noop(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"}, status=202)


@functools.cache
def bench_integration() -> Integration:
    return Integration.objects.get(name="bench")  # once per process, as the hook's cache does


@csrf_exempt
def store(request: HttpRequest) -> JsonResponse:
    event = InboundEvent.objects.receive(bench_integration(), request.body.decode())
    return JsonResponse({"id": event.pk, "status": "stored"}, status=202)


def progress(request: HttpRequest) -> JsonResponse:
    """The storm's progress: deliveries by state, incidents (and those open without alerts)."""
    from django.db.models import Count

    from incidents.models import Incident

    states = dict(InboundEvent.objects.order_by().values_list("state").annotate(n=Count("pk")))
    # This run's incidents: --reset deletes the integration (and its alerts), not incidents.
    prefix = f"alertmanager:{bench_integration().pk}:"
    ours = Incident.objects.filter(dedup_key__startswith=prefix)
    return JsonResponse(
        {
            "states": states,
            "incidents": ours.count(),
            "empty_open": Incident.objects.open()
            .filter(dedup_key__startswith=prefix, alerts__isnull=True)
            .count(),
        }
    )


urlpatterns = [
    path("bench/noop/", noop),
    path("bench/progress/", progress),
    path("bench/store/", store),
    path("", include("console.urls")),
]
