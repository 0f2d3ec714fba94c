"""The OpenAPI schema's house rules, applied to every operation rather than view by view:

- the GET of the sparse actions of viewsets with SparseFieldsMixin (list, retrieve,
  history, transitions and their own), and of API views with SparseFieldsView, documents
  `?fields=` with the names it accepts;
- every operation documents the errors mof.api.errors (and DRF) answer with, in one
  shared `Error` shape: 400, 401, 403, 404 and 429 anywhere, 409 on writes;
- only the actions that paginate (list, history, and those a viewset names in
  `paginated_actions`) are documented paginated: the other actions that return lists
  (transitions, notes, agenda...) answer a plain array;
- request bodies are JSON, unless a view names its own parsers (file uploads);
- times of day are "HH:MM[:SS]" strings (OpenAPI's `format: time` wants a UTC offset
  that DRF neither sends nor needs);
- an operation that takes `?fields=` describes the objects it cuts with their own component,
  named `<Name>Sparse`, that lists every property and requires none (a sparse answer has only
  those asked for): clients generated from the schema accept answers with and without it.
"""

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.serializers import BaseSerializer, ListSerializer
from rest_framework.settings import api_settings

from mof.api.fields import (
    FIELDS_PARAM,
    SparseFieldsMixin,
    SparseFieldsView,
    readable_fields,
)

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "An error. `detail` says what went wrong (with a `code` for transitions); a refused "
        'input names each bad field with its messages, e.g. {"title": ["This field is required."]}.'
    ),
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "reasons": {"type": "array", "items": {"type": "string"}, "description": "Why a transition is blocked."},
        "rules": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The separation-of-duties rules that blocked it.",
        },
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": {"description": "A field's messages (a list; for nested input, objects or lists of them)."},
}

ERRORS = {
    "400": "Invalid input: the messages per field.",
    "401": "No or an invalid token or session.",
    "403": "The caller may not do this.",
    "404": "No such object, or not one the caller may see.",
    "409": "The object's state does not allow it, or someone else changed it first.",
    "429": "Too many requests: retry after the time in the Retry-After header.",
}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PAGINATED_ACTIONS = ("list", "history")
TIME_OF_DAY = {
    "type": "string",
    "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
    "example": "08:30",
}


def _blank_in_model(field):
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    try:
        return bool(model and model._meta.get_field(field.source).blank)
    except FieldDoesNotExist:  # not a model field (a property, a related path)
        return False


class PortalAutoSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._takes_sparse_fields():
            parameters = [*parameters, self._fields_parameter()]
        return parameters

    def _takes_sparse_fields(self):
        if self.method != "GET":  # writes answer in full
            return False
        if isinstance(self.view, SparseFieldsView):
            return True
        return (
            isinstance(self.view, SparseFieldsMixin) and getattr(self.view, "action", None) in self.view.sparse_actions
        )

    def _fields_parameter(self):
        items = {"type": "string"}
        # A view that is not a viewset names the serializer of one object of its answer.
        sparse_serializer = getattr(self.view, "sparse_serializer", None)
        serializer = sparse_serializer() if sparse_serializer is not None else self._response_serializer()
        if serializer is not None:
            items["enum"] = readable_fields(serializer)
        return OpenApiParameter(
            FIELDS_PARAM,
            {"type": "array", "items": items},
            style="form",
            explode=False,
            description=self._fields_description(),
        )

    def _fields_description(self):
        text = "Sparse fields: only these (comma-separated), e.g. `fields=id,number,status`. An unknown name is a 400."
        keys = getattr(self.view, "sparse_in", ()) or getattr(self.view, "sparse_in_actions", {}).get(
            getattr(self.view, "action", None), ()
        )
        if keys:
            text += f" They apply to each object in {', '.join(f'`{k}`' for k in keys)}; the rest of the answer stays."
        return text

    def _response_serializer(self):
        serializer = self.get_response_serializers()
        if isinstance(serializer, type) and issubclass(serializer, BaseSerializer):
            serializer = serializer()
        if isinstance(serializer, ListSerializer):
            serializer = serializer.child
        return serializer if isinstance(serializer, BaseSerializer) else None

    def _sparse_class(self):
        """The serializer class of the objects ?fields= cuts in this operation's answer (None: it takes no ?fields=)."""
        key = (self.method, self.path)
        if getattr(self, "_sparse_for", (None,))[0] != key:
            found = None
            if self._takes_sparse_fields():
                sparse_serializer = getattr(self.view, "sparse_serializer", None)
                serializer = sparse_serializer() if sparse_serializer is not None else self._response_serializer()
                found = type(serializer) if serializer is not None else None
            self._sparse_for = (key, found)
        return self._sparse_for[1]

    def _is_sparse(self, serializer, direction) -> bool:
        """Is this one of the objects ?fields= cuts: of the answer's object class, or in a list of
        the envelope that the view names in `sparse_in` (a schedule's jobs have their own class)."""
        if direction != "response" or isinstance(serializer, ListSerializer) or self._sparse_class() is None:
            return False
        if type(force_instance(serializer)) is self._sparse_class():
            return True
        keys = getattr(self.view, "sparse_in", ()) or getattr(self.view, "sparse_in_actions", {}).get(
            getattr(self.view, "action", None), ()
        )
        holder = getattr(serializer, "parent", None)
        return isinstance(holder, ListSerializer) and holder.field_name in keys

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        if self._is_sparse(serializer, direction) and not name.endswith("Sparse"):
            name += "Sparse"
        return name

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if self._is_sparse(serializer, direction):
            schema.pop("required", None)
            note = "Sparse: with `?fields=` only the fields asked for are present; without it, all of them."
            schema["description"] = f"{schema['description']}\n\n{note}" if schema.get("description") else note
        return schema

    def map_parsers(self):
        # The API speaks JSON; only views that name their own parsers (file uploads) say more.
        if list(getattr(self.view, "parser_classes", [])) == list(api_settings.DEFAULT_PARSER_CLASSES):
            return ["application/json"]
        return super().map_parsers()

    def _get_paginator(self):
        action = getattr(self.view, "action", None)
        if action is not None and action not in (*PAGINATED_ACTIONS, *getattr(self.view, "paginated_actions", ())):
            return None
        return super()._get_paginator()

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, serializers.TimeField):
            return {**TIME_OF_DAY, **({"readOnly": True} if field.read_only else {})}
        if field.read_only and field.default is None:
            field.allow_null = True  # its answer is null when the source is missing
        if isinstance(field, serializers.ChoiceField) and field.read_only and _blank_in_model(field):
            field.allow_blank = True  # DRF drops it from read-only fields, yet the value may well be ""
        return super()._map_serializer_field(field, direction, bypass_extensions)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        error = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, object="mof.api.schema.Error", schema=ERROR_SCHEMA
        )
        self.registry.register_on_missing(error)
        for code, description in ERRORS.items():
            if code == "409" and self.method in SAFE_METHODS:
                continue
            responses.setdefault(
                code, {"description": description, "content": {"application/json": {"schema": error.ref}}}
            )
        return responses
