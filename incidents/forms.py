from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from incidents.models import (
    ACK_TARGETS,
    SEVERITY_MEANINGS,
    Incident,
    Role,
    Service,
    Severity,
    Status,
)

User = get_user_model()
NOTE_MAX_LENGTH = 10_000


def responders() -> QuerySet:
    """People who can hold a role: active users in any console group."""
    return User.objects.filter(is_active=True, groups__isnull=False).distinct().order_by("username")


class DeclareForm(forms.ModelForm):
    severity = forms.ChoiceField(
        choices=Severity.choices, widget=forms.RadioSelect, initial=Severity.P2
    )
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    # Blank: the declarer commands. Anyone else who can hold a role may be named instead.
    commander = forms.ModelChoiceField(
        queryset=responders(), required=False, empty_label="Me", label="Incident Commander"
    )

    class Meta:
        model = Incident
        fields = ["title", "severity", "services", "summary", "customer_impact"]
        widgets = {
            "title": forms.TextInput(
                attrs={"autofocus": True, "placeholder": "e.g. Checkout returns 502 for EU users"}
            ),
            "summary": forms.Textarea(attrs={"rows": 3, "placeholder": "What is happening?"}),
            "customer_impact": forms.Textarea(
                attrs={"rows": 2, "placeholder": "Who is affected and how?"}
            ),
        }

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if len(title) < 5:
            raise forms.ValidationError("Give the incident a title of at least 5 characters.")
        return title

    def severity_options(self) -> list[dict]:
        """The severity radios with what each level means and its acknowledgement target."""
        from datetime import timedelta

        from incidents.escalation.models import EscalationPolicy

        chosen = str(self["severity"].value() or "")
        # The escalation policies' targets (one query), the built-in ones where none is set.
        policy_targets = {
            severity: timedelta(minutes=minutes)
            for severity, minutes in EscalationPolicy.objects.values_list("severity", "ack_minutes")
        }
        return [
            {
                "value": s.value,
                "label": s.label.split("·")[-1].strip(),
                "meaning": SEVERITY_MEANINGS[s],
                "target": policy_targets.get(s.value, ACK_TARGETS[s]),
                "checked": s.value == chosen,
            }
            for s in Severity
        ]


class NoteForm(forms.Form):
    text = forms.CharField(
        max_length=NOTE_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Add a note to the timeline…"}),
        error_messages={"required": "Write something before adding the note."},
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)
    note = forms.CharField(max_length=2000, required=False)
    # The final public update published with a resolve (incidents/statuspage/final.py).
    final_update = forms.BooleanField(required=False)
    final_title = forms.CharField(max_length=200, required=False)
    final_body = forms.CharField(max_length=5000, required=False)
    final_template = forms.IntegerField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("final_update") and data.get("status") == Status.RESOLVED:
            if not (data.get("final_title") or "").strip():
                self.add_error("final_title", "The final update needs a public title.")
            if not (data.get("final_body") or "").strip():
                self.add_error("final_body", "The final update needs a message.")
        return data


class SeverityForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices)
    reason = forms.CharField(max_length=2000, required=False)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    user = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="— nobody —"
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = responders()


class AcknowledgeForm(forms.Form):
    on_behalf_of = forms.ModelChoiceField(queryset=User.objects.none(), required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["on_behalf_of"].queryset = responders()


class IncidentFilterForm(forms.Form):
    STATE_CHOICES = [("open", "Open"), ("resolved", "Resolved"), ("all", "All")]
    state = forms.ChoiceField(choices=STATE_CHOICES, required=False)
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    service = forms.ModelChoiceField(
        queryset=Service.objects.all(), required=False, empty_label="Any service"
    )
    mine = forms.BooleanField(required=False, label="Mine")
