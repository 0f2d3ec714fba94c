"""One exception handler for the API: JSON errors with field messages, and the
transition service's failures mapped to HTTP (409, 403, 400, 404)."""

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mof import audit
from mof.deletion import HistoryKept
from mof.transitions import TransitionBlocked, TransitionUnknown


def _validation_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Read by the view (request.data): the same JSON 413 as mof.views_errors gives before it.
        from mof.views_errors import too_big_message

        return Response(
            {"detail": too_big_message(), "code": "request_too_large"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    if isinstance(exc, TransitionNotAllowed):
        return Response(
            {"detail": str(exc) or "Not allowed in this state.", "code": "transition_not_allowed"},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ConcurrentTransition):
        return Response(
            {
                "detail": "Someone else changed this object's state; reload and try again.",
                "code": "concurrent_transition",
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, TransitionBlocked):
        body = {"detail": "The transition is blocked.", "code": "transition_blocked", "reasons": exc.reasons}
        if exc.field_errors:
            body.update(exc.field_errors)
        if exc.rules:
            body["rules"] = exc.rules
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, HistoryKept):
        # A delete that would lose history: refused with the reason and what to do instead.
        return Response({"detail": str(exc), "code": exc.code}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, (ProtectedError, RestrictedError)):
        # A delete refused by the data model: the object is still in use (found by fuzzing: was a 500).
        blocking = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        users = sorted({str(obj._meta.verbose_name_plural) for obj in blocking})
        return Response(
            {
                "detail": f"Still in use by {', '.join(users) or 'other records'}; it cannot be deleted.",
                "code": "in_use",
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, TransitionUnknown):
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_validation_detail(exc))
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        recorded = getattr(exc, "recorded", False)
        exc = exceptions.PermissionDenied(str(exc) or None)
        exc.recorded = recorded

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        # ValidationError("...") without a field: still an object, as the schema's Error says.
        response.data = {"non_field_errors": response.data}
    if response is not None and isinstance(exc, exceptions.PermissionDenied):
        request = context.get("request")
        view = context.get("view")
        user = getattr(request, "user", None)
        # Refusals raised by mof.policy.require are recorded already; DRF's own checks are recorded here.
        if not getattr(exc, "recorded", False):
            audit.record_refusal(
                actor=user if getattr(user, "is_authenticated", False) else None,
                action=f"{request.method} {request.path}" if request else type(view).__name__,
                reasons=[str(exc.detail)],
                via="api",
            )
    return response
