"""Template helpers of the UI: status badges coloured by their choices, byte sizes, action buttons."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from campaigns.choices import Status
from campaigns.summaries import human_duration
from core import permissions
from core.timing import format_seconds, span
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


# Event subjects with a page: model name -> URL name. A site's page is by code, which is its ``str()``.
_EVENT_PAGES = {"campaign": "campaigns:campaign", "step": "campaigns:step", "group": "campaigns:group",
                "movement": "transfers:movement"}


@register.simple_tag
def event_subject(event) -> str:
    """Name an event's object one way everywhere ("group #12", "movement #7", "site RAL"), linked to its page.

    No query: content types come from Django's cache, the id from the event row. The stored ``object_repr``
    (which may say it differently, e.g. a movement's key) is kept as the link's title.
    """
    from django.contrib.contenttypes.models import ContentType
    from django.urls import reverse

    model = ContentType.objects.get_for_id(event.content_type_id).model
    if model == "site" and "#" not in event.object_repr:
        return format_html('<a href="{}" title="{}">site {}</a>', reverse("sites:site", args=[event.object_repr]),
                           event.object_repr, event.object_repr)
    label = f"{model} #{event.object_id}"
    if model in _EVENT_PAGES:
        return format_html('<a href="{}" title="{}">{}</a>', reverse(_EVENT_PAGES[model], args=[event.object_id]),
                           event.object_repr, label)
    return format_html('<span title="{}">{}</span>', event.object_repr, label)


@register.simple_tag
def duration(start, end=None) -> str:
    """A duration to the second from ``start`` to ``end`` (to now, marked "so far", while ``end`` is None)."""
    delta = span(start, end)
    if delta is None:
        return mark_safe('<span class="muted">—</span>')
    text = format_seconds(delta.total_seconds())
    if end is None:
        return format_html('<span class="duration running" title="still going">{} so far</span>', text)
    return format_html('<span class="duration">{}</span>', text)


@register.filter
def seconds_h(value) -> str:
    """A number of seconds as a duration to the second ("1h 02m 03s")."""
    return format_seconds(float(value or 0))


@register.filter
def in_state(changed) -> str:
    """Time since ``changed`` (an object's ``status_changed_at``), to the second."""
    delta = span(changed, None)
    return format_seconds(delta.total_seconds()) if delta is not None else "—"


@register.filter
def when(value) -> str:
    """A time to the second, UTC as the pages show every time ("—" when unset)."""
    if value is None:
        return "—"
    from django.utils import timezone

    return format_html('<time datetime="{}">{}</time>', value.isoformat(),
                       timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S"))


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template (None when missing)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def verb_label(verb: str) -> str:
    return verb.replace("_", " ")


# Verbs that give up on work, skip a check or take capacity away: their buttons are red, every other one is plain.
DESTRUCTIVE_VERBS = frozenset({"reject", "cancel", "force_accept", "take_offline", "drain", "rinse"})


@register.filter
def verb_class(verb: str) -> str:
    """The button class of a verb: ``btn-danger`` for the destructive ones, ``btn-primary`` for the others."""
    return "btn-danger" if verb in DESTRUCTIVE_VERBS else "btn-primary"


@register.inclusion_tag("includes/actions.html", takes_context=True)
def action_buttons(context, obj, verbs):
    """Links to the confirmation page of each of ``verbs`` on ``obj`` the user may perform (the permission
    table's row of each verb)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    allowed = [verb for verb in verbs if permissions.allows(user, obj, verb)]
    return {"obj": obj, "verbs": allowed, "label": obj._meta.label_lower, "request": request}


@register.filter(name="duration")
def duration_filter(value) -> str:
    """A timedelta for people: "45 s", "30 min", "2 h", "1 d 6 h"."""
    return human_duration(value) if value is not None else ""
