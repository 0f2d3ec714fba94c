"""The tab and status filters of the list pages refuse a value they do not know: the page
shows why, naming the allowed values, with HTTP 400, and its CSV export is refused the same
way, never a CSV of everything. Known values and the "any"/"all" choice keep working."""

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from mof.choices import RoleCluster
from tests.factories import AdminFactory, ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client):
    client.force_login(AdminFactory(username="reader", is_manager=True, roles=list(RoleCluster.values)))
    return client


@pytest.fixture
def mail(db):
    return ServiceFactory(name="Exchange mail")


# (page, filter, a refused value, a value the page knows, a word of the message naming the allowed values)
FILTERS = [
    ("problem_list", "status", "solved", "investigating", "closed_no_fix"),
    ("proposal_list", "status", "all", "dismissed", "accepted"),
    ("change_list", "status", "done", "approved", "ready_for_deployment"),
    ("change_list", "type", "urgent", "emergency", "standard"),
    ("review_meeting_list", "state", "open", "closed", "in_session"),
    ("sla_list", "kind", "ula", "ola", "sla"),
    ("sla_list", "status", "expired", "active", "retired"),
    ("known_error_list", "service", "mail", "<mail>", "service"),
    ("known_error_list", "service", "999999", "<mail>", "service"),
    ("known_error_list", "service", "99999999999999999999", "<mail>", "service"),  # beyond any integer column
]
IDS = [f"{page}-{name}-{bad}" for page, name, bad, *_ in FILTERS]


def _value(value, mail):
    return str(mail.pk) if value == "<mail>" else value


@pytest.mark.parametrize(("page", "name", "bad", "good", "allowed"), FILTERS, ids=IDS)
def test_an_unknown_filter_value_is_refused_on_the_page(reader, mail, page, name, bad, good, allowed):
    response = reader.get(reverse(page), {name: bad})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "No such" in html and allowed in html


@pytest.mark.parametrize(("page", "name", "bad", "good", "allowed"), FILTERS, ids=IDS)
def test_an_unknown_filter_value_is_never_exported_as_no_filter(reader, mail, page, name, bad, good, allowed):
    response = reader.get(reverse(page), {"export": "csv", name: bad})
    assert response.status_code == 400 and not isinstance(response, StreamingHttpResponse)
    assert 'role="alert"' in response.content.decode()


@pytest.mark.parametrize(("page", "name", "bad", "good", "allowed"), FILTERS, ids=IDS)
def test_a_known_filter_value_and_no_filter_keep_working(reader, mail, page, name, bad, good, allowed):
    for value in (_value(good, mail), ""):
        shown = reader.get(reverse(page), {name: value})
        assert shown.status_code == 200 and 'role="alert"' not in shown.content.decode()
        exported = reader.get(reverse(page), {"export": "csv", name: value})
        assert exported.status_code == 200 and isinstance(exported, StreamingHttpResponse)


def test_the_proposal_list_still_opens_on_the_proposed_tab(reader):
    response = reader.get(reverse("proposal_list"))
    assert response.status_code == 200 and response.context["status"] == "proposed"


def test_a_refused_filter_lists_nothing_rather_than_everything(reader):
    from incidents.models import Problem

    Problem.objects.create(title="Mail queue stuck")
    assert len(reader.get(reverse("problem_list")).context["page"].items) == 1
    assert list(reader.get(reverse("problem_list"), {"status": "solved"}).context["page"].items) == []
