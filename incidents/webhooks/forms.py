from __future__ import annotations

from django import forms

from incidents.webhooks.models import EventType, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event to send."},
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events"]
        widgets = {
            "url": forms.URLInput(
                attrs={"placeholder": "https://tracker.example.com/hooks/console"}
            ),
        }

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("The URL must start with https:// or http://.")
        return url
