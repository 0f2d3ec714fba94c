"""Maintenance-window recurrences: time zones and daylight saving (operations.schedule)."""

import datetime as dt

import pytest

from operations import schedule
from operations.models import MaintenanceWindow
from tests.operations.factories import at


def window(**kw):
    defaults = {
        "pk": 1,
        "name": "w",
        "weekdays": [6],
        "start_time": dt.time(22),
        "duration_minutes": 120,
        "time_zone": "Europe/London",
        "service_id": 1,
        "ci_id": None,
    }
    defaults.update(kw)
    return MaintenanceWindow(**{k: v for k, v in defaults.items() if k != "pk"}, id=defaults["pk"])


def starts(w, start, end):
    return [(o.start, o.end) for o in schedule.occurrences(w, start, end)]


def test_saturday_night_in_london_across_the_spring_change():
    w = window()
    assert starts(w, at(2027, 3, 20), at(2027, 4, 4)) == [
        (at(2027, 3, 20, 22), at(2027, 3, 21, 0)),  # GMT
        (at(2027, 3, 27, 22), at(2027, 3, 28, 0)),  # GMT: the clocks go forward at 01:00 UTC on the 28th...
        (at(2027, 4, 3, 21), at(2027, 4, 3, 23)),  # BST
    ]


def test_duration_is_elapsed_time_across_the_change():
    # Sunday 00:30 local for 3 h on 2027-03-28 (Europe/London): 00:30 GMT to 03:30 UTC = 04:30 BST.
    w = window(weekdays=[7], start_time=dt.time(0, 30), duration_minutes=180)
    [(s, e)] = starts(w, at(2027, 3, 27, 12), at(2027, 3, 28, 12))
    assert (s, e) == (at(2027, 3, 28, 0, 30), at(2027, 3, 28, 3, 30))


def test_non_existent_local_time_moves_forward_and_ambiguous_takes_the_first():
    spring = window(weekdays=[7], start_time=dt.time(1, 30), duration_minutes=60)  # 01:30 does not exist on 2027-03-28
    [(s, _)] = starts(spring, at(2027, 3, 28), at(2027, 3, 29))
    assert s == at(2027, 3, 28, 1, 30)  # = 02:30 BST
    autumn = window(weekdays=[7], start_time=dt.time(1, 30), duration_minutes=60)  # 01:30 happens twice on 2027-10-31
    [(s, _)] = starts(autumn, at(2027, 10, 31), at(2027, 11, 1))
    assert s == at(2027, 10, 31, 0, 30)  # the first 01:30, BST


def test_new_york_and_a_window_running_into_the_range():
    w = window(weekdays=[1, 2, 3, 4, 5], start_time=dt.time(23), duration_minutes=240, time_zone="America/New_York")
    # Monday 2027-03-15 23:00 EDT = Tuesday 03:00 UTC; the range starts inside it.
    occ = starts(w, at(2027, 3, 16, 5), at(2027, 3, 16, 6))
    assert occ == [(at(2027, 3, 16, 3), at(2027, 3, 16, 7))]


def test_interval_helpers():
    a = schedule.merge(
        [
            (at(2027, 1, 1, 10), at(2027, 1, 1, 12)),
            (at(2027, 1, 1, 11), at(2027, 1, 1, 13)),
            (at(2027, 1, 1, 14), at(2027, 1, 1, 15)),
        ]
    )
    assert a == [(at(2027, 1, 1, 10), at(2027, 1, 1, 13)), (at(2027, 1, 1, 14), at(2027, 1, 1, 15))]
    assert schedule.contains(a, at(2027, 1, 1, 10), at(2027, 1, 1, 13))
    assert not schedule.contains(a, at(2027, 1, 1, 12), at(2027, 1, 1, 14, 30))
    assert schedule.overlaps(a, at(2027, 1, 1, 13, 30), at(2027, 1, 1, 14, 1))
    assert not schedule.overlaps(a, at(2027, 1, 1, 13), at(2027, 1, 1, 14))
    b = [(at(2027, 1, 1, 12), at(2027, 1, 1, 14, 30))]
    assert schedule.intersect(a, b) == [
        (at(2027, 1, 1, 12), at(2027, 1, 1, 13)),
        (at(2027, 1, 1, 14), at(2027, 1, 1, 14, 30)),
    ]


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"weekdays": [0]}, "weekdays"),
        ({"weekdays": [8]}, "weekdays"),
        ({"weekdays": []}, "weekdays"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"service_id": None}, "service"),
    ],
)
def test_model_validation(fields, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        window(**fields).clean()
    assert field in exc.value.message_dict
