"""No endpoint silently ignores a field it was sent.

DRF reads the fields a serializer declares writable and drops everything else: a PATCH of a
read-only or misspelt field answered 200 and changed nothing. Every serializer that reads a
JSON object (at the top or nested) here refuses, as a 400 naming each:
- an unknown name ("Unknown field. Allowed: ..."),
- a read-only name, unless it carries the object's current value (a client may send back
  what it read: `id`, `number`, `status` unchanged are tolerated).

A serializer of query parameters says `strict_input = False`. Installed once for every serializer (mof.apps), since the API's serializers derive from
DRF's directly; the fast filing path (incidents.api.serializers.quick_input) leaves any
input with a name it does not know to the serializer, so it answers the same.
"""

from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.fields import SkipField, empty

UNKNOWN = "Unknown field. Allowed: {allowed}."
READ_ONLY = "This field is read-only."


def _current(field, instance):
    """The field's value for `instance` as the API answers it; `empty` when it has none."""
    try:
        attribute = field.get_attribute(instance)
    except (SkipField, AttributeError, KeyError):
        return empty
    if attribute is None:
        return None
    try:
        return field.to_representation(attribute)
    except Exception:  # a value only its serializer's context can render: never "unchanged"
        return empty


def _same(sent, current) -> bool:
    if current is empty:
        return False
    if sent == current:
        return True
    # A number or a date sent back as text (or the other way round) is still the same value.
    return not isinstance(sent, (dict, list)) and sent is not None and current is not None and str(sent) == str(current)


def input_errors(serializer, data) -> dict:
    """{name: [message]} for the names in `data` the serializer would ignore."""
    if not isinstance(data, Mapping):
        return {}
    fields = serializer.fields
    writable = [name for name, field in fields.items() if not field.read_only]
    instance = getattr(serializer, "instance", None) if serializer.parent is None else None
    errors = {}
    for name in data:
        if name == "csrfmiddlewaretoken":  # a form posted with a session carries it: not input
            continue
        field = fields.get(name)
        if field is None:
            errors[name] = [UNKNOWN.format(allowed=", ".join(writable) or "none")]
        elif field.read_only and not (instance is not None and _same(data[name], _current(field, instance))):
            errors[name] = [READ_ONLY]
    return errors


_to_internal_value = serializers.Serializer.to_internal_value


def _strict_to_internal_value(self, data):
    # A serializer of query parameters (strict_input = False) shares the query string with the
    # view's own (?fields=, ?page=, ?ordering=): those are not its to refuse.
    errors = input_errors(self, data) if getattr(self, "strict_input", True) else {}
    try:
        value = _to_internal_value(self, data)
    except serializers.ValidationError as exc:
        if errors and isinstance(exc.detail, dict):
            raise serializers.ValidationError({**exc.detail, **errors}) from exc
        raise
    if errors:
        raise serializers.ValidationError(errors)
    return value


def install():
    serializers.Serializer.to_internal_value = _strict_to_internal_value
