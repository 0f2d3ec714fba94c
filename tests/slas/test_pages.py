"""Service level management pages: who sees them, forms that refuse bad input and write
nothing, the SLA lifecycle panel, the what-if on the detail page and a ticket's clocks."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services as desk
from slas import services
from slas.models import (
    BusinessCalendar,
    ServiceLevelAgreement,
    SLAStatus,
    SLAVersion,
    TicketEvent,
)
from slas.views import clock_context
from tests.factories import ManagerFactory, UserFactory, rewriting_event_log

pytestmark = pytest.mark.django_db
T = dt.time
HOUR = 3600


@pytest.fixture
def boss(db):
    return ManagerFactory(username="sla-boss")


@pytest.fixture
def office(boss):
    return services.calendar_save(
        actor=boss,
        name="Office",
        time_zone="Europe/London",
        country="GB",
        subdivision="ENG",
        intervals=[(d, T(9), T(17)) for d in range(5)],
        holidays=[(dt.date(2026, 12, 24), "Company day")],
    )


@pytest.fixture
def always(boss):
    return services.calendar_save(
        actor=boss, name="24x7", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )


@pytest.fixture
def draft(boss, always):
    return services.sla_create(
        actor=boss,
        name="P1 mail",
        priorities=[1],
        response_seconds=HOUR // 2,
        resolution_seconds=4 * HOUR,
        calendar=always,
        pause_on=["awaiting_vendor"],
    )


def login(client, user):
    client.force_login(user)
    return client


def page_names(office, draft):
    return [
        ("calendar_list", []),
        ("calendar_detail", [office.pk]),
        ("sla_list", []),
        ("sla_detail", [draft.pk]),
        ("sla_reports", []),
    ]


def test_pages_render_for_managers_and_internal_staff(client, boss, office, draft, support_user):
    for user in (boss, support_user):
        login(client, user)
        for name, args in page_names(office, draft):
            response = client.get(reverse(name, args=args))
            assert response.status_code == 200, (user, name)
    login(client, boss)
    for name, args in [
        ("calendar_create", []),
        ("calendar_edit", [office.pk]),
        ("sla_create", []),
        ("sla_edit", [draft.pk]),
        ("sla_whatif", [draft.pk]),
    ]:
        assert client.get(reverse(name, args=args)).status_code == 200, name
    landing = client.get(reverse("optimizing")).content.decode()
    assert reverse("sla_list") in landing and reverse("sla_reports") in landing


def test_others_get_403_and_unknown_ids_404(client, office, draft, support_user, partner_user, employee, boss):
    for user in (partner_user, employee):
        login(client, user)
        for name, args in page_names(office, draft):
            assert client.get(reverse(name, args=args)).status_code == 403, (user, name)
    login(client, support_user)  # IT staff read, only managers write
    for name, args in [
        ("calendar_create", []),
        ("calendar_edit", [office.pk]),
        ("sla_create", []),
        ("sla_edit", [draft.pk]),
        ("sla_whatif", [draft.pk]),
    ]:
        assert client.get(reverse(name, args=args)).status_code == 403, name
    login(client, boss)
    assert client.get(reverse("sla_detail", args=[9999])).status_code == 404
    assert client.get(reverse("calendar_detail", args=[9999])).status_code == 404
    client.logout()
    assert client.get(reverse("sla_list")).status_code == 302


def calendar_post(**overrides):
    data = {
        "name": "Support desk",
        "time_zone": "Europe/Paris",
        "country": "FR",
        "subdivision": "",
        "holidays": "2026-12-24 Company day",
    }
    data.update({f"day_{d}": "08:00-12:00, 13:00-18:00" for d in range(5)})
    data.update({"day_5": "", "day_6": ""})
    data.update(overrides)
    return data


def test_a_calendar_is_created_with_several_intervals_a_day_and_own_dates(client, boss):
    login(client, boss)
    response = client.post(reverse("calendar_create"), calendar_post(day_5="09:00-13:00"))
    assert response.status_code == 302
    calendar = BusinessCalendar.objects.get(name="Support desk")
    assert calendar.time_zone == "Europe/Paris" and calendar.country == "FR"
    assert [(i.weekday, i.start, i.end) for i in calendar.intervals.all()][:2] == [(0, T(8), T(12)), (0, T(13), T(18))]
    assert calendar.intervals.count() == 11
    assert [(h.date, h.name) for h in calendar.own_holidays.all()] == [(dt.date(2026, 12, 24), "Company day")]
    page = client.get(reverse("calendar_detail", args=[calendar.pk])).content.decode()
    assert "08:00–12:00" in page and "Company day" in page
    # Editing bumps the version (the clocks that use it recompute).
    response = client.post(reverse("calendar_edit", args=[calendar.pk]), calendar_post(day_0="00:00-24:00"))
    assert response.status_code == 302
    calendar.refresh_from_db()
    assert calendar.version == 2 and calendar.intervals.filter(weekday=0).get().end == T(0)


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"day_1": "09:00-12:00, 11:30-14:00"}, "day_1", "overlap"),
        ({"day_2": "17:00-09:00"}, "day_2", "end must be after the start"),
        ({"day_3": "nine to five"}, "day_3", "not a span"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Unknown time zone"),
        ({"country": "ZZ"}, "country", "No public holidays"),
        ({"country": "GB", "subdivision": "XYZ"}, "country", "No holiday data"),
        ({"holidays": "next friday party"}, "holidays", "does not start with a date"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_bad_calendars_get_clear_errors_and_write_nothing(client, boss, overrides, field, message):
    login(client, boss)
    response = client.post(reverse("calendar_create"), calendar_post(**overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert message in response.content.decode()
    assert not BusinessCalendar.objects.exists()


def sla_post(cal, **overrides):
    data = {
        "name": "P2 web",
        "kind": "sla",
        "description": "",
        "priorities": ["2"],
        "response_seconds": "30m",
        "resolution_seconds": "1h 30m",
        "calendar": cal.pk,
        "pause_on": ["awaiting_caller"],
        "warning_thresholds": "50, 80",
        "carry_pauses": "on",
        "target_percentage": "97.5",
    }
    data.update(overrides)
    return data


def test_an_sla_is_created_as_a_draft(client, boss, office):
    login(client, boss)
    response = client.post(reverse("sla_create"), sla_post(office))
    assert response.status_code == 302
    sla = ServiceLevelAgreement.objects.get(name="P2 web")
    version = sla.current_version
    assert sla.status == SLAStatus.DRAFT and sla.owner == boss
    assert (
        version.response_seconds,
        version.resolution_seconds,
        version.priorities,
        version.warning_thresholds,
        str(version.target_percentage),
    ) == (1800, 5400, [2], [50, 80], "97.50")
    page = client.get(response["Location"]).content.decode()
    assert "Submit to the SLA Review" in page and "1h 30m" in page


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"resolution_seconds": "0", "response_seconds": ""}, "resolution_seconds", "above zero"),
        ({"response_seconds": "0m"}, "response_seconds", "above zero"),
        (
            {"resolution_seconds": "", "response_seconds": ""},
            "resolution_seconds",
            "Set a time to respond or a time to resolve",
        ),
        ({"warning_thresholds": "50, 150"}, "warning_thresholds", "between 1 and 99"),
        ({"warning_thresholds": "100"}, "warning_thresholds", "between 1 and 99"),
        ({"resolution_seconds": "soon"}, "resolution_seconds", "duration like"),
        ({"target_percentage": "101"}, "target_percentage", "100"),
        ({"calendar": ""}, "calendar", "required"),
    ],
)
def test_bad_slas_get_clear_errors_and_write_nothing(client, boss, office, overrides, field, message):
    login(client, boss)
    response = client.post(reverse("sla_create"), sla_post(office, **overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert not ServiceLevelAgreement.objects.exists() and not SLAVersion.objects.exists()


def test_the_lifecycle_panel_submits_and_activation_awaits_the_sla_review(client, boss, draft):
    login(client, boss)
    response = client.post(reverse("sla_transition", args=[draft.pk, "submit"]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == SLAStatus.IN_REVIEW
    page = client.get(reverse("sla_detail", args=[draft.pk])).content.decode()
    assert "awaiting the SLA Review" in page
    assert (
        'data-transition="activate"' in page
        and "disabled" in page.split('data-transition="activate"')[1].split("</form>")[0]
    )
    response = client.post(reverse("sla_transition", args=[draft.pk, "activate"]), {"reason": "looks fine"})
    assert response.status_code == 400
    draft.refresh_from_db()
    assert draft.status == SLAStatus.IN_REVIEW
    assert 'hx-get="%s"' % reverse("sla_whatif", args=[draft.pk]) in page  # what-if shown while it awaits the review


def test_edit_makes_a_new_version_and_whatif_saves_nothing(client, boss, draft, always):
    login(client, boss)
    data = sla_post(always, resolution_seconds="2h", response_seconds="30m", priorities=["1"], retarget_running="on")
    for key in ("name", "kind", "description"):
        data.pop(key)
    response = client.post(reverse("sla_edit", args=[draft.pk]), {**data, "whatif": "1"})
    assert response.status_code == 200 and response.context["whatif"] is not None
    assert "Nothing was saved" in response.content.decode()
    assert draft.versions.count() == 1
    response = client.post(reverse("sla_edit", args=[draft.pk]), {**data, "warning_thresholds": "120"})
    assert response.status_code == 400 and draft.versions.count() == 1
    response = client.post(reverse("sla_edit", args=[draft.pk]), data)
    assert response.status_code == 302
    assert [v.number for v in draft.versions.order_by("number")] == [1, 2]
    assert draft.current_version.resolution_seconds == 2 * HOUR
    page = client.get(reverse("sla_detail", args=[draft.pk])).content.decode()
    assert "v2" in page and "v1" in page
    form = client.get(reverse("sla_edit", args=[draft.pk])).content.decode()
    assert "Re-target running clocks" in form and 'value="2h"' in form


def test_the_whatif_partial_is_served_to_htmx(client, boss, draft):
    login(client, boss)
    response = client.get(reverse("sla_whatif", args=[draft.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<html" not in response.content.decode() and "whatif-result" in response.content.decode()
    bad = client.get(reverse("sla_whatif", args=[draft.pk]), {"start": "2026-02-01", "end": "2026-01-01"})
    assert bad.status_code == 400


def test_a_tickets_clocks_read_at_a_glance(boss, always, django_assert_num_queries):
    sla = services.sla_create(
        actor=boss,
        name="P1",
        priorities=[1],
        response_seconds=HOUR // 2,
        resolution_seconds=4 * HOUR,
        calendar=always,
        pause_on=["awaiting_vendor"],
    )
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=SLAStatus.ACTIVE)
    agent = UserFactory(username="agent", roles=["support"])
    incident = desk.incident_create(actor=agent, title="Mail down", impact=1, urgency=1)
    t0 = (timezone.now() - dt.timedelta(hours=5)).replace(microsecond=0)
    with rewriting_event_log():
        TicketEvent.objects.filter(ticket_type="incidents.incident", ticket_id=incident.pk).update(at=t0)
    base = dict(ticket_type="incidents.incident", ticket_id=incident.pk, priority=1, service_id=None, group_id=None)
    TicketEvent.objects.create(
        at=t0 + dt.timedelta(hours=1), kind="change", state="on_hold", hold_reason="awaiting_vendor", **base
    )
    TicketEvent.objects.create(
        at=t0 + dt.timedelta(hours=2), kind="change", state="in_progress", hold_reason="", **base
    )
    services.sync_clocks("incidents.incident", incident.pk)
    entries = clock_context(incident, now=t0 + dt.timedelta(hours=3))
    with django_assert_num_queries(2):  # the clocks, the events: read once for all the clocks
        clock_context(incident, now=t0 + dt.timedelta(hours=3))
    by_metric = {e.clock.metric: e for e in entries}
    clock, rows = by_metric["resolution"]  # each entry is (clock, timeline rows)
    assert rows and any(r["reason"] == "paused: on hold, awaiting vendor" for r in rows)
    entry = by_metric["resolution"]
    assert entry.elapsed == "2h" and entry.remaining == "2h" and entry.state == "running"
    assert [m["label"] for m in entry.marks] == ["50 %", "75 %", "due"]
    response = by_metric["response"]  # taken (on hold) an hour in: 30 minutes late
    assert (
        response.state == "breached"
        and response.overrun == "30m"
        and response.breached_at == t0 + dt.timedelta(minutes=30)
    )
    from django.template.loader import render_to_string

    html = render_to_string("slas/_clocks.html", {"clocks": entries})
    assert reverse("sla_detail", args=[sla.pk]) in html
    caller_view = render_to_string(
        "slas/_clocks.html",
        {"clocks": clock_context(incident, now=t0 + dt.timedelta(hours=3), user=UserFactory(username="caller"))},
    )
    assert (
        reverse("sla_detail", args=[sla.pk]) not in caller_view and "P1" in caller_view
    )  # the caller sees the clock, not a link to a page they may not read
    assert (
        "seg-paused" in html
        and "paused: on hold, awaiting vendor" in html
        and "mark-due" in html
        and "2h left" in html
        and "over by 30m" in html
    )


def test_no_clock_no_bar(boss):
    agent = UserFactory(username="agent", roles=["support"])
    incident = desk.incident_create(actor=agent, title="x")
    assert clock_context(incident) == []
    from django.template.loader import render_to_string

    assert "No SLA or OLA applies" in render_to_string("slas/_clocks.html", {"clocks": []})


def admin_calendar_post(**overrides):
    data = {
        "name": "Admin cal",
        "time_zone": "UTC",
        "country": "",
        "subdivision": "",
        "intervals-TOTAL_FORMS": "2",
        "intervals-INITIAL_FORMS": "0",
        "intervals-MIN_NUM_FORMS": "0",
        "intervals-MAX_NUM_FORMS": "1000",
        "intervals-0-weekday": "0",
        "intervals-0-start": "09:00",
        "intervals-0-end": "12:00",
        "intervals-1-weekday": "0",
        "intervals-1-start": "13:00",
        "intervals-1-end": "17:00",
        "own_holidays-TOTAL_FORMS": "1",
        "own_holidays-INITIAL_FORMS": "0",
        "own_holidays-MIN_NUM_FORMS": "0",
        "own_holidays-MAX_NUM_FORMS": "1000",
        "own_holidays-0-date": "2026-12-24",
        "own_holidays-0-name": "Company day",
    }
    data.update(overrides)
    return data


def test_admin_saves_calendars_through_the_service_and_keeps_the_rest_read_only(client, admin_user, draft):
    login(client, admin_user)
    bad = client.post(reverse("admin:slas_businesscalendar_add"), admin_calendar_post(**{"intervals-1-start": "11:00"}))
    assert bad.status_code == 200 and "overlap" in bad.content.decode()
    assert not BusinessCalendar.objects.filter(name="Admin cal").exists()
    response = client.post(reverse("admin:slas_businesscalendar_add"), admin_calendar_post())
    assert response.status_code == 302, response.content.decode()[:2000]
    calendar = BusinessCalendar.objects.get(name="Admin cal")
    assert (
        calendar.intervals.count() == 2 and calendar.own_holidays.get().name == "Company day" and calendar.version == 1
    )
    intervals = list(calendar.intervals.all())
    edit = admin_calendar_post(
        **{
            "intervals-INITIAL_FORMS": "2",
            "intervals-0-id": intervals[0].pk,
            "intervals-0-calendar": calendar.pk,
            "intervals-1-id": intervals[1].pk,
            "intervals-1-calendar": calendar.pk,
            "intervals-1-DELETE": "on",
            "own_holidays-0-date": "",
            "own_holidays-0-name": "",
        }
    )
    response = client.post(reverse("admin:slas_businesscalendar_change", args=[calendar.pk]), edit)
    assert response.status_code == 302, response.content.decode()[:2000]
    calendar.refresh_from_db()
    assert calendar.version == 2 and calendar.intervals.count() == 1 and not calendar.own_holidays.exists()
    for name in ("servicelevelagreement", "slaversion", "slaclock", "clocknotification", "ticketevent"):
        assert client.get(reverse(f"admin:slas_{name}_changelist")).status_code == 200, name
        assert client.get(reverse(f"admin:slas_{name}_add")).status_code == 403, name
    page = client.get(reverse("admin:slas_servicelevelagreement_change", args=[draft.pk]))
    assert page.status_code == 200 and 'name="status"' not in page.content.decode()
