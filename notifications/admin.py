from django.contrib import admin

from core.admin_actions import TableAdmin

from .models import Channel, Notification


@admin.register(Channel)
class ChannelAdmin(TableAdmin):
    list_display = ("name", "kind", "campaign", "enabled", "min_interval_seconds")
    list_filter = ("kind", "enabled")
    list_select_related = ("campaign",)
    raw_id_fields = ("campaign",)
    search_fields = ("name", "target")


@admin.register(Notification)
class NotificationAdmin(TableAdmin):
    list_display = ("id", "channel", "campaign", "status", "created", "sent_at", "attempts")
    list_filter = ("status", "channel")
    list_select_related = ("channel", "campaign")
    raw_id_fields = ("campaign",)
    readonly_fields = ("items", "error", "sent_at", "attempts")
