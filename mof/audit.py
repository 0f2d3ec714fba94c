"""The audit trail: every create, update, delete and transition of a business object.

Why not signals: history packages built on post_save miss queryset.update(),
bulk_create() and bulk_update(). Audited models use AuditedQuerySet, which records
those writes too, and AuditedModel.save(), which records field changes against the
values loaded from the database. Deletes (including cascades) are recorded from the
delete signals, which Django sends per object whenever a receiver exists.

Who did it comes from a context variable set by the service layer (`acting_as`),
the web middleware (admin and pages) and Celery tasks.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.db.models.signals import ModelSignal, m2m_changed, post_delete
from django.dispatch import receiver

from mof import inserts

security_log = logging.getLogger("mof.security")

CHUNK = 2000


@dataclass
class AuditContext:
    actor: Any = None  # a User or None for the system
    via: str = "system"
    transition: str = ""
    reason: str = ""
    extra: dict = field(default_factory=dict)


_context: contextvars.ContextVar[AuditContext] = contextvars.ContextVar("mof_audit_context", default=AuditContext())


def current() -> AuditContext:
    return _context.get()


@contextmanager
def acting_as(actor, *, via: str | None = None, transition: str = "", reason: str = "", subject=None):
    """Attribute the writes inside the block to `actor` (None: the system).

    With `transition` and `subject`, the subject's save is recorded as that transition.
    """
    outer = _context.get()
    extra = {"subject": (subject._meta.label_lower, str(subject.pk))} if subject is not None else {}
    token = _context.set(
        AuditContext(
            actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
            via=via or outer.via,
            transition=transition,
            reason=reason,
            extra=extra,
        )
    )
    try:
        yield
    finally:
        _context.reset(token)


class AuditActorMiddleware:
    """Pages and the admin: attribute writes to the logged-in user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        via = "admin" if request.path.startswith("/admin/") else "web"
        if request.path.startswith("/api/"):
            via = "api"  # token users are attributed again in the API views, after DRF auth
        user = getattr(request, "user", None)
        with acting_as(user, via=via):
            return self.get_response(request)


def _json(value):
    if isinstance(value, FieldFile):  # a stored file: its path in the storage
        return value.name or None
    return (
        DjangoJSONEncoder().default(value)
        if not isinstance(value, (str, int, float, bool, type(None), list, dict))
        else value
    )


@functools.cache
def _audited_fields(model) -> tuple[models.Field, ...]:
    # auto_now timestamps change on every save: the entry's own time says when.
    exclude = set(getattr(model, "audit_exclude", ()))
    return tuple(f for f in model._meta.concrete_fields if f.name not in exclude and not getattr(f, "auto_now", False))


@functools.cache
def _audited_positions(model) -> tuple[tuple[int, str], ...]:
    """(position in a full row, attname) of the audited fields: a loaded row is snapshotted by position."""
    audited = set(_audited_fields(model))
    return tuple((i, f.attname) for i, f in enumerate(model._meta.concrete_fields) if f in audited)


def snapshot(instance) -> dict[str, Any]:
    return {f.attname: _json(f.value_from_object(instance)) for f in _audited_fields(type(instance))}


def loaded_snapshot(instance) -> dict[str, Any] | None:
    """The audited values as they were loaded (or last saved); None when unknown (deferred fields)."""
    if "_audit_loaded" in instance.__dict__:
        return instance._audit_loaded
    row = instance.__dict__.get("_audit_loaded_row")
    if row is None:
        return None
    return {attname: _json(row[i]) for i, attname in _audited_positions(type(instance))}


def _entry(model, object_id, object_repr, action, changes, *, detail=None):
    from mof.models import AuditEntry

    ctx = current()
    label = model._meta.label_lower
    # Inside a transition, the save of its subject is recorded as the transition itself.
    is_transition = action == "update" and ctx.transition and ctx.extra.get("subject") == (label, str(object_id))
    return AuditEntry(
        actor_id=getattr(ctx.actor, "pk", None),
        actor_name=getattr(ctx.actor, "username", "") or "system",
        via=ctx.via,
        action="transition" if is_transition else action,
        model_label=label,
        object_id=str(object_id),
        object_repr=str(object_repr)[:200],
        changes=changes,
        transition=ctx.transition if is_transition else "",
        # Inside a transition only its subject's entry carries its reason; outside one, every
        # write of the block does (a reassignment's, a bulk action's).
        reason=ctx.reason if is_transition or not ctx.transition else "",
        detail=detail or {},
    )


def _write(entries):
    from mof.models import AuditEntry

    if len(entries) <= inserts.MAX_ROWS:
        inserts.insert(entries)  # the few entries of a write: an INSERT built once
    else:
        AuditEntry.objects.bulk_create(entries, batch_size=CHUNK)


