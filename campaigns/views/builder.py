"""The campaign builder: a template or a spec, a preview of the plan per site, then save."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.generic import FormView, TemplateView

from campaigns import services
from campaigns.forms import CampaignBuilderForm
from campaigns.models import CampaignTemplate
from core.htmx import RoleRequiredMixin
from planning.spec import SPEC_MAX_BYTES, SpecError


class SpecUploadLimit(FileUploadHandler):
    """Drops an uploaded spec as soon as it passes ``SPEC_MAX_BYTES``: the rest is read and discarded, never
    kept in memory or on disk; the view then says the file is too large."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > SPEC_MAX_BYTES:
            self.request.spec_upload_too_large = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def plan_by_site(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Return, per site of a plan dict, what it runs (groups per step) and what it must receive (movements)."""
    hub = plan.get("hub")
    runs: dict[str, Counter] = defaultdict(Counter)
    for step in plan.get("steps", []):
        for group in step.get("groups", []):
            runs[group["site"]][step["name"]] += 1
    receives: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for movement in plan.get("movements", []):
        receives[movement["destination"]].append(movement)
    codes = [site["code"] for site in plan.get("sites", [])]
    for code in list(runs) + list(receives):
        if code not in codes:
            codes.append(code)
    step_order = [step["name"] for step in plan.get("steps", [])]
    return [
        {
            "code": code,
            "is_hub": code == hub,
            "share": next((s.get("share") for s in plan.get("sites", []) if s["code"] == code), None),
            "tracts": next((s.get("tracts") for s in plan.get("sites", []) if s["code"] == code), []),
            "runs": [(name, runs[code][name]) for name in step_order if runs[code][name]],
            "groups": sum(runs[code].values()),
            "receives": receives[code],
        }
        for code in codes
    ]


class BuilderSpecView(RoleRequiredMixin, TemplateView):
    """The builder's spec box holding the spec of the template chosen (``?template=<id>``; empty for none).

    The builder's template select fetches it with htmx when the choice changes.
    """

    template_name = "campaigns/_builder_spec.html"
    permission = ("campaigns.campaign", "plan")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        template_id = self.request.GET.get("template", "")
        template = CampaignTemplate.objects.filter(pk=template_id).first() if template_id.isdigit() else None
        return super().get_context_data(spec_text=template.spec if template else "", **kwargs)


@method_decorator(csrf_exempt, name="dispatch")  # checked in post(), once the upload handlers are set
class CampaignBuilderView(RoleRequiredMixin, FormView):
    """Preview (``action=preview``) plans the spec and saves nothing; ``action=save`` creates the campaign.

    Planning is the operators' (``plan``), saving staff's (``add``): the permission table's rows of a campaign.
    """

    form_class = CampaignBuilderForm
    template_name = "campaigns/builder.html"
    permission = ("campaigns.campaign", "plan")
    save_permission = ("campaigns.campaign", "add")

    @classmethod
    def operations(cls) -> list[tuple[str, str]]:
        return [*super().operations(), cls.save_permission]

    def post(self, request, *args: Any, **kwargs: Any):
        # Upload handlers can only change before the body is read, i.e. before the CSRF check reads it.
        request.upload_handlers.insert(0, SpecUploadLimit(request))
        try:
            request.POST  # noqa: B018 - read the body now, with the limit in place
        except RequestDataTooBig:  # pasted text beyond DATA_UPLOAD_MAX_MEMORY_SIZE: an answer, not a bare 400
            messages.error(request, f"The spec is too large: at most {SPEC_MAX_BYTES:,} bytes are accepted.")
            return self.render_to_response(self.get_context_data(form=self.get_form_class()()), status=400)
        return self._checked_post(request, *args, **kwargs)

    @method_decorator(csrf_protect)
    def _checked_post(self, request, *args: Any, **kwargs: Any):
        if request.POST.get("action") == "save":
            self.require(*self.save_permission)
        return super().post(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(),
                "upload_too_large": getattr(self.request, "spec_upload_too_large", False)}

    def get_initial(self) -> dict[str, Any]:
        initial = super().get_initial()
        template_id = self.request.GET.get("template")
        if template_id and template_id.isdigit():
            template = CampaignBuilderForm.base_fields["template"].queryset.filter(pk=template_id).first()
            if template:
                initial.update(template=template, spec=template.spec)
        return initial

    def form_valid(self, form: CampaignBuilderForm):
        return self._build(form)

    def _build(self, form: CampaignBuilderForm):
        data = form.cleaned_data
        spec_text = data["spec"]
        try:
            if self.request.POST.get("action") == "save":
                campaign = services.create_campaign_from_spec(
                    data.get("name") or None, spec_text, template=data.get("template"), owner=self.request.user
                )
                return HttpResponseRedirect(reverse("campaigns:campaign", kwargs={"pk": campaign.pk}))
            plan = services.preview_campaign(data.get("name") or None, spec_text)  # the checks of save, too
        except SpecError as exc:
            self._attach_spec_errors(form, exc)
            return self.render_to_response(self.get_context_data(form=form, spec_text=spec_text))
        return self.render_to_response(self.get_context_data(
            form=form, plan=plan, by_site=plan_by_site(plan), spec_text=spec_text,
        ))

    def _attach_spec_errors(self, form: CampaignBuilderForm, exc: SpecError) -> None:
        """Errors at ``name`` go next to the name field; every other spec path next to the spec."""
        spec_errors = []
        for error in exc.errors:
            if error.path == "name" and form.cleaned_data.get("name"):
                form.add_error("name", error.message)
            else:
                spec_errors.append({"path": error.path or "(whole spec)", "message": error.message})
        form.spec_errors = spec_errors
        if spec_errors:
            form.add_error("spec", f"The spec has {len(spec_errors)} problem(s); see the list beside it.")
