from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaigns, their stages, steps, groups and jobs, error rules and the event log."""

    name = "campaigns"
    verbose_name = "Campaigns"
