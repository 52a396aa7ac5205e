"""Forms for escalation policies (a level formset), rotations, overrides and profiles."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from incidents.escalation.models import (
    LEVEL_CHANNELS,
    SLACK_MEMBER_ID,
    NotificationProfile,
    OnCallRotation,
)
from incidents.forms import responders

User = get_user_model()
MAX_LEVELS = 8


class PolicyForm(forms.Form):
    ack_minutes = forms.IntegerField(
        min_value=1, max_value=7 * 24 * 60, label="Acknowledgement target (minutes)"
    )


class LevelForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Who this level stands for")
    delay_minutes = forms.IntegerField(min_value=0, max_value=7 * 24 * 60, label="After (min)")
    users = forms.ModelMultipleChoiceField(queryset=User.objects.none(), required=False)
    group = forms.ModelChoiceField(queryset=Group.objects.order_by("name"), required=False)
    rotation = forms.ModelChoiceField(queryset=OnCallRotation.objects.all(), required=False)
    channels = forms.MultipleChoiceField(
        choices=LEVEL_CHANNELS, widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args, people=None, groups=None, rotations=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The querysets are evaluated once for the whole formset (see LevelFormSet).
        self.fields["users"].queryset = people if people is not None else responders()
        if groups is not None:
            self.fields["group"].queryset = groups
        if rotations is not None:
            self.fields["rotation"].queryset = rotations
        self.fields["users"].widget.attrs["size"] = 4

    def clean(self):
        data = super().clean()
        if not self.has_changed() or self.cleaned_data.get("DELETE"):
            return data
        if not (data.get("users") or data.get("group") or data.get("rotation")):
            raise ValidationError("Page someone: choose people, a group or a rotation.")
        if not data.get("channels"):
            self.add_error("channels", "Choose at least one channel.")
        return data


class BaseLevelFormSet(forms.BaseFormSet):
    def __init__(self, *args, **kwargs):
        people = responders()
        self._choices = {
            "people": people,
            "groups": Group.objects.order_by("name"),
            "rotations": OnCallRotation.objects.all(),
        }
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), **self._choices}

    def levels(self) -> list[dict]:
        """The filled-in levels, in order (an untouched extra row and deleted rows left out)."""
        return [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]

    def clean(self):
        if any(self.errors):
            return
        levels = self.levels()
        if not levels:
            raise ValidationError("A policy needs at least one level.")
        delays = [level["delay_minutes"] for level in levels]
        if delays != sorted(delays):
            raise ValidationError(
                "Levels must come in order: each level's delay at least the one before it."
            )


LevelFormSet = forms.formset_factory(
    LevelForm,
    formset=BaseLevelFormSet,
    extra=1,
    can_delete=True,
    max_num=MAX_LEVELS,
    validate_max=True,
)


def level_initial(level) -> dict:
    return {
        "name": level.name,
        "delay_minutes": level.delay_minutes,
        "users": [u.pk for u in level.users.all()],
        "group": level.group_id,
        "rotation": level.rotation_id,
        "channels": list(level.channels),
    }


class RotationForm(forms.ModelForm):
    members = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="Usernames in turn order, one per line",
    )

    class Meta:
        model = OnCallRotation
        fields = ["name", "period", "handoff_time", "timezone", "starts_on"]
        widgets = {
            # The browser's date and time inputs speak ISO, whatever the console's locale.
            "handoff_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "starts_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }

    def clean_timezone(self) -> str:
        value = self.cleaned_data["timezone"].strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                "Not a known time zone (an IANA name such as Europe/London)."
            ) from None
        return value

    def clean_members(self) -> list:
        names = [n.strip() for n in self.cleaned_data["members"].replace(",", "\n").splitlines()]
        names = [n for n in names if n]
        if len(set(names)) != len(names):
            raise ValidationError("Each person can be in the rotation once.")
        found = {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise ValidationError(f"No active user named {', '.join(unknown)}.")
        return [found[n] for n in names]


class OverrideForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.none(), label="Who covers")
    starts_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="From",
    )
    ends_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="Until",
    )
    reason = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, rotation: OnCallRotation, **kwargs):
        super().__init__(*args, **kwargs)
        self.rotation = rotation
        self.fields["user"].queryset = responders()

    def _in_rotation_zone(self, value: datetime) -> datetime:
        # The form's times are wall times of the rotation's zone, as the page shows them.
        return value.replace(tzinfo=None).replace(tzinfo=ZoneInfo(self.rotation.timezone))

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at"):
            data["starts_at"] = self._in_rotation_zone(data["starts_at"])
            data["ends_at"] = self._in_rotation_zone(data["ends_at"])
            if data["ends_at"] <= data["starts_at"]:
                self.add_error("ends_at", "The override must end after it starts.")
        return data


class ProfileForm(forms.ModelForm):
    class Meta:
        model = NotificationProfile
        fields = ["email", "slack_member_id"]
        labels = {"email": "Email for pages", "slack_member_id": "Slack member id"}

    def clean_slack_member_id(self) -> str:
        value = self.cleaned_data["slack_member_id"].strip()
        if value and not SLACK_MEMBER_ID.match(value):
            raise ValidationError(
                "A Slack member id looks like U024BE7LH: U or W, then capital letters and "
                "digits (in Slack: your profile → ⋮ → Copy member ID)."
            )
        return value
