"""Status page components: which services the public page shows, under what name, in what
order. Every change ends by replacing the public page's cache version after the commit:
single saves through Service's post_save (public.on_service_saved), reordering (a bulk
update, which sends no signal) explicitly.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from incidents.models import Service
from incidents.statuspage import public


def single_line(value: str) -> str:
    return " ".join(value.split())


class ComponentForm(forms.ModelForm):
    """The public name and description of one service (blank name: its internal name)."""

    class Meta:
        model = Service
        fields = ["public_name", "public_description"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        name = self.instance.name
        self.fields["public_name"].widget.attrs.update(
            {"placeholder": name, "aria-label": f"Public name of {name}"}
        )
        self.fields["public_description"].widget.attrs.update(
            {
                "placeholder": "One line under the name (optional)",
                "aria-label": f"Public description of {name}",
            }
        )

    def clean_public_name(self) -> str:
        value = single_line(self.cleaned_data.get("public_name") or "")
        shown = value or self.instance.name
        # Two components shown under one name can't be told apart on the public page.
        clash = (
            Service.objects.filter(public=True)
            .exclude(pk=self.instance.pk)
            .filter(Q(public_name__iexact=shown) | Q(public_name="", name__iexact=shown))
            .first()
        )
        if clash is not None:
            raise ValidationError(
                f"“{shown}” is already the public name of {clash.name}: pick another."
            )
        return value

    def clean_public_description(self) -> str:
        return single_line(self.cleaned_data.get("public_description") or "")

    def save(self, commit: bool = True) -> Service:
        service = super().save(commit=False)
        if commit:
            # post_save replaces the public page's cache version after the commit.
            service.save(update_fields=["public_name", "public_description", "updated_at"])
        return service


def set_public(service: Service, shown: bool) -> Service:
    """Show the service on the public page (last in the order) or hide it."""
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=service.pk)
        if service.public == shown:
            return service
        service.public = shown
        fields = ["public", "updated_at"]
        if shown:
            last = Service.objects.filter(public=True).aggregate(last=Max("position"))["last"]
            service.position = (last or 0) + 1
            fields.append("position")
        service.save(update_fields=fields)
    return service


def move(service: Service, up: bool) -> bool:
    """Swap a public service with its neighbour in the page's order; False when it is
    already at that end (or not public). The public services are locked and renumbered
    1, 2, 3…, so equal positions can't make a move a no-op."""
    with transaction.atomic():
        shown = list(
            Service.objects.select_for_update().filter(public=True).order_by("position", "name")
        )
        index = next((n for n, s in enumerate(shown) if s.pk == service.pk), None)
        other = None if index is None else index - 1 if up else index + 1
        if other is None or not 0 <= other < len(shown):
            return False
        shown[index], shown[other] = shown[other], shown[index]
        now = timezone.now()
        changed = []
        for number, each in enumerate(shown, start=1):
            if each.position != number:
                each.position = number
                each.updated_at = now
                changed.append(each)
        # bulk_update sends no post_save: replace the cache version here, after the commit.
        Service.objects.bulk_update(changed, ["position", "updated_at"])
        transaction.on_commit(public.bump)
    return True