def record_create(instance, values: dict | None = None):
    """`values`: the instance's snapshot, if the caller has just taken it."""
    changes = {
        k: [None, v]
        for k, v in (snapshot(instance) if values is None else values).items()
        if v not in (None, "", [], {})
    }
    _write([_entry(type(instance), instance.pk, instance, "create", changes)])


def record_update(instance, before: dict, after: dict, *, force: bool = False):
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    if changes or force or current().extra.get("subject") == (instance._meta.label_lower, str(instance.pk)):
        _write([_entry(type(instance), instance.pk, instance, "update", changes)])


def record_related(instance, changes: dict, *, detail: dict | None = None):
    """An entry on `instance` for a write to something that hangs off it (a file attached to
    a ticket): its history then shows it, attributed like every other write of the block."""
    _write([_entry(type(instance), instance.pk, instance, "update", changes, detail=detail)])


_refusal_depth: contextvars.ContextVar[int] = contextvars.ContextVar("mof_refusal_depth", default=0)
_pending_refusals: contextvars.ContextVar[list | None] = contextvars.ContextVar("mof_pending_refusals", default=None)


@contextmanager
def refusals_survive_rollback():
    """Wrap a service's transaction (outside its atomic block): refusals raised inside are
    written when the outermost such block ends, after the rollback, so none is lost."""
    depth = _refusal_depth.get()
    depth_token = _refusal_depth.set(depth + 1)
    pending_token = _pending_refusals.set([]) if depth == 0 else None
    try:
        yield
    finally:
        _refusal_depth.reset(depth_token)
        if pending_token is not None:
            pending = _pending_refusals.get() or []
            _pending_refusals.reset(pending_token)
            for item in pending:
                _write_refusal(**item)


def record_refusal(*, actor, action: str, target=None, reasons=(), via: str | None = None):
    """A refused action (403, separation of duties): who tried what, on what."""
    item = {
        "actor": actor,
        "action": action,
        "label": target._meta.label_lower if isinstance(target, models.Model) else "",
        "object_id": str(getattr(target, "pk", "") or "") if target is not None else "",
        "object_repr": str(target)[:200] if target is not None else "",
        "reasons": [str(r) for r in reasons],
        "via": via or current().via,
    }
    pending = _pending_refusals.get()
    if _refusal_depth.get() > 0 and pending is not None:
        pending.append(item)
    else:
        _write_refusal(**item)


def _write_refusal(*, actor, action, label, object_id, object_repr, reasons, via):
    from mof.models import AuditEntry

    AuditEntry.objects.create(
        actor_id=getattr(actor, "pk", None),
        actor_name=getattr(actor, "username", "") or "anonymous",
        via=via,
        action="refused",
        model_label=label,
        object_id=object_id,
        object_repr=object_repr,
        changes={},
        transition=action,
        reason="; ".join(reasons),
        detail={"action": action},
    )
    security_log.warning("refused %s by %s on %s: %s", action, getattr(actor, "username", "anonymous"), label, reasons)


def record_login_failure(*, username: str, via: str, remote_addr: str = ""):
    from mof.models import AuditEntry

    AuditEntry.objects.create(
        actor_id=None,
        actor_name=username[:150] or "?",
        via=via,
        action="login_failed",
        model_label="mof.user",
        object_id="",
        object_repr=username[:200],
        changes={},
        detail={"remote_addr": remote_addr},
    )
    security_log.warning("failed login for %r from %s via %s", username, remote_addr, via)


# Sent after an audited update(), bulk_create() or bulk_update() (no post_save for those): what
# keeps a copy of a table (mof.readmostly) learns that it changed.
bulk_written = ModelSignal(use_caching=True)


