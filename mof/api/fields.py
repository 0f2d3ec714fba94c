"""Sparse fields: `?fields=id,number,state` on list and detail endpoints returns only
those fields, so an integration fetches (and the server computes) only what it needs.

The serializer's fields are pruned before it serializes anything: an unrequested
method field or nested serializer is never evaluated. Unknown names are a 400 naming
the allowed ones. Writes are never pruned (their serializer validates input too).
"""
from rest_framework.exceptions import ValidationError
from rest_framework.serializers import ListSerializer

FIELDS_PARAM = "fields"
SPARSE_ACTIONS = ("list", "retrieve")


def requested_fields(request):
    """The names asked for in ?fields=, in order, or None when the parameter is absent or blank."""
    raw = request.query_params.get(FIELDS_PARAM) if request is not None else None
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    return list(dict.fromkeys(names)) or None


def readable_fields(serializer):
    """The names a caller may ask for: what the serializer outputs (write-only input excluded)."""
    return [name for name, field in serializer.fields.items() if not field.write_only]


def prune_fields(serializer, request):
    """Drop every field not named in ?fields= from the serializer (or a list serializer's child)."""
    wanted = requested_fields(request)
    if wanted is None:
        return serializer
    target = serializer.child if isinstance(serializer, ListSerializer) else serializer
    allowed = readable_fields(target)
    unknown = [name for name in wanted if name not in allowed]
    if unknown:
        raise ValidationError({
            FIELDS_PARAM: [f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. Allowed: {', '.join(allowed)}."]
        })
    for name in list(target.fields):
        if name not in wanted:
            target.fields.pop(name)
    return serializer


class SparseFieldsMixin:
    """For every viewset with list/retrieve: honour ?fields= on those two actions.
    tests/api/test_sparse_fields.py fails for any routed viewset without it."""

    sparse_actions = SPARSE_ACTIONS

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        if getattr(self, "action", None) in self.sparse_actions:
            prune_fields(serializer, self.request)
        return serializer
