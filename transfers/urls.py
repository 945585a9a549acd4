"""UI routes of movements."""

from django.urls import path

from . import views

app_name = "transfers"

urlpatterns = [
    path("", views.MovementListView.as_view(), name="movement-list"),
    path("<int:pk>/", views.MovementDetailView.as_view(), name="movement"),
    path("links/<str:source>/<str:destination>/", views.SitePairView.as_view(), name="site-pair"),
    path("volume/", views.VolumeView.as_view(), name="volume"),
]
