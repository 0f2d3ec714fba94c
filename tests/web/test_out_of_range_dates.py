"""Dates at the edge of the calendar (year 1, 9999) in an address are refused like any bad
date, never a 500 from the date arithmetic around them (issue 11, found by the page crawler):
the operations calendar's month grid, the availability period and the SLA what-if period."""

import pytest
from django.core.exceptions import ValidationError

from operations.views import _parse_day
from slas.availability import parse_period
from slas.forms import PeriodForm

EDGES = ["9999-12-31", "0001-01-01"]


@pytest.mark.parametrize("raw", EDGES)
def test_the_calendar_refuses_a_day_whose_grid_leaves_the_calendar(raw):
    assert _parse_day(raw) is None
    assert _parse_day("2026-03-01").isoformat() == "2026-03-01"


@pytest.mark.parametrize("raw", EDGES)
def test_the_availability_period_refuses_an_edge_date(raw):
    with pytest.raises(ValidationError):
        parse_period(raw, raw)
    with pytest.raises(ValidationError):
        parse_period(None, raw)  # the default start, 30 days before, would fall off year 1


@pytest.mark.parametrize("name", ["start", "end"])
@pytest.mark.parametrize("raw", EDGES)
def test_the_what_if_period_form_shows_an_error_for_an_edge_date(name, raw):
    form = PeriodForm({name: raw})
    assert not form.is_valid() and name in form.errors
    assert PeriodForm({"start": "2026-01-01", "end": "2026-01-31"}).is_valid()
