from django.apps import AppConfig


class SitesConfig(AppConfig):
    """Data facilities' compute sites, their Butler repositories and PanDA queues."""

    name = "sites"
    verbose_name = "Sites"
