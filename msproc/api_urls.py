"""API routes (/api/v1/...), the API root (/api/v1/) and the OpenAPI schema (/api/schema/, Swagger UI under it)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api.urls import router as accounts_router
from campaigns.api.urls import router as campaigns_router
from msproc.api_root import APIRootView
from sites.api.urls import router as sites_router
from transfers.api.urls import router as transfers_router

APPS = (("sites-api", "sites.api.urls", sites_router), ("transfers-api", "transfers.api.urls", transfers_router),
        ("campaigns-api", "campaigns.api.urls", campaigns_router),
        ("accounts-api", "accounts.api.urls", accounts_router))

urlpatterns = [
    path("v1/", APIRootView.as_view(routers=tuple((namespace, router) for namespace, _, router in APPS)),
         name="api-root"),
    *(path("v1/", include((module, namespace))) for namespace, module, _ in APPS),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("schema/swagger-ui/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-swagger-ui"),
]
