"""Forms of the UI: reassigning a site's groups, the campaign builder, recurring
campaigns."""

from __future__ import annotations

from django import forms
from django.db.models import Case, When
from django.urls import reverse_lazy

from core.forms import ActionForm
from planning.spec import SPEC_MAX_BYTES, SpecError, name_error, size_error
from sites.models import Site

from .models import Campaign, CampaignTemplate
from .recurring import recurring_name, recurring_spec
from .services import build_plan

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
                                     help_text="A site taking part in the campaigns; it must be online. The planner "
                                               "re-plans from what exists where.")
    mode = forms.ChoiceField(
        choices=[("remake", "Make the outputs the site already made again at the new site"),
                 ("wait", "Move those outputs from the site once it is back online")],
        initial="remake", required=False, widget=forms.RadioSelect, label="Outputs already made there",
        help_text="Preview first: it says which groups are made again and which movements wait for the site.")
    field_order = ["from_site", "campaigns", "to_site", "mode", "comment"]

    def clean_mode(self) -> str:
        return self.cleaned_data.get("mode") or "remake"

    def __init__(self, *args, from_site: Site, campaigns, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from_site"].initial = from_site
        self.fields["from_site"].queryset = Site.objects.filter(pk=from_site.pk)
        self.fields["campaigns"].queryset = campaigns
        self.fields["campaigns"].label_from_instance = (
            lambda campaign: f"{campaign.name} ({campaign.get_status_display().lower()},"
                             f" {campaign.pending} pending group{'s' if campaign.pending != 1 else ''})")
        # Only sites taking part in one of the campaigns (the service refuses, per campaign, any other).
        taking_part = {site["code"] for sites in campaigns.values_list("plan__sites", flat=True) for site in
                       (sites or [])}
        self.fields["to_site"].queryset = Site.objects.filter(code__in=taking_part).exclude(pk=from_site.pk).order_by(
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
    spec_file = forms.FileField(required=False, label="Upload a spec",
                                help_text="A YAML campaign spec; it replaces the pasted spec.")
    spec = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false",
                                                                       "class": "code"}),
                           help_text="Campaign spec YAML (see docs/campaign-spec.md).")

    def __init__(self, *args, upload_too_large: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.upload_too_large = upload_too_large

    def clean_name(self) -> str:
        name = self.cleaned_data.get("name") or ""
        problem = name_error(name) if name else None
        if problem:
            raise forms.ValidationError(f"The name {problem}.")
        return name

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("spec_file")
        if self.upload_too_large:  # dropped while it arrived (campaigns.views.builder.SpecUploadLimit)
            self.add_error("spec_file", f"The file is larger than {SPEC_MAX_BYTES:,} bytes, the most accepted.")
            return data
        if upload:
            # The size first: a huge upload is refused before it is read into memory or parsed.
            if upload.size > SPEC_MAX_BYTES:
                self.add_error("spec_file", f"The file is {upload.size:,} bytes; at most {SPEC_MAX_BYTES:,} are "
                                            "accepted.")
                return data
            try:
                data["spec"] = upload.read(SPEC_MAX_BYTES + 1).decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("spec_file", "The file is not UTF-8 text.")
        elif data.get("spec") and (too_big := size_error(data["spec"])) is not None:
            self.add_error("spec", f"{too_big.message[0].upper()}{too_big.message[1:]}.")
            return data
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

    def clean(self) -> dict:
        """Refuse a schedule whose runs could not be planned (each run would fail at its time, unseen)."""
        data = super().clean()
        template, site = data.get("template"), data.get("site")
        if template is not None and site is not None:
            name = recurring_name(template, site.code)
            try:
                build_plan(recurring_spec(template, site.code, name), name=name)
            except SpecError as exc:
                problems = "; ".join(str(error) for error in exc.errors[:5])
                self.add_error("template", f"A run of {template} at {site.code} would not plan: {problems}")
        return data
