from django.contrib import admin

from core.admin_actions import transition_action

from .models import Campaign, CampaignTemplate, ErrorRule, Group, Heartbeat, Job, Stage, StallThreshold, Step


@admin.register(CampaignTemplate)
class CampaignTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "created")
    search_fields = ("name", "description")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "hub", "owner", "created", "started_at", "finished_at")
    list_filter = ("status", "hub")
    search_fields = ("name", "output_prefix")
    list_select_related = ("hub", "owner")
    raw_id_fields = ("template", "owner")
    readonly_fields = ("status", "status_changed_at")
    actions = [transition_action("start", "Start"), transition_action("pause", "Pause"),
               transition_action("resume", "Resume"), transition_action("reject", "Reject")]


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ("name", "campaign", "order")
    list_filter = ("campaign",)
    search_fields = ("name", "campaign__name")
    list_select_related = ("campaign",)


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ("name", "campaign", "stage", "scope", "order", "status", "memory_mb")
    list_filter = ("status", "scope", "campaign")
    search_fields = ("name", "campaign__name")
    list_select_related = ("campaign", "stage")
    raw_id_fields = ("campaign", "stage")
    filter_horizontal = ("depends_on",)
    readonly_fields = ("status", "status_changed_at")
    actions = [transition_action("pause", "Pause"), transition_action("resume", "Resume"),
               transition_action("force_accept", "Force-accept")]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("id", "step", "campaign", "site", "ordinal", "status", "attempts", "error_rule",
                    "status_changed_at")
    list_filter = ("status", "site", "step__name", "error_rule")
    search_fields = ("data_query", "last_error", "campaign__name")
    list_select_related = ("step", "campaign", "site", "error_rule")
    raw_id_fields = ("campaign", "step", "site", "error_rule")
    readonly_fields = ("status", "status_changed_at")
    actions = [transition_action("retry", "Retry"), transition_action("rescue", "Rescue"),
               transition_action("force_accept", "Force-accept"), transition_action("reject", "Reject")]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("workflow_name", "group", "attempt", "backend", "status", "quanta_expected",
                    "quanta_succeeded", "quanta_failed", "submitted_at", "finished_at")
    list_filter = ("status", "backend", "rescue")
    search_fields = ("workflow_name", "run_collection", "error")
    list_select_related = ("group", "error_rule")
    raw_id_fields = ("group", "error_rule")
    readonly_fields = ("status", "status_changed_at")


@admin.register(ErrorRule)
class ErrorRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "pattern", "action", "priority", "max_retries", "enabled")
    list_filter = ("action", "enabled")
    search_fields = ("name", "pattern", "description")


@admin.register(StallThreshold)
class StallThresholdAdmin(admin.ModelAdmin):
    """Staff set how long a state may last before the home page calls it stalled."""

    list_display = ("kind", "status", "after")
    list_editable = ("after",)
    list_filter = ("kind",)


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("kind", "name", "pid", "started_at", "last_seen", "stopped")
    list_filter = ("kind", "stopped")
    readonly_fields = ("kind", "name", "pid", "started_at", "last_seen", "stopped", "details")
