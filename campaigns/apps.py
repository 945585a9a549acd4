from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaigns, their stages, steps, groups and jobs, and error rules."""

    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from functools import partial

        from core import actions, permissions, roles
        from core.views import contribute

        from . import charts, services, summaries, tasks  # noqa: F401 - tasks: registers this app's Celery task names (core.queue)
        from .models import Campaign, CampaignTemplate, ErrorRule, Group, Heartbeat, Job, Stage, StallThreshold, Step

        # Who may do what (core.permissions). Creating a campaign, from a spec, a template or a weekly
        # schedule of one, is staff's (docs/security.md, "Roles"); operators plan specs (the builder's
        # preview, the API's plan/), act on what runs and reassign a site's groups. What the planner made is
        # changed only by the verbs but for a step's memory, which operators set for the next attempts.
        view, operate, staff, nobody = roles.can_view, roles.can_operate, roles.is_staff_role, roles.nobody
        permissions.grant(Campaign, view=view, add=staff, change=staff, delete=staff, plan=operate,
                          reassign=operate, schedule=staff)
        permissions.grant(CampaignTemplate, view=view, add=staff, change=staff, delete=staff)
        permissions.grant(ErrorRule, view=view, add=staff, change=staff, delete=staff)
        permissions.grant(Stage, view=view, add=nobody, change=nobody, delete=nobody)
        permissions.grant(Step, view=view, add=nobody, change=operate, delete=nobody)
        permissions.grant(Group, view=view, add=nobody, change=nobody, delete=nobody)
        permissions.grant(Job, view=view, add=nobody, change=nobody, delete=nobody)
        permissions.grant(StallThreshold, view=view, add=nobody, change=staff, delete=nobody)
        permissions.grant(Heartbeat, view=view, add=nobody, change=nobody, delete=staff)
        # Rejecting a campaign or a step gives up its unfinished groups and cancels their live attempts;
        # retrying, force-accepting or rejecting a group cancels its live attempt at the backend.
        actions.register(Campaign, ("start", "pause", "resume", "reopen", "reject"), role=operate,
                         services={"reject": services.reject_with_attempts}, page=("campaigns:campaign", "pk"))
        actions.register(Step, ("pause", "resume", "reopen", "force_accept", "reject"), role=operate,
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
