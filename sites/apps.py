from django.apps import AppConfig


class SitesConfig(AppConfig):
    """Data facilities' compute sites, their Butler repositories and PanDA queues."""

    name = "sites"
    verbose_name = "Sites"

    def ready(self) -> None:
        from core import actions, permissions, roles

        from . import tasks  # noqa: F401 - registers this app's Celery task names (core.queue)
        from .models import BackendHealth, ButlerRepo, PandaQueue, Site

        # Who may do what (core.permissions): site admins configure sites; deleting a site or a repository,
        # which campaigns and replicas point at, is staff's; backend health is written by the workers only.
        admin_sites, staff, nobody = roles.can_admin_sites, roles.is_staff_role, roles.nobody
        permissions.grant(Site, view=roles.can_view, add=admin_sites, change=admin_sites, delete=staff,
                          rinse=admin_sites)
        permissions.grant(ButlerRepo, view=roles.can_view, add=admin_sites, change=admin_sites, delete=staff)
        permissions.grant(PandaQueue, view=roles.can_view, add=admin_sites, change=admin_sites, delete=admin_sites)
        permissions.grant(BackendHealth, view=roles.can_view, add=nobody, change=nobody, delete=staff)
        actions.register(Site, ("drain", "take_offline", "bring_online"), role=admin_sites,
                         page=("sites:site", "code"))
