"""The one door for state changes, used by pages, the API, the admin and Celery tasks.

perform_transition() locks the row (after any lock a receiver of `transition_starting`
takes first), checks the caller's permission (mof.policy), the
transition's input, separation of duties and conditions, runs the django-fsm
transition, saves, records it in the audit trail and stores its notification mail in
the same transaction (mof.notifications). Failures map to HTTP in one place (mof.api.errors, mof.views):
TransitionUnknown 404, TransitionNotAllowed/ConcurrentTransition 409,
PermissionDenied 403, TransitionBlocked (input, rule or condition) 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.dispatch import Signal
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from mof import audit, policy, separation
from mof.separation import SeparationOfDutiesViolation

__all__ = [
    "ConcurrentTransition",
    "TransitionBlocked",
    "TransitionNotAllowed",
    "TransitionUnknown",
    "available_transitions",
    "perform_transition",
]


# The one way to react to a transition, registered per app in its receivers module (AppConfig.ready),
# so models never import services:
# - transition_starting(sender=model, name): before the row lock, for locks a model takes first,
#   in one order everywhere (a change's schedule marks);
# - transitioned(sender=model, instance, name, source, target, actor, data): inside the
#   transaction after the save; cascades (a release moving its changes, a standard change's
#   pre-approval) go through this door again, and every write commits or rolls back with it.
transition_starting = Signal()
transitioned = Signal()


class TransitionUnknown(Exception):
    pass


class TransitionBlocked(Exception):
    """A condition, a separation-of-duties rule or the input refused the transition."""

    def __init__(self, reasons: list[str], *, field_errors: dict | None = None, rules: list[str] | None = None):
        self.reasons = reasons
        self.field_errors = field_errors or {}
        self.rules = rules or []
        super().__init__("; ".join(reasons))


@dataclass
class TransitionOption:
    name: str
    label: str
    target: str
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    form_class: type | None = None

    @property
    def needs_input(self) -> bool:
        return self.form_class is not None


def _state_field(model):
    from django_fsm import FSMFieldMixin

    return next(f for f in model._meta.fields if isinstance(f, FSMFieldMixin))


def _meta(obj, name):
    if name.startswith("_") or name not in transition_names(type(obj)):
        raise TransitionUnknown(f"{type(obj)._meta.verbose_name} has no transition {name!r}.")
    return getattr(type(obj), name)._django_fsm


def transition_names(model) -> list[str]:
    """Each transition once (django-fsm lists one per source state)."""
    return list(dict.fromkeys(t.name for t in _state_field(model).get_all_transitions(model)))


def transition_input_names(obj, name: str) -> list[str] | None:
    """The input transition `name` takes from the object's state (its form's fields); None when
    it is not possible from this state (the door then says why). TransitionUnknown if no such one."""
    meta = _meta(obj, name)
    state = getattr(obj, _state_field(type(obj)).name)
    if not meta.has_transition(state):
        return None
    form_class = meta.get_transition(state).custom.get("form")
    return list(form_class.base_fields) if form_class is not None else []


def _failed_conditions(obj, transition) -> list[str]:
    return [getattr(c, "message", c.__name__) for c in transition.conditions if not c(obj)]


def available_transitions(obj, user) -> list[TransitionOption]:
    """Transitions out of the object's state that `user` is permitted to take, each with
    whether it can be taken now and, if not, why (conditions, separation of duties)."""
    state = getattr(obj, _state_field(type(obj)).name)
    options = []
    for name in transition_names(type(obj)):
        meta = _meta(obj, name)
        if not meta.has_transition(state):
            continue
        t = meta.get_transition(state)
        if not t.has_perm(obj, user):
            continue
        reasons = _failed_conditions(obj, t)
        reasons += [
            v.message for v in separation.violations(obj, actor=user, transition=name, duty=t.custom.get("duty", ""))
        ]
        options.append(
            TransitionOption(
                name=name,
                label=t.custom.get("label", name.replace("_", " ").capitalize()),
                target=str(t.target),
                allowed=not reasons,
                reasons=reasons,
                form_class=t.custom.get("form"),
            )
        )
    return options


def perform_transition(*, model, pk, name: str, actor, data: dict | None = None, notify: bool = True):
    """Take transition `name` on model `pk` as `actor`; returns the saved object."""
    with audit.refusals_survive_rollback():
        return _perform(model=model, pk=pk, name=name, actor=actor, data=data or {}, notify=notify)


def _perform(*, model, pk, name, actor, data, notify):
    try:
        with transaction.atomic():
            # Locks a model takes before its row's, in that order everywhere (a change: its schedule's conflict marks).
            transition_starting.send(sender=model, name=name)
            obj = model.objects.select_for_update().get(pk=pk)
            meta = _meta(obj, name)
            state_field = _state_field(model).name
            source = getattr(obj, state_field)
            if not meta.has_transition(source):
                raise TransitionNotAllowed(f"{name!r} is not possible from {source!r}.", object=obj, method=name)
            t = meta.get_transition(source)
            if not t.has_perm(obj, actor):
                raise policy.Refused(
                    f"You may not {t.custom.get('label', name).lower()} this {model._meta.verbose_name}."
                )

            cleaned = {}
            form_class = t.custom.get("form")
            if form_class is not None:
                form = form_class(data=data)
                if not form.is_valid():
                    errors = {k: [str(m) for m in v] for k, v in form.errors.items()}
                    raise TransitionBlocked([f"{k}: {' '.join(v)}" for k, v in errors.items()], field_errors=errors)
                cleaned = form.cleaned_data

            if t.custom.get("prefill"):
                # The transition's input is what its conditions judge (a schedule's dates).
                for key, value in cleaned.items():
                    setattr(obj, key, value)
            separation.check(obj, actor=actor, transition=name, duty=t.custom.get("duty", ""))
            reasons = _failed_conditions(obj, t)
            if reasons:
                raise TransitionBlocked(reasons)

            with audit.acting_as(actor, transition=name, reason=cleaned.get("reason", ""), subject=obj):
                getattr(obj, name)(by=actor, **cleaned)
                obj.save()
            # Cascades and other apps' reactions (a release moving its changes, a change closing
            # resolves a problem), in the same transaction.
            transitioned.send(
                sender=model,
                instance=obj,
                name=name,
                source=source,
                target=getattr(obj, state_field),
                actor=actor,
                data=cleaned,
            )
            if notify:
                # Stored with the transition (mof.notifications): sent after commit, or by the
                # periodic relay if the broker cannot be reached then.
                transition_mail(obj, name, source, getattr(obj, state_field), getattr(actor, "pk", None))
            return obj
    except policy.Refused as exc:
        audit.record_refusal(
            actor=actor, action=f"{model._meta.label_lower}.{name}", target=_safe_get(model, pk), reasons=[str(exc)]
        )
        raise
    except SeparationOfDutiesViolation as exc:
        audit.record_refusal(
            actor=actor,
            action=f"{model._meta.label_lower}.{name}",
            target=_safe_get(model, pk),
            reasons=[f"[{v.rule}] {v.message}" for v in exc.violations],
        )
        raise TransitionBlocked([v.message for v in exc.violations], rules=[v.rule for v in exc.violations]) from exc


def _safe_get(model, pk):
    return model._base_manager.filter(pk=pk).first()


def transition_mail(obj, name: str, source: str, target: str, actor_id=None) -> list:
    """Tell the people concerned that an object moved: outbox rows in the caller's transaction,
    from templates/mail/transition, in the workflow's words (state labels, the transition's label)."""
    from mof import notifications
    from mof.tasks import notification_recipients

    recipients = notification_recipients(obj, actor_id)
    if not recipients:
        return []
    model = type(obj)
    states = dict(_state_field(model).flatchoices)
    before, after = str(states.get(source, source)), str(states.get(target, target))
    action = getattr(model, name, None)
    meta = getattr(action, "_django_fsm", None)
    custom = meta.get_transition(source).custom if meta is not None and meta.get_transition(source) is not None else {}
    label = model._meta.verbose_name
    title = getattr(obj, "title", "") or getattr(obj, "name", "") or str(obj)
    ref = notifications.reference(obj)
    return notifications.write_from_template(
        recipients,
        "transition",
        {
            "obj": obj,
            "what": f"{label} {obj}",
            "kind_label": label,
            "before": before,
            "after": after,
            "action": str(custom.get("label", name.replace("_", " ").capitalize())),
        },
        subject=f"{title}: {before} → {after}" if ref else f"{label.capitalize()} {title}: {before} → {after}",
        about=obj,
        kind=f"{model._meta.label_lower}.{name}",
    )
