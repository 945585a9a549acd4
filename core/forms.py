"""Forms every app's pages share."""

from __future__ import annotations

from django import forms


class ActionForm(forms.Form):
    """Confirms an operator action; the comment goes into the Event log."""

    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                              help_text="Why: recorded in the event log.")

    def clean_comment(self) -> str:
        comment = self.cleaned_data["comment"].strip()
        if not comment:
            raise forms.ValidationError("Say why.")
        return comment
