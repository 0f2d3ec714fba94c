"""Separation of duties: declared rules that every state machine consults.

A rule says: when an actor performs a duty (or takes one of some transitions) on an
object, the actor may not be one of the object's parties (nor, if teams count, share a
team with that party); or: two parties of an object may not be the same person (team).

Objects take part simply by having the named attributes (developer, tester,
requester...). The two rules MOF names are built in; managers add more in the admin
(SeparationRule) and later apps may `register()` their own, without new machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class SeparationOfDutiesViolation(Exception):
    def __init__(self, violations: list["Violation"]):
        self.violations = violations
        super().__init__("; ".join(v.message for v in violations))


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str


def _party(obj, name):
    return getattr(obj, name, None) if name else None


def _teams(user) -> frozenset[int]:
    return getattr(user, "team_ids", frozenset()) if user is not None else frozenset()


def _same(a, b, include_teams: bool) -> bool:
    if a is None or b is None:
        return False
    if a.pk == b.pk:
        return True
    return include_teams and bool(_teams(a) & _teams(b))


@dataclass(frozen=True)
class ActorIsNotParty:
    """Whoever performs `duty` (or takes one of `transitions`) is not the object's `party`."""

    name: str
    description: str
    party: str
    duty: str = ""
    transitions: frozenset[str] = field(default_factory=frozenset)
    model_label: str = ""  # empty: any object that has the party
    include_teams: bool = False

    def applies(self, obj, transition: str, duty: str) -> bool:
        if self.model_label and obj._meta.label_lower != self.model_label:
            return False
        if not hasattr(obj, self.party):
            return False
        if self.transitions:
            return transition in self.transitions
        return bool(self.duty) and duty == self.duty

    def check(self, obj, actor, transition: str, duty: str) -> Violation | None:
        if self.applies(obj, transition, duty) and _same(actor, _party(obj, self.party), self.include_teams):
            who = "team" if self.include_teams and actor.pk != _party(obj, self.party).pk else "person"
            return Violation(self.name, f"{self.description} (the acting {who} is the {self.party.replace('_', ' ')}).")
        return None


@dataclass(frozen=True)
class PartiesDiffer:
    """Two parties of one object are never the same person (nor team)."""

    name: str
    description: str
    first: str
    second: str
    include_teams: bool = False
    model_label: str = ""

    def check(self, obj, actor, transition: str, duty: str) -> Violation | None:
        if self.model_label and obj._meta.label_lower != self.model_label:
            return None
        if not (hasattr(obj, self.first) and hasattr(obj, self.second)):
            return None
        a, b = _party(obj, self.first), _party(obj, self.second)
        if _same(a, b, self.include_teams):
            return Violation(self.name, f"{self.description}.")
        return None


BUILT_IN = [
    # MOF: the team that tests a change is separate from the team that developed it.
    PartiesDiffer(
        name="tester-is-not-developer",
        description="The tester of a change is not its developer, nor on the developer's team",
        first="developer",
        second="tester",
        include_teams=True,
    ),
    ActorIsNotParty(
        name="tester-is-not-developer",
        description="The tester of a change is not its developer, nor on the developer's team",
        party="developer",
        duty="test",
        include_teams=True,
    ),
    # MOF: the approver of a change is never its requester.
    ActorIsNotParty(
        name="approver-is-not-requester",
        description="Whoever approves a change is not its requester",
        party="requester",
        duty="approve",
    ),
]

_registered: list = []


def register(rule) -> None:
    _registered.append(rule)


def configured_rules(model_label: str) -> list[ActorIsNotParty]:
    from mof.models import SeparationRule

    return [
        ActorIsNotParty(
            name=r.name,
            description=r.description,
            party=r.party,
            duty=r.duty,
            transitions=frozenset(t.strip() for t in r.transitions.split(",") if t.strip()),
            model_label=r.model_label,
            include_teams=r.include_teams,
        )
        for r in SeparationRule.objects.filter(active=True, model_label=model_label)
    ]


def violations(obj, *, actor, transition: str = "", duty: str = "") -> list[Violation]:
    rules = [*BUILT_IN, *_registered, *configured_rules(obj._meta.label_lower)]
    found = []
    for rule in rules:
        v = rule.check(obj, actor, transition, duty)
        if v is not None and v not in found:
            found.append(v)
    return found


def check(obj, *, actor, transition: str = "", duty: str = "") -> None:
    found = violations(obj, actor=actor, transition=transition, duty=duty)
    if found:
        raise SeparationOfDutiesViolation(found)
