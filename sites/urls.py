"""UI routes of sites."""

from django.urls import path

from . import views

app_name = "sites"

urlpatterns = [
    path("", views.SiteListView.as_view(), name="site-list"),
    path("rinse-and-repeat/", views.RinseSitesView.as_view(), name="rinse"),
    path("<str:code>/", views.SiteDetailView.as_view(), name="site"),
]
