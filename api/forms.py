"""Writes through the pages' own forms, so the API and the pages share one set of rules.

A write starts from what the form would show (its defaults for a new object, the object's
values for a change) and applies the fields the request sends; a field the request leaves out
keeps its value (a password left out keeps the stored one, as on the page).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Model
from rest_framework.exceptions import ValidationError


def bound_form(
    form_class: type[forms.BaseForm], data: Any, instance: Model | None = None, **kwargs: Any
):
    """The form bound to the object's current values with `data` on top; 400 when invalid.
    `kwargs` go to the form as the page gives them."""
    if not isinstance(data, dict):
        raise ValidationError({"detail": "Send a JSON object."})
    # What the page's form would show: its defaults for a new object, the object's values.
    unbound = form_class(instance=instance, **kwargs)
    current = {name: unbound[name].value() for name in unbound.fields}
    current = {name: value for name, value in current.items() if value is not None}
    form = form_class({**current, **_plain(data)}, instance=instance, **kwargs)
    if not form.is_valid():
        raise ValidationError(form.errors.get_json_data())
    return form


def _plain(data: dict) -> dict:
    """JSON lists of lines (folders, notification URLs) as the text the form's box takes."""
    out = {}
    for key, value in data.items():
        if isinstance(value, list) and key not in ("weekdays", "accounts"):
            value = "\n".join(str(v) for v in value)
        out[key] = value
    return out
