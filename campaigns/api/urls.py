"""Routes of the campaigns API (mounted under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from .views import (
    CampaignTemplateViewSet,
    CampaignViewSet,
    ErrorRuleViewSet,
    EventViewSet,
    GroupViewSet,
    JobViewSet,
    LivenessView,
    StageViewSet,
    StepViewSet,
)

router = SimpleRouter()
router.register("campaign-templates", CampaignTemplateViewSet, basename="campaigntemplate")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("stages", StageViewSet, basename="stage")
router.register("steps", StepViewSet, basename="step")
router.register("groups", GroupViewSet, basename="group")
router.register("jobs", JobViewSet, basename="job")
router.register("error-rules", ErrorRuleViewSet, basename="errorrule")
router.register("events", EventViewSet, basename="event")

from django.urls import path  # noqa: E402

urlpatterns = [path("liveness/", LivenessView.as_view(), name="liveness"), *router.urls]
