from django.contrib import admin

from core.admin_actions import TableAdmin, VerbsOnlyAdmin, transition_action

from .models import DatasetType, Movement, Replica


@admin.register(DatasetType)
class DatasetTypeAdmin(TableAdmin):
    list_display = ("name", "storage_class", "dimensions")
    search_fields = ("name", "storage_class")


@admin.register(Replica)
class ReplicaAdmin(TableAdmin):
    list_display = ("dataset_type", "collection", "butler_repo", "count", "bytes", "updated")
    list_filter = ("butler_repo__site",)
    search_fields = ("dataset_type__name", "collection")
    list_select_related = ("dataset_type", "butler_repo", "butler_repo__site")
    raw_id_fields = ("dataset_type", "butler_repo")


@admin.register(Movement)
class MovementAdmin(VerbsOnlyAdmin):
    """Planned movements: read-only but for the actions (retry, cancel), which also act at the backend."""

    list_display = ("key", "campaign", "kind", "destination", "before_step", "status", "expected_count",
                    "ingested_count", "attempts", "status_changed_at")
    list_filter = ("status", "kind", "destination", "campaign")
    search_fields = ("key", "last_error", "campaign__name")
    list_select_related = ("campaign", "destination", "before_step")
    raw_id_fields = ("campaign", "destination", "before_step")
    editable_fields = ()
    creatable = deletable = False
    actions = [transition_action("retry", "Retry"), transition_action("cancel", "Cancel")]
