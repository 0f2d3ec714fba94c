"""Who may take which transition, in which state: one table generated from the workflow
declarations of every django-fsm model and the one policy (mof.policy).

A new transition without a permission rule fails here; so does a rule change that nobody
meant: the table is compared with the checked-in tests/core/transition_table.txt. After a
deliberate change, regenerate it with UPDATE_TRANSITION_TABLE=1 and review the diff.

The table asks each persona about a blank record of the model, so it shows what a role grants
by itself; rules that depend on the record (the assignee, the requester) are proven by each
app's own tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from django_fsm import FSMFieldMixin

from mof import policy
from mof.choices import RoleCluster
from mof.services import system_user
from tests.factories import AdminFactory, ManagerFactory, UserFactory

TABLE = Path(__file__).with_name("transition_table.txt")


def fsm_models():
    for model in sorted(apps.get_models(), key=lambda m: m._meta.label):
        field = next((f for f in model._meta.fields if isinstance(f, FSMFieldMixin)), None)
        if field is not None:
            yield model, field


def transitions(model, field):
    """Every (source, transition) django-fsm knows of, in a stable order."""
    rows = []
    for t in field.get_all_transitions(model):
        rows.append((str(t.source), t))
    return sorted(rows, key=lambda row: (row[1].name, row[0]))


def test_every_transition_of_every_fsm_model_asks_the_policy():
    missing = []
    for model, field in fsm_models():
        for source, t in transitions(model, field):
            action = getattr(t.permission, "action", None)
            if action is None or action not in policy.RULES:
                missing.append(f"{model._meta.label}.{t.name} from {source}: permission {action!r}")
    assert not missing, "transitions without a policy rule:\n" + "\n".join(missing)


def test_there_is_a_state_machine_to_check():
    labels = {model._meta.label for model, _ in fsm_models()}
    # Guards the test above against passing vacuously.
    assert {"changes.RequestForChange", "incidents.Incident", "reviews.AgendaItem"} <= labels


def personas():
    people = [("anonymous", AnonymousUser()), ("employee", UserFactory(username="table-employee"))]
    for role in RoleCluster:
        people.append((role.value, UserFactory(username=f"table-{role.value}", roles=[role])))
    people.append(("manager", ManagerFactory(username="table-manager")))
    people.append(("admin", AdminFactory(username="table-admin")))
    people.append(("system", system_user()))
    return people


def render_table() -> str:
    people = personas()
    lines = ["# model.transition  source -> target  action: personas allowed (blank record)"]
    for model, field in fsm_models():
        for source, t in transitions(model, field):
            record = model()
            allowed = [name for name, person in people if t.has_perm(record, person)]
            action = getattr(t.permission, "action", "-")
            target = "|".join(t.target.allowed_states) if hasattr(t.target, "allowed_states") else t.target
            lines.append(
                f"{model._meta.label}.{t.name}  {source} -> {target}  {action}: {', '.join(allowed) or 'nobody'}"
            )
    return "\n".join(lines) + "\n"


@pytest.mark.django_db
def test_the_state_transition_role_table_matches_the_reviewed_one():
    table = render_table()
    if os.environ.get("UPDATE_TRANSITION_TABLE"):
        TABLE.write_text(table)
    assert TABLE.exists(), "run with UPDATE_TRANSITION_TABLE=1 to write the table"
    expected = TABLE.read_text()
    assert table == expected, "the transition table changed; review it and regenerate with UPDATE_TRANSITION_TABLE=1"


@pytest.mark.django_db
def test_nobody_but_the_system_and_admins_may_move_anything_without_a_role():
    """The anonymous visitor may take no transition at all."""
    anonymous = AnonymousUser()
    for model, field in fsm_models():
        for _, t in transitions(model, field):
            assert not t.has_perm(model(), anonymous), f"{model._meta.label}.{t.name}"
