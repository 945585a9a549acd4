from django.contrib import admin

from core.admin_actions import TableAdmin, VerbsOnlyAdmin, transition_action

from .models import Campaign, CampaignTemplate, ErrorRule, Group, Heartbeat, Job, Stage, StallThreshold, Step


@admin.register(CampaignTemplate)
class CampaignTemplateAdmin(TableAdmin):
    list_display = ("name", "version", "created")
    search_fields = ("name", "description")


@admin.register(Campaign)
class CampaignAdmin(VerbsOnlyAdmin):
    """Campaigns are made from a spec (UI, API, ``plan_campaign``); here only the owner changes. A campaign
    is deleted only once finished (a live one is rejected first, which cancels its work at the backends)."""

    list_display = ("name", "status", "hub", "owner", "created", "started_at", "finished_at")
    list_filter = ("status", "hub")
    search_fields = ("name", "output_prefix")
    list_select_related = ("hub", "owner")
    raw_id_fields = ("template", "owner")
    editable_fields = ("owner",)
    creatable = False
    actions = [transition_action("start", "Start"), transition_action("pause", "Pause"),
               transition_action("resume", "Resume"), transition_action("reject", "Reject")]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would delete live campaigns too
        return actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return (obj is None or obj.is_finished) and super().has_delete_permission(request, obj)


@admin.register(Stage)
class StageAdmin(VerbsOnlyAdmin):
    editable_fields = ()
    creatable = deletable = False
    list_display = ("name", "campaign", "order")
    list_filter = ("campaign",)
    search_fields = ("name", "campaign__name")
    list_select_related = ("campaign",)


@admin.register(Step)
class StepAdmin(VerbsOnlyAdmin):
    """Planned steps: only the memory asked of the next attempts is an operator's to change."""

    list_display = ("name", "campaign", "stage", "scope", "order", "status", "memory_mb")
    list_filter = ("status", "scope", "campaign")
    search_fields = ("name", "campaign__name")
    list_select_related = ("campaign", "stage")
    raw_id_fields = ("campaign", "stage")
    editable_fields = ("memory_mb",)
    creatable = deletable = False
    actions = [transition_action("pause", "Pause"), transition_action("resume", "Resume"),
               transition_action("force_accept", "Force-accept")]


@admin.register(Group)
class GroupAdmin(VerbsOnlyAdmin):
    """Read-only but for the actions: a group's site changes by reassignment (re-planning), never here."""

    list_display = ("id", "step", "campaign", "site", "ordinal", "status", "attempts", "error_rule",
                    "status_changed_at")
    list_filter = ("status", "site", "step__name", "error_rule")
    search_fields = ("data_query", "last_error", "campaign__name")
    list_select_related = ("step", "campaign", "site", "error_rule")
    raw_id_fields = ("campaign", "step", "site", "error_rule")
    editable_fields = ()
    creatable = deletable = False
    actions = [transition_action("retry", "Retry"), transition_action("rescue", "Rescue"),
               transition_action("force_accept", "Force-accept"), transition_action("reject", "Reject")]


@admin.register(Job)
class JobAdmin(VerbsOnlyAdmin):
    list_display = ("workflow_name", "group", "attempt", "backend", "status", "quanta_expected",
                    "quanta_succeeded", "quanta_failed", "submitted_at", "finished_at")
    list_filter = ("status", "backend", "rescue")
    search_fields = ("workflow_name", "run_collection", "error")
    list_select_related = ("group", "error_rule")
    raw_id_fields = ("group", "error_rule")
    editable_fields = ()
    creatable = deletable = False


@admin.register(ErrorRule)
class ErrorRuleAdmin(TableAdmin):
    list_display = ("name", "pattern", "action", "priority", "max_retries", "enabled")
    list_filter = ("action", "enabled")
    search_fields = ("name", "pattern", "description")


@admin.register(StallThreshold)
class StallThresholdAdmin(TableAdmin):
    """Staff set how long a state may last before the home page calls it stalled.

    One row per (kind, state), seeded by the migration: only ``after`` is edited here.
    """

    list_display = ("kind", "status", "after")
    list_editable = ("after",)
    list_filter = ("kind",)
    readonly_fields = ("kind", "status")
    creatable = deletable = False


@admin.register(Heartbeat)
class HeartbeatAdmin(TableAdmin):
    list_display = ("kind", "name", "pid", "started_at", "last_seen", "stopped")
    list_filter = ("kind", "stopped")
    readonly_fields = ("kind", "name", "pid", "started_at", "last_seen", "stopped", "details")
