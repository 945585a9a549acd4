"""UI routes of campaigns, steps, groups, errors, events, the builder and recurring campaigns."""

from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.CampaignListView.as_view(), name="campaign-list"),
    path("new/", views.CampaignBuilderView.as_view(), name="builder"),
    path("new/spec/", views.BuilderSpecView.as_view(), name="builder-spec"),
    path("recurring/", views.RecurringView.as_view(), name="recurring"),
    path("recurring/<int:pk>/delete/", views.RecurringDeleteView.as_view(), name="recurring-delete"),
    path("errors/", views.ErrorSummaryView.as_view(), name="errors"),
    path("events/", views.EventListView.as_view(), name="event-list"),
    path("groups/", views.GroupListView.as_view(), name="group-list"),
    path("groups/bulk/<str:verb>/", views.GroupBulkActionView.as_view(), name="group-bulk"),
    path("groups/<int:pk>/", views.GroupDetailView.as_view(), name="group"),
    path("steps/<int:pk>/", views.StepDetailView.as_view(), name="step"),
    path("<int:pk>/", views.CampaignDetailView.as_view(), name="campaign"),
    path("<int:pk>/live/", views.CampaignDetailView.as_view(live=True), name="campaign-live"),
    path("<int:pk>/timeline/", views.CampaignTimelineView.as_view(), name="campaign-timeline"),
    path("<int:pk>/graph/", views.CampaignGraphView.as_view(), name="campaign-graph"),
]
