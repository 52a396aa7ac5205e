from __future__ import annotations

from django import forms

from incidents.models import Service, Status
from incidents.statuspage.models import CommsTemplate
from incidents.statuspage.render import placeholders

BODY_MAX = 5000


class StatusUpdateForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=CommsTemplate.objects.all(), required=False, widget=forms.HiddenInput
    )
    title = forms.CharField(
        max_length=200,
        label="Public title",
        error_messages={"required": "Give the update a public title."},
    )
    status = forms.ChoiceField(choices=Status.choices, label="Public status")
    components = forms.ModelMultipleChoiceField(
        queryset=Service.objects.filter(public=True).order_by("position", "name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Affected components",
    )
    body = forms.CharField(
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        label="Message",
        error_messages={"required": "Write the message stakeholders will read."},
    )
    allow_placeholders = forms.BooleanField(
        required=False, label="Publish with the bracketed text as written"
    )

    def __init__(self, *args, components=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if components is not None:
            # One query for the page: the public services, already loaded.
            self.fields["components"].choices = [(s.pk, s.display_name) for s in components]

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError("Give the update a public title.")
        return title

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError("Write the message stakeholders will read.")
        return body

    def clean(self) -> dict:
        data = super().clean()
        left = placeholders(data.get("body", "") or "")
        if left and not data.get("allow_placeholders"):
            self.add_error(
                "body",
                "Fill in or remove: " + ", ".join(left) + " (or tick “publish as written”).",
            )
        return data


class CommsTemplateForm(forms.ModelForm):
    class Meta:
        model = CommsTemplate
        fields = ["name", "severity", "body"]
        widgets = {
            "body": forms.Textarea(
                attrs={
                    "rows": 12,
                    "placeholder": "We are investigating an issue affecting [service]…",
                }
            ),
        }
        labels = {"severity": "Meant for severity"}
        error_messages = {
            "name": {"required": "Give the template a name."},
            "body": {"required": "A template needs some text."},
        }

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the template a name.")
        return name

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError("A template needs some text.")
        return body
