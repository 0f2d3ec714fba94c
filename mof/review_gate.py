"""The review gate: how MOF's review milestones hold a transition until a meeting decides.

A gated transition carries the condition `requires(kind, decision)`; it passes once a
review of that kind has decided that for the object. `record_decision()` is what the
reviews app calls when a meeting decides: it stores the decision and, in the same
transaction, fires the gated transition through the one door (mof.transitions), so a
decision and the move it causes land together or not at all.
"""

from __future__ import annotations

from django.db import transaction

from mof import audit, policy
from mof.choices import ReviewKind


def latest_decision(kind: str, subject):
    from mof.models import ReviewDecisionRecord

    return (
        ReviewDecisionRecord.objects.filter(kind=kind, model_label=subject._meta.label_lower, object_id=str(subject.pk))
        .order_by("-decided_at", "-id")
        .first()
    )


def requires(kind: str, decision: str):
    """A transition condition: the latest review of `kind` decided `decision`."""

    def gate(subject) -> bool:
        record = latest_decision(kind, subject)
        return record is not None and record.decision == decision

    gate.message = f"Awaiting a '{decision}' decision of the {ReviewKind(kind).label}."
    gate.review_kind = kind
    gate.__name__ = f"requires_{kind}_{decision}"
    return gate


def record_decision(
    *,
    kind: str,
    subject,
    decision: str,
    actor,
    notes: str = "",
    reference: str = "",
    fire: str | None = None,
    data: dict | None = None,
    detail: dict | None = None,
):
    """Record what a review decided for `subject` and fire the gated transition `fire`."""
    from mof.models import ReviewDecisionRecord
    from mof.transitions import perform_transition

    ReviewKind(kind)  # unknown kinds are a programming error
    policy.require(actor, "review.decide", subject)
    with audit.refusals_survive_rollback(), transaction.atomic():
        record = ReviewDecisionRecord.objects.create(
            kind=kind,
            model_label=subject._meta.label_lower,
            object_id=str(subject.pk),
            decision=decision,
            decided_by=actor,
            notes=notes,
            reference=reference,
            detail=detail or {},
        )
        if fire:
            reason = notes or f"{ReviewKind(kind).label}: {decision}" + (f" ({reference})" if reference else "")
            perform_transition(
                model=type(subject), pk=subject.pk, name=fire, actor=actor, data=data or {"reason": reason}
            )
    return record


def gated_sources() -> dict[str, list[tuple]]:
    """Per review kind, the (model, state field name, states) whose objects wait for that
    review: the states from which a transition gated by it leaves (an assessed change
    waits for the Release Approved Review), read from the state machines themselves, so
    any app's gated lifecycle appears here without mof knowing it. Also used by the
    reviews app to fill meeting agendas."""
    from django.apps import apps as django_apps
    from django_fsm import FSMFieldMixin

    found: dict[str, list[tuple]] = {}
    for model in django_apps.get_models():
        field = next((f for f in model._meta.fields if isinstance(f, FSMFieldMixin)), None)
        if field is None:
            continue
        sources: dict[str, set] = {}
        for t in field.get_all_transitions(model):
            kind = t.custom.get("gated_by")
            if kind and t.source not in ("*", "+"):
                sources.setdefault(str(kind), set()).add(t.source)
        for kind, states in sources.items():
            found.setdefault(kind, []).append((model, field, sorted(states)))
    return found
