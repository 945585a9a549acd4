from django.apps import AppConfig


class TransfersConfig(AppConfig):
    """Dataset types, replicas and the movements of data between sites."""

    name = "transfers"
    verbose_name = "Transfers"

    def ready(self) -> None:
        from core import actions, permissions, roles
        from core.views import contribute
        from sites.signals import repository_ready

        from . import services, tasks, views  # noqa: F401 - tasks: registers this app's Celery task names (core.queue)
        from .backends import TransferBackendError
        from .models import DatasetType, Movement, Replica

        # Who may do what (core.permissions): movements are the planner's, changed only by their verbs.
        staff, nobody = roles.is_staff_role, roles.nobody
        permissions.grant(DatasetType, view=roles.can_view, add=staff, change=staff, delete=staff)
        permissions.grant(Replica, view=roles.can_view, add=staff, change=staff, delete=staff)
        permissions.grant(Movement, view=roles.can_view, add=nobody, change=nobody, delete=nobody)
        # Retrying or cancelling a movement retries or deletes its transfer (e.g. its Rucio rule) too.
        actions.register(Movement, ("retry", "cancel"), role=roles.can_operate,
                         services={"retry": services.retry_movement, "cancel": services.cancel_movement},
                         unavailable=(TransferBackendError,), page=("transfers:movement", "pk"))
        repository_ready.connect(services.record_new_repository, dispatch_uid="transfers-replicas-of-new-repository")
        # The site page (sites imports no app) shows what the site's repositories hold and what comes to it.
        contribute("sites.site", views.site_page)
