"""Numbers read from a request (ids, reference numbers, page numbers): only ASCII digits that a
database column can hold count, so nonsense gives the page without that filter rather than a
500 (issue 11: "²" passed str.isdigit() and broke int(); a page number past a bigint broke
the OFFSET)."""

import pytest

from mof.pagination import MAX_ID, MAX_PAGE, paginate, parse_id, parse_positive_int


@pytest.mark.parametrize(("raw", "number"), [("12", 12), (" 7 ", 7), ("0", 0), (5, 5), (str(MAX_ID), MAX_ID)])
def test_ascii_digits_are_a_number(raw, number):
    assert parse_id(raw) == number


@pytest.mark.parametrize(
    "raw", ["\u00b2", "\u0663", "-1", "+1", "1_000", "1e3", "", None, "zzz", str(MAX_ID + 1), "9" * 400]
)
def test_anything_else_is_none(raw):
    assert parse_id(raw) is None


def test_a_page_number_falls_back_or_is_capped():
    assert parse_positive_int("\u00b2", 1) == 1 and parse_positive_int("0", 1) == 1
    assert parse_positive_int("999999999999999999999", 1) == 1 and parse_positive_int("80", 1, maximum=50) == 50


@pytest.mark.django_db
def test_a_page_past_any_offset_the_database_takes_is_empty():
    from mof.models import Service

    page = paginate(Service.objects.order_by("pk"), page=10**30, page_size=50)
    assert page.items == [] and page.number == MAX_PAGE


@pytest.mark.django_db
def test_an_owner_id_no_column_holds_is_a_form_error_on_the_cmdb_list_and_the_api(client):
    """SQLite refused the 21-digit id with OverflowError (a 500) before the filter was bounded."""
    from rest_framework.test import APIClient

    from tests.factories import AdminFactory, CIFactory

    admin = AdminFactory(username="reader")
    CIFactory(name="EX-CAS-01", owner=admin)
    client.force_login(admin)
    page = client.get("/cmdb/cis/", {"owner": "999999999999999999999"})
    assert page.status_code in (200, 400) and "EX-CAS-01" in page.content.decode()  # the filter is refused, not applied
    api = APIClient()
    api.force_authenticate(admin)
    assert api.get("/api/v1/cis/", {"owner": "999999999999999999999"}).status_code == 400
    assert api.get("/api/v1/cis/", {"owner": admin.pk}).json()["count"] == 1
