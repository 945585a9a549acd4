"""API routes (/api/v1/...) and the OpenAPI schema (/api/schema/, Swagger UI at /api/schema/swagger-ui/)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("v1/", include(("sites.api.urls", "sites-api"))),
    path("v1/", include(("transfers.api.urls", "transfers-api"))),
    path("v1/", include(("campaigns.api.urls", "campaigns-api"))),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("schema/swagger-ui/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-swagger-ui"),
]
