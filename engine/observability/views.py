"""HTTP endpoints of observability: /metrics, /health/live, /health/ready. Thin: the work is elsewhere."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from engine.observability import access, collectors, health


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not access.may_scrape(request):
        if request.headers.get("Authorization") is None and settings.PHASEGATE_METRICS["TOKEN"]:
            response = HttpResponse("metrics need a bearer token\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponse("metrics are not available from here\n", status=403, content_type="text/plain")
    return HttpResponse(collectors.exposition(), content_type=CONTENT_TYPE_LATEST)


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    ok, checks = health.readiness()
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )
