from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaigns, their stages, steps, groups and jobs, and error rules."""

    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from functools import partial

        from core import actions, roles
        from core.views import contribute

        from . import charts, services, summaries, tasks  # noqa: F401 - tasks: registers this app's Celery task names (core.queue)
        from .models import Campaign, Group, Step

        # Rejecting a campaign or a step gives up its unfinished groups and cancels their live attempts;
        # retrying, force-accepting or rejecting a group cancels its live attempt at the backend.
        actions.register(Campaign, ("start", "pause", "resume", "reopen", "reject"), role=roles.can_operate,
                         services={"reject": services.reject_with_attempts}, page=("campaigns:campaign", "pk"))
        actions.register(Step, ("pause", "resume", "reopen", "force_accept", "reject"), role=roles.can_operate,
                         services={"reject": services.reject_with_attempts}, page=("campaigns:step", "pk"))
        actions.register(Group, ("pause", "resume", "retry", "rescue", "force_accept", "reject"),
                         role=roles.can_operate,
                         services={verb: partial(services.act_on_group, verb=verb)
                                   for verb in services.ABANDONING_GROUP_VERBS},
                         page=("campaigns:group", "pk"))
        # The site pages (sites imports no app) show the groups at each site and what a rinse would disturb.
        contribute("sites.site_list", summaries.site_list_annotations)
        contribute("sites.site", summaries.site_page)
        contribute("sites.site", charts.site_page)
        contribute("sites.rinse", summaries.rinse_page)
