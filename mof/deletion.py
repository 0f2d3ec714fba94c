"""Anything with history is retired, not deleted.

Deleting a CI used to take it silently out of an approved change (no entry on the change; the
CI's history then answered 404), and deleting a job deleted its run history. Every delete of
the portal's services, and of the admin, first asks what it would take with it: other records
that name the object (a change's CIs, an incident's CIs, a job's targets), records that would
be deleted with it (a job's runs, a CI's measurements) or lose their link to it (an alert's
service), and its own lifecycle in the audit trail (its transitions). If any, the delete is
refused with the reason and the way to take it out of use instead (retire a CI, deactivate a
job); something with no history may still be deleted. A delete the data model forbids
outright (PROTECT) is refused the same way, its code "in_use".

The object's own parts go with it and lose nothing: a calendar's working hours and holidays,
a CI's dependency edges (each delete is in the audit trail), a user's role assignments.
"""

from django.db import router
from django.db.models import ProtectedError, RestrictedError
from django.db.models.deletion import Collector

# Parts of an object that are deleted with it (model labels).
PARTS = {
    "slas.workinginterval",
    "slas.calendarholiday",
    "slas.recomputejob",
    "slas.recomputechunk",
    "mof.cirelationship",
    "mof.roleassignment",
}
# How an object with history is taken out of use instead, per model label.
INSTEAD = {
    "mof.configurationitem": "retire it instead",
    "operations.job": "deactivate it instead",
    "mof.user": "deactivate the account instead",
    "slas.servicelevelagreement": "retire it instead",
}
NAMED_SHOWN = 5  # records named in the message; the rest are counted


class HistoryKept(Exception):
    """A delete refused because it would lose history (the API answers 409, pages and the admin
    say why). `code`: "in_use" when the data model itself protects the object, else "has_history"."""

    def __init__(self, message: str, code: str = "has_history"):
        super().__init__(message)
        self.code = code


def _name(obj) -> str:
    """How people quote a record: its reference (CHG-12) or name, with its state."""
    label = getattr(obj, "reference", None) or getattr(obj, "name", None) or str(obj)
    state = getattr(obj, "status", None) or getattr(obj, "state", None)
    return f"{obj._meta.verbose_name} {label}" + (f" ({state})" if isinstance(state, str) and state else "")


def _count(objs) -> int:
    return objs.count() if hasattr(objs, "count") and not isinstance(objs, (list, set, tuple)) else len(objs)


def _plural(n: int, model) -> str:
    return f"{model._meta.verbose_name_plural} ({n})"


def history_lost(obj) -> tuple[list[str], bool]:
    """What deleting `obj` would lose, as phrases ("is named by change CHG-12 (approved)",
    "has job runs (3)"), empty when nothing; and whether the data model protects it (PROTECT)."""
    using = router.db_for_write(type(obj))
    collector = Collector(using=using, origin=obj)
    named, deleted, unlinked, protected = [], {}, {}, False
    try:
        collector.collect([obj])
    except (ProtectedError, RestrictedError) as exc:
        # What the data model protects is history too: named, with the rest of the reason.
        protected = True
        blocking = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        for other in blocking:
            unlinked[type(other)] = unlinked.get(type(other), 0) + 1
        collector = Collector(using=using, origin=obj)
    for model, instances in collector.data.items():
        if model is type(obj) or model._meta.label_lower in PARTS:
            continue
        if model._meta.auto_created is type(obj):  # its own many-to-many (a job's targets): its parts
            continue
        if model._meta.auto_created:  # the rows of another's many-to-many: the records on its other side name obj
            for row in instances:
                for field in model._meta.concrete_fields:
                    if not field.is_relation:
                        continue
                    # The other side's key (in a many-to-many with itself: the key that is not obj's).
                    if field.remote_field.model is not type(obj) or getattr(row, field.attname) != obj.pk:
                        named.append(getattr(row, field.name))
        else:
            deleted[model] = deleted.get(model, 0) + len(instances)
    for (field, _value), batches in collector.field_updates.items():
        model = field.model
        if model._meta.label_lower not in PARTS:
            unlinked[model] = unlinked.get(model, 0) + sum(_count(b) for b in batches)
    for qs in collector.fast_deletes:
        if qs.model._meta.label_lower not in PARTS and (n := qs.count()):
            deleted[qs.model] = deleted.get(qs.model, 0) + n
    lost = []
    if named:
        names = sorted({_name(o) for o in named})
        more = f" and {len(names) - NAMED_SHOWN} more" if len(names) > NAMED_SHOWN else ""
        lost.append(f"is named by {', '.join(names[:NAMED_SHOWN])}{more}")
    lost += [f"has {_plural(n, model)}" for model, n in deleted.items() if n]
    lost += [f"is named by {_plural(n, model)}" for model, n in unlinked.items() if n]
    from mof.models import AuditEntry

    transitions = AuditEntry.objects.filter(
        model_label=obj._meta.label_lower, object_id=str(obj.pk), action="transition"
    ).count()
    if transitions:
        lost.append(f"has {transitions} lifecycle {'entry' if transitions == 1 else 'entries'} in its history")
    return lost, protected


def refusal(obj) -> HistoryKept | None:
    """Why `obj` may not be deleted (None: it may)."""
    lost, protected = history_lost(obj)
    if not lost:
        return None
    instead = INSTEAD.get(obj._meta.label_lower, "it cannot be deleted")
    subject = f"{obj._meta.verbose_name.capitalize()} {getattr(obj, 'reference', None) or obj}"
    return HistoryKept(f"{subject} {'; '.join(lost)}: {instead}.", "in_use" if protected else "has_history")


def check_delete(obj) -> None:
    """Refuse (HistoryKept) a delete of `obj` that would lose history."""
    refused = refusal(obj)
    if refused is not None:
        raise refused
