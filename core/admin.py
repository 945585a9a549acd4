"""The audit log in the admin: read-only, append-only."""

from django.contrib import admin

from .admin_actions import VerbsOnlyAdmin
from .models import Event


@admin.register(Event)
class EventAdmin(VerbsOnlyAdmin):
    """The audit log is append-only: only the verbs write it, nobody adds, edits or deletes a row here."""

    list_display = ("created", "object_repr", "content_type", "verb", "from_status", "to_status", "actor",
                    "campaign")
    list_filter = ("verb", "content_type", "to_status")
    search_fields = ("object_repr", "comment", "verb")
    list_select_related = ("content_type", "actor", "campaign")
    raw_id_fields = ("campaign", "actor")
    date_hierarchy = "created"
    editable_fields = ()
    creatable = deletable = False
