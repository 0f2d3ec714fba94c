"""The built-in MOF duty rules, on any object that names the parties."""

from types import SimpleNamespace

import pytest

from mof import separation
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


class Meta:
    label_lower = "changes.requestforchange"


def change(**parties):
    obj = SimpleNamespace(developer=None, tester=None, requester=None, **{})
    for k, v in parties.items():
        setattr(obj, k, v)
    obj._meta = Meta
    return obj


def rules(found):
    return sorted({v.rule for v in found})


def test_the_tester_is_not_the_developer():
    dev = UserFactory()
    assert rules(separation.violations(change(developer=dev, tester=dev), actor=None)) == ["tester-is-not-developer"]


def test_the_tester_is_not_on_the_developers_team():
    dev, colleague, outsider = UserFactory(), UserFactory(), UserFactory()
    TeamFactory(members=[dev, colleague])
    TeamFactory(members=[outsider])
    for user in (dev, colleague, outsider):
        user.forget_cached_memberships()
    assert separation.violations(change(developer=dev, tester=colleague), actor=None)
    assert separation.violations(change(developer=dev, tester=outsider), actor=None) == []


def test_whoever_performs_the_test_duty_is_not_the_developer():
    dev = UserFactory()
    found = separation.violations(change(developer=dev), actor=dev, transition="record_test", duty="test")
    assert rules(found) == ["tester-is-not-developer"]


def test_the_approver_is_not_the_requester():
    requester, other = UserFactory(), UserFactory()
    obj = change(requester=requester)
    assert rules(separation.violations(obj, actor=requester, transition="approve", duty="approve")) == [
        "approver-is-not-requester"
    ]
    assert separation.violations(obj, actor=other, transition="approve", duty="approve") == []
    # Not an approval: the requester may do it.
    assert separation.violations(obj, actor=requester, transition="submit", duty="") == []


def test_objects_without_the_parties_are_untouched():
    user = UserFactory()
    obj = SimpleNamespace(_meta=Meta)
    assert separation.violations(obj, actor=user, transition="approve", duty="approve") == []


def test_a_registered_rule_joins_without_new_machinery():
    implementer = UserFactory()
    rule = separation.ActorIsNotParty(
        name="implementer-is-not-approver",
        description="The implementer does not approve",
        party="implementer",
        duty="approve",
    )
    separation.register(rule)
    try:
        obj = change(implementer=implementer)
        assert "implementer-is-not-approver" in rules(separation.violations(obj, actor=implementer, duty="approve"))
    finally:
        separation._registered.remove(rule)
