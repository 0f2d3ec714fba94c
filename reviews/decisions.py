"""What each kind of review decides, and which gated transition each decision fires.

A registry: the SLA Review's decisions are added by the SLA app with `register()`.
`transition` None means the decision is recorded (with the gate) and moves nothing:
a no-go leaves a change tested, a follow-up leaves it implemented. Deferring is common
to every kind: the item rolls to the next meeting of that kind.
"""
from __future__ import annotations

from dataclasses import dataclass

from mof.choices import ReviewKind

DEFER = "defer"


@dataclass(frozen=True)
class DecisionOption:
    value: str
    label: str
    transition: str | None = None
    style: str = ""  # primary / danger: how the button looks
    notify: str = ""  # "requester" (decided) or "implementer" (ready for deployment)
    per_model: tuple[tuple[str, str | None], ...] = ()  # (model label, transition) where a subject differs

    def transition_for(self, model_label: str) -> str | None:
        return dict(self.per_model).get(model_label, self.transition)


DECISIONS: dict[str, dict[str, DecisionOption]] = {}


def register(kind: str, *options: DecisionOption) -> None:
    table = DECISIONS.setdefault(str(kind), {})
    for option in options:
        if option.value == DEFER or option.value in table:
            raise ValueError(f"Decision {option.value!r} of {kind!r} is already defined")
        table[option.value] = option


def options_for(kind: str) -> list[DecisionOption]:
    """The decisions a meeting of `kind` can record, defer last."""
    return [*DECISIONS.get(str(kind), {}).values(), DecisionOption(DEFER, "Defer")]


def option(kind: str, value: str) -> DecisionOption | None:
    if value == DEFER:
        return DecisionOption(DEFER, "Defer")
    return DECISIONS.get(str(kind), {}).get(value)


def vote_values(kind: str) -> list[DecisionOption]:
    """Attendees vote for one of the decisions (not for deferral)."""
    return list(DECISIONS.get(str(kind), {}).values())


register(
    ReviewKind.RELEASE_APPROVED,
    DecisionOption("approve", "Approve", "approve", "primary", notify="requester"),
    # A rejected standard-change template is retired rather than proposed again and again.
    DecisionOption("reject", "Reject", "reject", "danger", notify="requester",
                   per_model=(("changes.standardchangetemplate", "retire"),)),
)
register(
    ReviewKind.RELEASE_READINESS,
    DecisionOption("go", "Go", "mark_ready", "primary", notify="implementer"),
    DecisionOption("no_go", "No-go", None, "danger"),
)
register(
    ReviewKind.OPERATIONS,
    DecisionOption("accept", "Accept", "close", "primary"),
    DecisionOption("follow_up", "Follow up", None),
)
register(
    ReviewKind.SLA,
    DecisionOption("activate", "Activate", "activate", "primary"),
    DecisionOption("revise", "Send back for revision", "withdraw", "danger"),
)
