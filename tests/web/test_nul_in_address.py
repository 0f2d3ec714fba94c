"""A NUL character in a page parameter (?q=%00) is refused with 400: PostgreSQL takes no NUL
in a text value, so the search boxes that filter on what was typed answered 500 (issue 11)."""

import pytest
from django.urls import reverse

from tests.factories import AdminFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["change_list", "problem_list", "job_list", "service_list", "incident_queue"])
def test_a_nul_in_a_search_is_refused(client, page):
    client.force_login(AdminFactory(username="reader", is_manager=True))
    refused = client.get(reverse(page), {"q": "mail\x00box"})
    assert refused.status_code == 400 and b"NUL" in refused.content
    assert client.get(reverse(page), {"q": "mailbox"}).status_code == 200


def test_a_nul_in_a_parameter_name_is_refused_too(client):
    assert client.get(reverse("login"), {"ne\x00xt": "/"}).status_code == 400
