"""URL configuration: the UI, the admin, the API and its schema."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("msproc.api_urls")),
    path("", include("msproc.ui_urls")),
]

handler404 = "core.errors.not_found"
handler500 = "core.errors.server_error"
