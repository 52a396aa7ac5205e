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


urlpatterns = [
    path("bench/noop/", noop),
    path("bench/store/", store),
    path("", include("console.urls")),
]
