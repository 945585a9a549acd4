from django.contrib import admin

from core.admin_actions import TableAdmin, TableInline, VerbsOnlyAdmin, transition_action

from .models import BackendHealth, ButlerRepo, PandaQueue, Site


class PandaQueueInline(TableInline):
    """A site's PanDA queues, for whoever the permission table lets manage queues (site admins, staff)."""

    model = PandaQueue


@admin.register(Site)
class SiteAdmin(VerbsOnlyAdmin):
    """A site's configuration is edited here; its status only by the actions (drain, take offline, bring online)."""

    list_display = ("code", "name", "facility", "compute_site", "share", "is_hub", "status", "execution_backend",
                    "transfer_backend")
    list_filter = ("status", "facility", "is_hub", "execution_backend", "transfer_backend")
    search_fields = ("code", "name", "compute_site")
    inlines = [PandaQueueInline]
    actions = [transition_action("drain", "Drain"), transition_action("take_offline", "Take offline"),
               transition_action("bring_online", "Bring online")]


@admin.register(ButlerRepo)
class ButlerRepoAdmin(VerbsOnlyAdmin):
    """A repository's status and error are written by ``setup_sites`` through its verbs, never here."""

    list_display = ("name", "site", "root_uri", "status", "status_changed_at")
    list_filter = ("status", "site")
    search_fields = ("name", "root_uri", "site__code")
    list_select_related = ("site",)
    raw_id_fields = ("site",)
    readonly_fields = ("last_error",)


@admin.register(PandaQueue)
class PandaQueueAdmin(TableAdmin):
    list_display = ("name", "site", "kind", "memory_gb")
    list_filter = ("kind", "site")
    search_fields = ("name", "site__code")
    list_select_related = ("site",)


@admin.register(BackendHealth)
class BackendHealthAdmin(TableAdmin):
    """Read-only: the workers write it when a backend's service fails."""

    list_display = ("kind", "backend", "operation", "failures", "first_failure_at", "last_failure_at")
    list_filter = ("kind", "backend")
    readonly_fields = ("kind", "backend", "operation", "last_error", "failures", "first_failure_at",
                       "last_failure_at")

    creatable = False
