"""Writes of the Operating quadrant. Each takes the acting user, checks the policy,
validates, writes in one transaction and is recorded in the audit trail. Freeze status
moves only through mof.transitions.perform_transition."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mof import audit, deletion, policy
from operations.models import (
    CalendarFeedToken,
    FreezeStatus,
    FreezeWindow,
    MaintenanceWindow,
    feed_digest,
)

FREEZE_FIELDS = ("name", "start", "end", "reason")
WINDOW_FIELDS = ("name", "service", "ci", "weekdays", "start_time", "duration_minutes", "time_zone")


def _apply(instance, fields: dict, allowed: tuple[str, ...], *, exclude=()):
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in sorted(unknown)})
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.full_clean(exclude=list(exclude))


def freeze_create(*, actor, services=(), **fields) -> FreezeWindow:
    """Propose a change freeze; a manager approves it through its transition."""
    policy.require(actor, "freeze.add")
    freeze = FreezeWindow(proposed_by=actor)
    _apply(freeze, fields, FREEZE_FIELDS, exclude=["status", "proposed_by"])
    with audit.acting_as(actor), transaction.atomic():
        freeze.save()
        freeze.services.set(services)
    return freeze


def freeze_update(*, actor, freeze: FreezeWindow, services=None, **fields) -> FreezeWindow:
    """Edit a freeze while it is only proposed: once decided, it is on record as decided."""
    policy.require(actor, "freeze.add", freeze)
    if freeze.status != FreezeStatus.PROPOSED:
        raise ValidationError(
            {"non_field_errors": ["Only a proposed freeze can be edited; withdraw it and propose another."]}
        )
    _apply(freeze, fields, FREEZE_FIELDS, exclude=["status", "proposed_by"])
    with audit.acting_as(actor), transaction.atomic():
        freeze.save()
        if services is not None:
            freeze.services.set(services)
    return freeze


def maintenance_create(*, actor, **fields) -> MaintenanceWindow:
    policy.require(actor, "window.edit")
    window = MaintenanceWindow()
    _apply(window, fields, WINDOW_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        window.save()
    return window


def maintenance_update(*, actor, window: MaintenanceWindow, **fields) -> MaintenanceWindow:
    policy.require(actor, "window.edit", window)
    _apply(window, fields, WINDOW_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        window.save()
    return window


def maintenance_delete(*, actor, window: MaintenanceWindow) -> None:
    policy.require(actor, "window.edit", window)
    with audit.acting_as(actor), transaction.atomic():
        deletion.check_delete(window)
        window.delete()


def feed_token_create(*, actor) -> tuple[CalendarFeedToken, str]:
    """A new secret feed address for `actor`, revoking the previous one (rotation).
    Returns the token and the secret, which is not stored and cannot be shown again."""
    if not policy.authenticated(actor):
        raise policy.Refused("Sign in to subscribe to the calendar.")
    secret = CalendarFeedToken.new_secret()
    with audit.acting_as(actor), transaction.atomic():
        CalendarFeedToken.objects.live().filter(user=actor).update(revoked_at=timezone.now())
        token = CalendarFeedToken.objects.create(user=actor, key=feed_digest(secret))
    return token, secret


def feed_token_revoke(*, actor) -> int:
    """Revoke the actor's feed address: it answers 404 from now on."""
    with audit.acting_as(actor), transaction.atomic():
        return CalendarFeedToken.objects.live().filter(user=actor).update(revoked_at=timezone.now())


def feed_token_user(secret: str):
    """The active user whose live feed secret this is, or None."""
    if not secret or len(secret) > 100:
        return None
    token = CalendarFeedToken.objects.live().select_related("user").filter(key=feed_digest(secret)).first()
    if token is None or not token.user.is_active:
        return None
    return token.user
