"""Routes of the transfers API (mounted under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from .views import DatasetTypeViewSet, MovementViewSet, ReplicaViewSet

router = SimpleRouter()
router.register("dataset-types", DatasetTypeViewSet, basename="datasettype")
router.register("replicas", ReplicaViewSet, basename="replica")
router.register("movements", MovementViewSet, basename="movement")

urlpatterns = router.urls
