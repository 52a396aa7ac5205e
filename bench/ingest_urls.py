"""The console's URLs plus `/bench/noop/`: a JSON view that does nothing, the ceiling intake
is measured against."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def noop(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"}, status=202)


urlpatterns = [path("bench/noop/", noop), path("", include("console.urls"))]
