"""Serializers with VisibleCIsMixin resolve CI ids only among the CIs the caller may see: any
other id is "does not exist", in a list of CIs as in a single one (DRF looks a list's ids up
in its child field's queryset, which the mixin must narrow too). No endpoint lets someone
outside IT name CIs today (change.add is IT staff's, and filing on self-service names the
service, not CIs): this keeps it so if one ever does."""

import pytest
from rest_framework.test import APIRequestFactory

from changes.api.serializers import ChangeSerializer
from incidents.api.serializers import IncidentSerializer
from mof.api.serializers import CIRelationshipSerializer
from tests.factories import CIFactory

pytestmark = pytest.mark.django_db


def _context(user):
    request = APIRequestFactory().post("/")
    request.user = user
    return {"request": request}


@pytest.mark.parametrize(
    "serializer_class, field", [(ChangeSerializer, "affected_cis"), (IncidentSerializer, "affected_cis")]
)
def test_a_list_of_cis_resolves_only_visible_ones(employee, serializer_class, field):
    hidden, mine = CIFactory(name="core-fw-01"), CIFactory(name="my-laptop", owner=employee)
    child = serializer_class(context=_context(employee)).fields[field].child_relation
    assert child.to_internal_value(mine.pk) == mine
    with pytest.raises(Exception, match="does not exist"):
        child.to_internal_value(hidden.pk)


def test_a_single_ci_resolves_only_visible_ones(employee):
    hidden = CIFactory(name="core-fw-02")
    serializer = CIRelationshipSerializer(data={"source": hidden.pk, "target": hidden.pk}, context=_context(employee))
    assert not serializer.is_valid()
    assert "does not exist" in str(serializer.errors["source"])


def test_it_staff_resolve_every_ci(support_user):
    ci = CIFactory(name="core-fw-03")
    assert (
        ChangeSerializer(context=_context(support_user)).fields["affected_cis"].child_relation.to_internal_value(ci.pk)
        == ci
    )
