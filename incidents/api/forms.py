from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

EXPIRY_CHOICES = [
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    ("never", "Never"),
]


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "e.g. CI declare script"}),
        error_messages={"required": "Name the token after what will use it."},
    )
    access = forms.ChoiceField(
        choices=[("read_write", "Read and write"), ("read_only", "Read only")],
        initial="read_write",
        widget=forms.RadioSelect,
    )
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90")

    def expires_at(self):
        days = self.cleaned_data["expires"]
        return None if days == "never" else timezone.now() + timedelta(days=int(days))
