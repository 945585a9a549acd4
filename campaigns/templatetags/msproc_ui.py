"""Template helpers of the UI: status badges coloured by their choices, byte sizes, action buttons."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from campaigns.choices import Status
from sites.choices import RepoStatus, SiteStatus
from transfers.choices import MovementStatus

register = template.Library()

_VOCABULARIES = {
    "campaign": Status, "step": Status, "group": Status, "job": Status,
    "movement": MovementStatus, "site": SiteStatus, "butlerrepo": RepoStatus,
}


@register.simple_tag
def badge(value: str, kind: str = "group") -> str:
    """Render a status as a badge coloured by its vocabulary's ``colour()``; ``kind`` names the model."""
    choices = _VOCABULARIES.get(kind, Status)
    try:
        label = choices(value).label
    except ValueError:
        label = value or "—"
    return format_html('<span class="badge badge-{}">{}</span>', choices.colour(value), label)


@register.filter
def status_badge(obj) -> str:
    """Badge of an object's ``status``, by its model."""
    return badge(obj.status, obj._meta.model_name)


@register.filter
def bytes_h(value) -> str:
    """Bytes in IEC units, e.g. 1.5 GiB."""
    size = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template (None when missing)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def verb_label(verb: str) -> str:
    return verb.replace("_", " ")


@register.inclusion_tag("includes/actions.html", takes_context=True)
def action_buttons(context, obj, verbs):
    """Links to the confirmation page of each of ``verbs`` on ``obj``, for users allowed to act.

    Site actions need the site admin role; every other action the operator role.
    """
    allowed = context.get("can_admin_sites") if obj._meta.model_name == "site" else context.get("can_operate")
    return {"obj": obj, "verbs": verbs if allowed else (), "label": obj._meta.label_lower,
            "request": context.get("request")}


@register.filter
def duration(value) -> str:
    """A timedelta for people: "45 s", "30 min", "2 h", "1 d 6 h"."""
    from campaigns.summaries import human_duration

    return human_duration(value) if value is not None else ""
