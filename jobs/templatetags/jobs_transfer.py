"""Template helpers for the sync and restore pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict, key):
    """`sizes|get_item:name`: a dict lookup with a variable key."""
    return mapping.get(key) if hasattr(mapping, "get") else None
