"""Error pages: the API answers in JSON, the UI with Django's pages (``handler404`` / ``handler500`` in urls).

With ``DEBUG`` on, Django shows its technical pages instead and these are not called.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: ``{"detail": ...}`` naming the path for the API, Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": f"No API endpoint or object at {request.path}."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: ``{"detail": ...}`` for the API (the traceback goes to the log, never to the client)."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Internal server error; the administrators have the details in the log."},
                            status=500)
    return defaults.server_error(request)
