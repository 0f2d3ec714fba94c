"""Ids and page numbers in the API's query strings: a digit that is not ASCII ("²", which
str.isdigit() accepts and int() refuses) or a number no column holds is a 400 or 404 with a
message, never a 500."""

import pytest

from tests.conftest import api_as

pytestmark = pytest.mark.django_db

ODD = ["²", "999999999999999999999", "-1", "1e309"]


@pytest.mark.parametrize("value", ODD)
@pytest.mark.parametrize(
    "url, name",
    [
        ("/api/v1/measurements/", "ci"),
        ("/api/v1/reports/availability/", "service"),
        ("/api/v1/schedule/", "service"),
        ("/api/v1/schedule/", "ci"),
        ("/api/v1/incidents/", "page"),
    ],
)
def test_an_odd_number_in_the_query_is_refused_with_a_message(admin_user, url, name, value):
    response = api_as(admin_user).get(url, {name: value})
    assert response.status_code in (400, 404), (url, name, value, response.status_code)
    assert response.json()
