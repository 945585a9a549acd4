"""UI views of campaigns; one module per area (pages, actions, builder, recurring)."""

from .actions import GroupBulkActionView
from .builder import BuilderSpecView, CampaignBuilderView
from .figures import CampaignGraphView, CampaignTimelineView
from .pages import (
    CampaignDetailView,
    CampaignListView,
    ErrorSummaryView,
    EventListView,
    GroupDetailView,
    GroupListView,
    HomeView,
    StepDetailView,
)
from .reassign import ReassignView
from .recurring import RecurringDeleteView, RecurringView

__all__ = [
    "BuilderSpecView", "CampaignBuilderView", "CampaignDetailView", "CampaignListView",
    "CampaignGraphView", "CampaignTimelineView",
    "ErrorSummaryView", "EventListView", "GroupBulkActionView", "GroupDetailView", "GroupListView", "HomeView",
    "ReassignView", "RecurringDeleteView", "RecurringView", "StepDetailView",
]
