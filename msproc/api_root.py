"""The API root (``/api/v1/``): a link to every collection of every app, and to the schema and its docs."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import RolePermission


class APIRootView(APIView):
    """Every collection of the API with its URL, plus the OpenAPI schema and its Swagger UI."""

    permission_classes = [RolePermission]
    routers: tuple[tuple[str, object], ...] = ()  # (URL namespace, DRF router) of each app's API


    @extend_schema(exclude=True)
    def get(self, request, format=None):
        links = {}
        for namespace, router in self.routers:
            for prefix, _viewset, basename in router.registry:
                try:
                    links[prefix] = request.build_absolute_uri(reverse(f"{namespace}:{basename}-list"))
                except NoReverseMatch:  # a router without a list route
                    continue
        links["schema"] = request.build_absolute_uri(reverse("api-schema"))
        links["swagger-ui"] = request.build_absolute_uri(reverse("api-swagger-ui"))
        return Response(links)
