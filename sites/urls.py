"""UI routes of sites."""

from django.urls import path

from campaigns.views import ReassignView

from . import views

app_name = "sites"

urlpatterns = [
    path("", views.SiteListView.as_view(), name="site-list"),
    path("rinse-and-repeat/", views.RinseSitesView.as_view(), name="rinse"),
    path("<str:code>/", views.SiteDetailView.as_view(), name="site"),
    path("<str:code>/reassign/", ReassignView.as_view(), name="reassign"),
]
