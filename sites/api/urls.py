"""Routes of the sites API (mounted under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from .views import BackendHealthViewSet, ButlerRepoViewSet, PandaQueueViewSet, SiteViewSet

router = SimpleRouter()
router.register("sites", SiteViewSet, basename="site")
router.register("butler-repos", ButlerRepoViewSet, basename="butlerrepo")
router.register("panda-queues", PandaQueueViewSet, basename="pandaqueue")
router.register("backend-health", BackendHealthViewSet, basename="backendhealth")

urlpatterns = router.urls
