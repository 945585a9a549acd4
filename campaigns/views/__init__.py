"""UI views of campaigns; one module per area (pages, actions, builder, recurring)."""

from .actions import GroupBulkActionView
from .builder import CampaignBuilderView
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
    "CampaignBuilderView", "CampaignDetailView", "CampaignListView", "ErrorSummaryView",
    "EventListView", "GroupBulkActionView", "GroupDetailView", "GroupListView", "HomeView", "ReassignView",
    "RecurringDeleteView", "RecurringView", "StepDetailView",
]
