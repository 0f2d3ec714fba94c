"""Sparse fields: `?fields=id,number,state` on list and detail endpoints returns only
those fields, so an integration fetches (and the server computes) only what it needs.

The serializer's fields are pruned before it serializes anything: an unrequested
method field or nested serializer is never evaluated. Unknown names are a 400 naming
the allowed ones. Writes are never pruned (their serializer validates input too).

Viewsets take it with SparseFieldsMixin (list and retrieve); the API views that are not
viewsets (reports, the schedule, a run of a job...) with SparseFieldsView, which says
what one object of the answer is and where the objects sit in it.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.serializers import ListSerializer

FIELDS_PARAM = "fields"
# The GET actions of a viewset that answer objects: list and retrieve, and those of the
# shared mixins (mof.api.views: history, transitions); a viewset adds its own extra ones.
SPARSE_ACTIONS = ("list", "retrieve", "history", "transitions")


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


def checked_fields(request, allowed):
    """The names asked for in ?fields= (None: every field); a 400 naming the allowed ones
    if any is unknown."""
    wanted = requested_fields(request)
    if wanted is None:
        return None
    unknown = [name for name in wanted if name not in allowed]
    if unknown:
        raise ValidationError(
            {
                FIELDS_PARAM: [
                    f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. Allowed: {', '.join(allowed)}."
                ]
            }
        )
    return wanted


def prune_fields(serializer, request):
    """Drop every field not named in ?fields= from the serializer (or a list serializer's child)."""
    target = serializer.child if isinstance(serializer, ListSerializer) else serializer
    wanted = checked_fields(request, readable_fields(target))
    if wanted is None:
        return serializer
    for name in list(target.fields):
        if name not in wanted:
            target.fields.pop(name)
    return serializer


class SparseFieldsMixin:
    """For every viewset: honour ?fields= on the GET of the actions in `sparse_actions`
    (list, retrieve, history, transitions, and the extra ones a viewset adds, e.g. a job's
    runs). The viewset's own serializer is pruned in get_serializer; an extra action that
    builds another one prunes it with self.sparse(serializer).
    tests/api/test_sparse_fields.py fails for any routed viewset GET without it."""

    sparse_actions = SPARSE_ACTIONS

    def sparse_now(self) -> bool:
        request = getattr(self, "request", None)
        return getattr(self, "action", None) in self.sparse_actions and request is not None and request.method == "GET"

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        return self.sparse(serializer)

    def sparse(self, serializer):
        """The serializer cut down to ?fields= when this is a GET of a sparse action (writes answer in full)."""
        return prune_fields(serializer, self.request) if self.sparse_now() else serializer

    def sparse_object(self, body: dict, serializer) -> dict:
        """An answer built as a dict in the shape of `serializer` (for speed), cut down alike."""
        wanted = checked_fields(self.request, readable_fields(serializer)) if self.sparse_now() else None
        return body if wanted is None else _cut(body, wanted)


class SparseFieldsView:
    """For an API view that is not a viewset and whose GET answers objects: one (a detail),
    a list of them, or lists of them inside an envelope (a page, a report's period and
    totals) that stays whole, as the pagination envelope does for a viewset's list.

    `sparse_serializer`: the serializer of one object (its readable fields are the ones
    ?fields= may name, and the schema lists them). `sparse_in`: the keys of the envelope
    holding the lists of objects; empty when the answer is the object or the list itself.
    A bad ?fields= is refused before the view does any work. The view then prunes what it
    answers: `self.sparse(serializer)` before serializing, or `self.sparse_body(body)` for
    an answer it builds as plain dicts; `self.sparse_fields()` tells it what it may skip
    computing. tests/api/test_sparse_fields.py fails for any API view without it."""

    sparse_serializer = None
    sparse_in: tuple[str, ...] = ()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "GET":
            self.sparse_fields()

    def sparse_fields(self):
        """The fields asked for (None: all), checked against the object's readable fields."""
        if not hasattr(self, "_sparse_fields"):
            self._sparse_fields = checked_fields(self.request, readable_fields(self.sparse_serializer()))
        return self._sparse_fields

    def wants(self, name) -> bool:
        """Is this field of the objects in the answer (so worth computing)?"""
        wanted = self.sparse_fields()
        return wanted is None or name in wanted

    def sparse(self, serializer):
        return prune_fields(serializer, self.request)

    def sparse_body(self, body):
        """The answer built as dicts, each object cut down to the fields asked for."""
        wanted = self.sparse_fields()
        if wanted is None:
            return body
        if not self.sparse_in:
            return [_cut(row, wanted) for row in body] if isinstance(body, list) else _cut(body, wanted)
        return cut_rows(body, self.sparse_in, wanted)


def cut_rows(body: dict, keys, wanted) -> dict:
    """An envelope with the objects of its lists `keys` cut to `wanted` (None: left whole)."""
    if wanted is None:
        return body
    return {**body, **{key: [_cut(row, wanted) for row in body[key]] for key in keys}}


def _cut(row: dict, wanted) -> dict:
    return {k: v for k, v in row.items() if k in wanted}
