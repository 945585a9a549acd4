"""Forms of the UI: reassigning a site's groups, the campaign builder, recurring
campaigns."""

from __future__ import annotations

from django import forms
from django.db.models import Case, When
from django.urls import reverse_lazy

from core.forms import ActionForm
from sites.models import Site

from .models import Campaign, CampaignTemplate

DAYS_OF_WEEK = [("1", "Monday"), ("2", "Tuesday"), ("3", "Wednesday"), ("4", "Thursday"), ("5", "Friday"),
                ("6", "Saturday"), ("0", "Sunday")]


class ReassignForm(ActionForm):
    """Move the pending groups of chosen campaigns from a site that is down (``from_site``, fixed) to another.

    ``campaigns`` is the queryset of campaigns that may be chosen (each annotated with ``pending``, its
    pending groups at ``from_site``). Field names match the ones ``ReassignError`` messages start with.
    """

    from_site = forms.ModelChoiceField(Site.objects.all(), to_field_name="code", disabled=True, label="From site")
    campaigns = forms.ModelMultipleChoiceField(Campaign.objects.none(), widget=forms.CheckboxSelectMultiple,
                                               help_text="Active campaigns with pending groups at this site.")
    to_site = forms.ModelChoiceField(Site.objects.all(), to_field_name="code", label="To site",
                                     help_text="It must be online; the planner re-derives the movements to it.")
    field_order = ["from_site", "campaigns", "to_site", "comment"]

    def __init__(self, *args, from_site: Site, campaigns, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from_site"].initial = from_site
        self.fields["from_site"].queryset = Site.objects.filter(pk=from_site.pk)
        self.fields["campaigns"].queryset = campaigns
        self.fields["campaigns"].label_from_instance = (
            lambda campaign: f"{campaign.name} ({campaign.get_status_display().lower()},"
                             f" {campaign.pending} pending group{'s' if campaign.pending != 1 else ''})")
        self.fields["to_site"].queryset = Site.objects.exclude(pk=from_site.pk).order_by(
            Case(When(status="online", then=0), default=1), "code")
        self.fields["to_site"].label_from_instance = (
            lambda site: site.code if site.status == "online" else f"{site.code} ({site.get_status_display().lower()})")


class CampaignBuilderForm(forms.Form):
    """A campaign from a template or a spec (pasted or uploaded); previewed before saving."""

    name = forms.CharField(max_length=128, required=False, help_text="Leave empty to use the spec's name.")
    template = forms.ModelChoiceField(
        CampaignTemplate.objects.all(), required=False,
        help_text="Start from a template; its spec fills the box below.",
        # htmx swaps the spec box for the chosen template's spec (campaigns.views.builder.BuilderSpecView)
        widget=forms.Select(attrs={"hx-get": reverse_lazy("campaigns:builder-spec"), "hx-target": "#id_spec",
                                   "hx-swap": "outerHTML", "hx-trigger": "change"}),
    )
    spec_file = forms.FileField(required=False, label="Upload a spec", help_text="A YAML campaign spec.")
    spec = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false",
                                                                       "class": "code"}),
                           help_text="Campaign spec YAML (see docs/campaign-spec.md).")

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("spec_file")
        if upload:
            try:
                data["spec"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("spec_file", "The file is not UTF-8 text.")
        elif not (data.get("spec") or "").strip() and data.get("template"):
            data["spec"] = data["template"].spec
        if not (data.get("spec") or "").strip() and not self.errors:
            self.add_error("spec", "Pick a template, upload a spec or paste one.")
        return data


class RecurringCampaignForm(forms.Form):
    """Run a template every week at one site."""

    template = forms.ModelChoiceField(CampaignTemplate.objects.all())
    site = forms.ModelChoiceField(Site.objects.all(), to_field_name="code")
    day_of_week = forms.ChoiceField(choices=DAYS_OF_WEEK, initial="1")
    hour = forms.IntegerField(min_value=0, max_value=23, initial=6, help_text="UTC")
    minute = forms.IntegerField(min_value=0, max_value=59, initial=0)
