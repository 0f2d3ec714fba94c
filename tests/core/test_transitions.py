import pytest
from django.core.exceptions import PermissionDenied

from mof import review_gate
from mof.choices import CIStatus, ReviewKind
from mof.models import AuditEntry, ConfigurationItem, SeparationRule
from mof.transitions import (
    ConcurrentTransition,
    TransitionBlocked,
    TransitionNotAllowed,
    TransitionUnknown,
    available_transitions,
    perform_transition,
)
from tests.factories import CIFactory, UserFactory

pytestmark = pytest.mark.django_db


def commission(ci, actor, **data):
    return perform_transition(model=ConfigurationItem, pk=ci.pk, name="commission", actor=actor, data=data)


def test_commission_moves_a_planned_ci_into_service_and_records_it(infra_user):
    ci = CIFactory(owner=infra_user)
    commission(ci, infra_user)
    ci.refresh_from_db()
    assert ci.status == CIStatus.IN_SERVICE
    entry = AuditEntry.objects.filter(model_label="mof.configurationitem", object_id=str(ci.pk)).first()
    assert entry.action == "transition"
    assert entry.transition == "commission"
    assert entry.changes["status"] == ["planned", "in_service"]
    assert entry.actor_name == "infra"


def test_a_condition_blocks_with_its_reason(infra_user):
    ci = CIFactory(owner=None)
    with pytest.raises(TransitionBlocked) as exc:
        commission(ci, infra_user)
    assert "needs an owner" in exc.value.reasons[0]
    ci.refresh_from_db()
    assert ci.status == CIStatus.PLANNED


def test_wrong_state_is_not_allowed(infra_user):
    ci = CIFactory(owner=infra_user, status=CIStatus.RETIRED)
    with pytest.raises(TransitionNotAllowed):
        commission(ci, infra_user)


def test_unknown_transition_and_private_names_are_unknown(infra_user):
    ci = CIFactory(owner=infra_user)
    for name in ("explode", "save", "_do_update", "delete"):
        with pytest.raises(TransitionUnknown):
            perform_transition(model=ConfigurationItem, pk=ci.pk, name=name, actor=infra_user)


def test_a_person_without_the_role_is_refused_and_the_refusal_is_logged(support_user, infra_user):
    ci = CIFactory(owner=infra_user)
    with pytest.raises(PermissionDenied):
        commission(ci, support_user)
    refusal = AuditEntry.objects.get(action="refused", actor_name="support")
    assert refusal.object_id == str(ci.pk)
    assert ConfigurationItem.objects.get(pk=ci.pk).status == CIStatus.PLANNED


def test_retire_needs_a_reason_which_is_recorded(manager):
    ci = CIFactory(owner=manager, status=CIStatus.IN_SERVICE)
    with pytest.raises(TransitionBlocked) as exc:
        perform_transition(model=ConfigurationItem, pk=ci.pk, name="retire", actor=manager, data={})
    assert "reason" in exc.value.field_errors
    perform_transition(
        model=ConfigurationItem, pk=ci.pk, name="retire", actor=manager, data={"reason": "Replaced by mbx-03"}
    )
    ci.refresh_from_db()
    assert ci.status == CIStatus.RETIRED
    assert ci.retired_reason == "Replaced by mbx-03"
    assert AuditEntry.objects.filter(transition="retire", reason="Replaced by mbx-03").exists()


def test_state_cannot_be_assigned_directly():
    ci = CIFactory()
    with pytest.raises(AttributeError):
        ci.status = CIStatus.IN_SERVICE


def test_stale_copy_cannot_overwrite_a_newer_state(infra_user, manager):
    ci = CIFactory(owner=infra_user)
    stale = ConfigurationItem.objects.get(pk=ci.pk)
    commission(ci, infra_user)
    stale.retire(reason="stale")
    with pytest.raises(ConcurrentTransition):
        stale.save()


def test_available_transitions_lists_what_the_caller_may_take_with_reasons(infra_user, manager):
    ci = CIFactory(owner=None)
    options = {o.name: o for o in available_transitions(ci, infra_user)}
    assert set(options) == {"commission", "retire"}
    assert options["commission"].allowed is False
    assert options["commission"].reasons
    assert options["retire"].needs_input
    assert "reinstate" not in options
    support = UserFactory(username="s2", roles=["support"])
    assert available_transitions(ci, support) == []


def test_configured_separation_rule_blocks_the_owner_and_is_recorded_with_its_name(infra_user):
    SeparationRule.objects.create(
        name="owner-does-not-commission-own-ci",
        description="A CI's owner does not put it into service alone",
        model_label="mof.configurationitem",
        transitions="commission",
        party="owner",
    )
    ci = CIFactory(owner=infra_user)
    with pytest.raises(TransitionBlocked) as exc:
        commission(ci, infra_user)
    assert exc.value.rules == ["owner-does-not-commission-own-ci"]
    refusal = AuditEntry.objects.get(action="refused")
    assert "[owner-does-not-commission-own-ci]" in refusal.reason
    other = UserFactory(username="infra2", roles=["infrastructure"])
    commission(ci, other)
    assert ConfigurationItem.objects.get(pk=ci.pk).status == CIStatus.IN_SERVICE


def test_notification_is_queued_only_after_commit(infra_user, django_capture_on_commit_callbacks, mailoutbox):
    owner = UserFactory(username="owner", email="owner@example.test", roles=["infrastructure"])
    ci = CIFactory(owner=owner)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        commission(ci, infra_user)
    assert len(callbacks) == 1 and mailoutbox == []
    callbacks[0]()
    assert mailoutbox[0].to == ["owner@example.test"]
    assert "Planned → In service" in mailoutbox[0].subject


def test_review_gate_records_a_decision_and_fires_the_transition(manager, infra_user):
    ci = CIFactory(owner=infra_user)
    gate = review_gate.requires(ReviewKind.RELEASE_READINESS, "go")
    assert gate(ci) is False
    assert "Release Readiness Review" in gate.message
    review_gate.record_decision(
        kind=ReviewKind.RELEASE_READINESS, subject=ci, decision="go", actor=manager, notes="Ready", fire="commission"
    )
    ci.refresh_from_db()
    assert gate(ci) is True
    assert ci.status == CIStatus.IN_SERVICE


def test_review_gate_decision_is_rolled_back_when_its_transition_fails(manager):
    ci = CIFactory(owner=None)
    with pytest.raises(TransitionBlocked):
        review_gate.record_decision(
            kind=ReviewKind.RELEASE_READINESS, subject=ci, decision="go", actor=manager, fire="commission"
        )
    assert review_gate.latest_decision(ReviewKind.RELEASE_READINESS, ci) is None


def test_only_managers_record_review_decisions(infra_user):
    ci = CIFactory(owner=infra_user)
    with pytest.raises(PermissionDenied):
        review_gate.record_decision(kind=ReviewKind.OPERATIONS, subject=ci, decision="accept", actor=infra_user)
