"""URL configuration: the UI, the admin, the API and its schema."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
