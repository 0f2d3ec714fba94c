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
    applies_to: tuple[str, ...] = ()  # model labels of the subjects it decides; empty: every subject
    except_for: tuple[str, ...] = ()  # model labels of the subjects it does not decide
    follow_up: str = ""  # "problem" or "rfc": the decision opens one (reviews.review_periods)
    needs_reason: bool = False

    def applies(self, model_label: str | None) -> bool:
        if model_label is None:
            return True
        return (not self.applies_to or model_label in self.applies_to) and model_label not in self.except_for

    def transition_for(self, model_label: str) -> str | None:
        return dict(self.per_model).get(model_label, self.transition)


DECISIONS: dict[str, dict[str, DecisionOption]] = {}


def register(kind: str, *options: DecisionOption) -> None:
    table = DECISIONS.setdefault(str(kind), {})
    for option in options:
        if option.value == DEFER or option.value in table:
            raise ValueError(f"Decision {option.value!r} of {kind!r} is already defined")
        table[option.value] = option


def options_for(kind: str, model_label: str | None = None) -> list[DecisionOption]:
    """The decisions a meeting of `kind` can record (on a subject of `model_label`), defer last."""
    return [*vote_values(kind, model_label), DecisionOption(DEFER, "Defer")]


def option(kind: str, value: str, model_label: str | None = None) -> DecisionOption | None:
    if value == DEFER:
        return DecisionOption(DEFER, "Defer")
    found = DECISIONS.get(str(kind), {}).get(value)
    return found if found is not None and found.applies(model_label) else None


def vote_values(kind: str, model_label: str | None = None) -> list[DecisionOption]:
    """Attendees vote for one of the decisions (not for deferral)."""
    return [o for o in DECISIONS.get(str(kind), {}).values() if o.applies(model_label)]


register(
    ReviewKind.RELEASE_APPROVED,
    DecisionOption("approve", "Approve", "approve", "primary", notify="requester"),
    # A rejected standard-change template is retired rather than proposed again and again.
    DecisionOption(
        "reject",
        "Reject",
        "reject",
        "danger",
        notify="requester",
        per_model=(("changes.standardchangetemplate", "retire"),),
    ),
)
register(
    ReviewKind.RELEASE_READINESS,
    DecisionOption("go", "Go", "mark_ready", "primary", notify="implementer"),
    DecisionOption("no_go", "No-go", None, "danger"),
)
OPS_PERIOD_LABEL = "reviews.operationsreviewperiod"
register(
    ReviewKind.OPERATIONS,
    # A post-implementation review closes the change or release; accepting the period's
    # operational health report (reviews.operations_review) moves nothing and freezes it.
    DecisionOption("accept", "Accept", "close", "primary", per_model=((OPS_PERIOD_LABEL, None),)),
    DecisionOption("follow_up", "Follow up", None, except_for=(OPS_PERIOD_LABEL,)),
    DecisionOption(
        "follow_up_problem",
        "Follow up: open a problem",
        None,
        "danger",
        applies_to=(OPS_PERIOD_LABEL,),
        follow_up="problem",
        needs_reason=True,
    ),
    DecisionOption(
        "follow_up_rfc",
        "Follow up: draft an RFC",
        None,
        "danger",
        applies_to=(OPS_PERIOD_LABEL,),
        follow_up="rfc",
        needs_reason=True,
    ),
)
SLA_LABEL = "slas.servicelevelagreement"
SLA_PERIOD_LABEL = "reviews.slareviewperiod"
register(
    ReviewKind.SLA,
    DecisionOption("activate", "Activate", "activate", "primary", applies_to=(SLA_LABEL,)),
    DecisionOption("revise", "Send back for revision", "withdraw", "danger", applies_to=(SLA_LABEL,)),
    # The period's service level report (reviews.sla_review): accepted, or improvement is
    # required, with a reason, through a problem or a draft RFC (the decider chooses).
    DecisionOption("accept", "Accept the report", None, "primary", applies_to=(SLA_PERIOD_LABEL,)),
    DecisionOption(
        "improve_problem",
        "Require improvement: open a problem",
        None,
        "danger",
        applies_to=(SLA_PERIOD_LABEL,),
        follow_up="problem",
        needs_reason=True,
    ),
    DecisionOption(
        "improve_rfc",
        "Require improvement: draft an RFC",
        None,
        "danger",
        applies_to=(SLA_PERIOD_LABEL,),
        follow_up="rfc",
        needs_reason=True,
    ),
)
