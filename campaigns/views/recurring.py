"""Recurring campaigns: a template run weekly at one site, stored as a django-celery-beat PeriodicTask."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import FormView, View
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from campaigns.forms import DAYS_OF_WEEK, RecurringCampaignForm
from campaigns.models import CampaignTemplate
from campaigns.recurring import last_recurring_runs
from core.htmx import RoleRequiredMixin, ViewerRequiredMixin

TASK = "campaigns.tasks.run_recurring"


def recurring_tasks() -> list[dict[str, Any]]:
    """Return the recurring campaign schedules with their template and how their last run went (four queries)."""
    tasks = list(PeriodicTask.objects.filter(task=TASK).select_related("crontab").order_by("name"))
    kwargs = {task.pk: json.loads(task.kwargs or "{}") for task in tasks}
    templates = CampaignTemplate.objects.in_bulk([k.get("template_id") for k in kwargs.values()])
    runs = last_recurring_runs((k.get("template_id"), k.get("site") or None) for k in kwargs.values())
    days = dict(DAYS_OF_WEEK)
    return [
        {
            "task": task,
            "template": templates.get(kwargs[task.pk].get("template_id")),
            "site": kwargs[task.pk].get("site", ""),
            "last": runs.get((kwargs[task.pk].get("template_id"), kwargs[task.pk].get("site") or None)),
            "day": days.get(task.crontab.day_of_week, task.crontab.day_of_week) if task.crontab else "",
            "time": f"{int(task.crontab.hour):02d}:{int(task.crontab.minute):02d} UTC" if task.crontab else "",
        }
        for task in tasks
    ]


class RecurringView(ViewerRequiredMixin, FormView):
    """List the weekly schedules to any role; staff add one (each run creates a campaign)."""

    form_class = RecurringCampaignForm
    template_name = "campaigns/recurring.html"
    permission = ("campaigns.campaign", "view")
    post_permission = ("campaigns.campaign", "schedule")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(schedules=recurring_tasks(), **kwargs)

    @transaction.atomic
    def form_valid(self, form: RecurringCampaignForm):
        data = form.cleaned_data
        template, site = data["template"], data["site"]
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(data["minute"]), hour=str(data["hour"]), day_of_week=data["day_of_week"],
            day_of_month="*", month_of_year="*", timezone="UTC",
        )
        name = f"weekly {template} at {site.code} ({dict(DAYS_OF_WEEK)[data['day_of_week']]}" \
               f" {data['hour']:02d}:{data['minute']:02d} UTC)"
        if PeriodicTask.objects.filter(name=name).exists():
            form.add_error(None, "That schedule exists already.")
            return self.form_invalid(form)
        PeriodicTask.objects.create(
            name=name, task=TASK, crontab=crontab,
            kwargs=json.dumps({"template_id": template.pk, "site": site.code}),
            description=f"Recurring campaign from template {template} at {site.code}, by {self.request.user}.",
        )
        messages.success(self.request, f"Scheduled: {name}.")
        return HttpResponseRedirect(reverse("campaigns:recurring"))


class RecurringDeleteView(RoleRequiredMixin, View):
    """POST: delete one recurring campaign schedule (staff, as adding one)."""

    permission = ("campaigns.campaign", "schedule")

    def post(self, request, pk: int):
        task = get_object_or_404(PeriodicTask, pk=pk, task=TASK)
        task.delete()
        messages.success(request, f"Deleted schedule: {task.name}.")
        return HttpResponseRedirect(reverse("campaigns:recurring"))