class AuditedQuerySet(models.QuerySet):
    """Records writes that bypass Model.save()."""

    def update(self, **kwargs):
        # Only audited fields are compared and recorded: a model's audit_exclude (a secret, a
        # last-used stamp) stays out of the trail in bulk updates as in saves.
        audited = {f.attname for f in _audited_fields(self.model)}
        attnames = [a for a in (self.model._meta.get_field(name).attname for name in kwargs) if a in audited]
        if not attnames:
            count = super().update(**kwargs)
            bulk_written.send(sender=self.model, using=self.db)
            return count
        with transaction.atomic(using=self.db):
            before = {row["pk"]: row for row in self.values("pk", *attnames)}
            count = super().update(**kwargs)
            pks = list(before)
            entries = []
            for start in range(0, len(pks), CHUNK):
                chunk = pks[start : start + CHUNK]
                for row in self.model._base_manager.using(self.db).filter(pk__in=chunk).values("pk", *attnames):
                    old = before[row["pk"]]
                    changes = {a: [_json(old[a]), _json(row[a])] for a in attnames if old[a] != row[a]}
                    if changes:
                        entries.append(
                            _entry(
                                self.model,
                                row["pk"],
                                f"{self.model._meta.verbose_name} {row['pk']}",
                                "update",
                                changes,
                                detail={"bulk": "update"},
                            )
                        )
            _write(entries)
        bulk_written.send(sender=self.model, using=self.db)
        return count

    update.alters_data = True

    def bulk_create(self, objs, *args, **kwargs):
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            entries = []
            for obj in created:
                if obj.pk is None:
                    continue
                changes = {k: [None, v] for k, v in snapshot(obj).items() if v not in (None, "", [], {})}
                entries.append(_entry(type(obj), obj.pk, obj, "create", changes, detail={"bulk": "create"}))
            _write(entries)
        bulk_written.send(sender=self.model, using=self.db)
        return created

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs = list(objs)
        attnames = [self.model._meta.get_field(name).attname for name in fields]
        with transaction.atomic(using=self.db):
            before = {
                row["pk"]: row
                for row in self.model._base_manager.using(self.db)
                .filter(pk__in=[o.pk for o in objs])
                .values("pk", *attnames)
            }
            count = super().bulk_update(objs, fields, *args, **kwargs)
            entries = []
            for obj in objs:
                old = before.get(obj.pk, {})
                changes = {
                    a: [_json(old.get(a)), _json(getattr(obj, a))] for a in attnames if old.get(a) != getattr(obj, a)
                }
                if changes:
                    entries.append(_entry(type(obj), obj.pk, obj, "update", changes, detail={"bulk": "update"}))
            _write(entries)
        bulk_written.send(sender=self.model, using=self.db)
        return count


class AuditedModel(models.Model):
    """Base for business objects: every write is recorded in the audit trail."""

    objects = AuditedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Keep the row as loaded; its snapshot is built only if the object is saved. Building it
        # here cost a third of a 50-row API page, for objects that are almost always only read.
        if len(values) == len(cls._meta.concrete_fields):
            instance._audit_loaded_row = values
        return instance

    def save(self, *args, **kwargs):
        adding = self._state.adding
        # The row and its audit entry commit together. A caller that holds a savepoint around
        # this very save (NumberedModel, to retry a number) spares us a second one.
        savepoint = not self.__dict__.pop("_audit_in_savepoint", False)
        with transaction.atomic(using=kwargs.get("using") or self._state.db, savepoint=savepoint):
            before = loaded_snapshot(self)
            if not adding and before is None:
                fresh = type(self)._base_manager.filter(pk=self.pk).first()
                before = snapshot(fresh) if fresh else {}
            super().save(*args, **kwargs)
            saved = snapshot(self)  # once: the entry and the next save's "before" both use it (neither changes it)
            if adding:
                record_create(self, saved)
            else:
                after = saved
                update_fields = kwargs.get("update_fields")
                if update_fields is not None:
                    names = {self._meta.get_field(n).attname for n in update_fields}
                    after = {k: v for k, v in after.items() if k in names}
                record_update(self, before, after)
            self._audit_loaded = saved

    save.alters_data = True

    def get_constraints(self):
        constraints = super().get_constraints()
        excluded = self.__dict__.get("_validation_excludes")
        if not excluded:
            return constraints
        return [
            (
                model,
                [
                    c
                    for c in model_constraints
                    if not (isinstance(c, models.CheckConstraint) and c.condition.referenced_base_fields & excluded)
                ],
            )
            for model, model_constraints in constraints
        ]

    def validate_constraints(self, exclude=None):
        # Django finds that a check constraint names a field left out of validation only by
        # building a query of every field's value and failing to resolve it (~0.3 ms each, on
        # every filing): such constraints are left out beforehand instead, with the same outcome.
        self._validation_excludes = set(exclude or ())
        try:
            return super().validate_constraints(exclude)
        finally:
            del self._validation_excludes


@receiver(post_delete)
def _record_delete(sender, instance, **kwargs):
    if isinstance(instance, AuditedModel):
        changes = {k: [v, None] for k, v in snapshot(instance).items() if v not in (None, "", [], {})}
        _write([_entry(sender, instance.pk, instance, "delete", changes)])


@receiver(m2m_changed)
def _record_m2m(sender, instance, action, reverse, model, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear") or not isinstance(instance, AuditedModel):
        return
    field_name = (
        next(
            (f.name for f in type(instance)._meta.many_to_many if f.remote_field.through is sender),
            None,
        )
        if not reverse
        else None
    )
    if field_name is None:
        return
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    changes = {field_name: {verb: sorted(pk_set or [])}}
    _write([_entry(type(instance), instance.pk, instance, "update", changes, detail={"m2m": verb})])
