"""Reassigning a site's pending groups: a confirmation form, then ``services.reassign_site_groups`` per campaign."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import FormView

from campaigns import services
from campaigns.forms import ReassignForm
from campaigns.models import Campaign
from campaigns.summaries import ACTIVE_CAMPAIGN
from core.htmx import RoleRequiredMixin
from core.models import Event
from sites.models import Site


def reassignable_campaigns(site: Site) -> QuerySet[Campaign]:
    """Return the active campaigns with pending groups at ``site``, each annotated with ``pending`` (one query)."""
    return (
        Campaign.objects.filter(status__in=ACTIVE_CAMPAIGN)
        .annotate(pending=Count("groups", filter=Q(groups__site=site,
                                                   groups__status__in=services.PENDING_FOR_REASSIGN)))
        .filter(pending__gt=0)
        .order_by("-created")
    )


def attach_reassign_error(form: ReassignForm, exc: services.ReassignError, campaign: Campaign | None = None) -> None:
    """Show a ReassignError next to the field its message starts with ("to_site: ..."), else above the form."""
    field, sep, text = str(exc).partition(": ")
    prefix = f"{campaign.name}: " if campaign is not None and len(form.cleaned_data.get("campaigns", ())) > 1 else ""
    if sep and field in form.fields:
        form.add_error(field, prefix + text)
    else:
        form.add_error(None, prefix + str(exc))


class ReassignView(RoleRequiredMixin, FormView):
    """GET: choose the campaigns and the destination; POST: reassign, all campaigns or none.

    Each campaign's reassignment is logged on its groups (by the service) and on the site, with the comment.
    """

    form_class = ReassignForm
    template_name = "sites/reassign.html"
    permission = ("campaigns.campaign", "reassign")

    @cached_property
    def site(self) -> Site:
        return get_object_or_404(Site, code=self.kwargs["code"])

    def get_initial(self) -> dict[str, Any]:
        chosen = self.request.GET.getlist("campaign")
        return {"campaigns": [pk for pk in chosen if pk.isdigit()]} if chosen else {}

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs.update(from_site=self.site, campaigns=reassignable_campaigns(self.site))
        return kwargs

    def get_form(self, form_class=None) -> ReassignForm:
        form = super().get_form(form_class)
        if not form.is_bound and "campaigns" not in form.initial:
            form.initial["campaigns"] = [campaign.pk for campaign in form.fields["campaigns"].queryset]
        return form

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(site=self.site, back=self._back(), **kwargs)

    def _back(self) -> str:
        target = self.request.POST.get("next") or self.request.GET.get("next")
        if target and url_has_allowed_host_and_scheme(target, {self.request.get_host()}):
            return target
        return reverse("sites:site", kwargs={"code": self.site.code})

    def form_valid(self, form: ReassignForm):
        data = form.cleaned_data
        to_site, comment, actor, mode = data["to_site"], data["comment"], self.request.user, data["mode"]
        preview = bool(self.request.POST.get("preview"))
        results: list[tuple[Campaign, dict[str, Any]]] = []
        campaign = None
        try:
            with transaction.atomic():
                for campaign in data["campaigns"]:
                    counts = services.reassign_site_groups(campaign, self.site, to_site, mode=mode, preview=preview,
                                                           actor=actor, comment=comment)
                    if preview:
                        results.append((campaign, counts))
                        continue
                    results.append((campaign, counts))
                    self._log(campaign, to_site, counts, comment)
        except services.ReassignError as exc:
            attach_reassign_error(form, exc, campaign)
            return self.form_invalid(form)
        if preview:
            return self.render_to_response(self.get_context_data(form=form, previews=results))
        for campaign, counts in results:
            messages.success(self.request, describe(campaign, self.site, to_site, counts))
        return HttpResponseRedirect(self._back())

    def _log(self, campaign: Campaign, to_site: Site, counts: dict[str, int], comment: str) -> None:
        """One Event on the site (shown in its history and in the campaign's log) per campaign reassigned."""
        Event.objects.create(
            content_type=ContentType.objects.get_for_model(Site), object_id=self.site.pk,
            object_repr=str(self.site)[:200], campaign=campaign, verb="reassign_groups",
            from_status=self.site.status, to_status=self.site.status, actor=self.request.user,
            comment=f"{counts['groups']} groups -> {to_site.code}: {comment}",
        )


def describe(campaign: Campaign, from_site: Site, to_site: Site, counts: dict[str, Any]) -> str:
    """The message of one campaign's reassignment, with the counts the service returned."""
    groups = counts.get("groups", 0)
    remade = counts.get("groups_remade", 0)
    waits = counts.get("waits_for") or []
    return (f"{campaign.name}: {groups} pending group{'s' if groups != 1 else ''} moved"
            f" {from_site.code} → {to_site.code}"
            + (f", {remade} accepted group{'s' if remade != 1 else ''} to be made again there" if remade else "")
            + f"; movements {counts.get('movements_added', 0)} added,"
            f" {counts.get('movements_updated', 0)} updated, {counts.get('movements_cancelled', 0)} cancelled."
            + (f" Some movements wait for {', '.join(waits)} to be back online." if waits else ""))
