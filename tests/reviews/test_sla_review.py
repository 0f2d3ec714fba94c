"""The SLA Review: the agenda fills with the period's service level report and the SLAs
awaiting activation (with their what-if); the report is accepted, or improvement is
required through a problem or a draft RFC; the page in a constant number of queries."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from changes.choices import ChangeStatus
from changes.models import RequestForChange
from incidents.models import Problem
from mof import policy
from mof.choices import ReviewKind
from mof.models import ReviewDecisionRecord
from reviews import selectors, services, sla_review
from reviews.choices import ItemState, MeetingState
from reviews.models import AgendaItem, Meeting, SLAReviewPeriod
from slas import services as sla_services
from slas.models import SLAClock, TicketEvent
from tests.factories import ServiceFactory
from tests.reviews.conftest import make_meeting, place, vote_all

pytestmark = pytest.mark.django_db
T = dt.time
HOUR = 3600
HTMX = {"HTTP_HX_REQUEST": "true"}
_ticket_ids = itertools.count(10_000)


def clocks(version, metric, states, *, start):
    """Clocks in the given states, one per ticket, an hour apart."""
    rows = []
    for i, state in enumerate(states):
        at = start + dt.timedelta(hours=i)
        target = version.target(metric)
        elapsed = target + 60 if state == "breached" else target // 2
        rows.append(
            SLAClock(
                ticket_type="incidents.incident",
                ticket_id=next(_ticket_ids),
                version=version,
                metric=metric,
                state=state,
                started_at=at,
                target_seconds=target,
                elapsed_seconds=elapsed,
                stopped_at=at + dt.timedelta(seconds=elapsed) if state in ("met", "breached") else None,
                breached_at=at + dt.timedelta(seconds=target) if state == "breached" else None,
                due_at=at + dt.timedelta(seconds=target),
            )
        )
    return SLAClock.objects.bulk_create(rows)


def ticket(opened, resolved_after_hours, *, priority=1):
    """A ticket's recorded history, for the what-if: opened, worked, resolved."""
    ticket_id = next(_ticket_ids)
    base = dict(
        ticket_type="incidents.incident", ticket_id=ticket_id, priority=priority, service_id=None, group_id=None
    )
    TicketEvent.objects.create(at=opened, kind="opened", state="new", hold_reason="", **base)
    TicketEvent.objects.create(
        at=opened + dt.timedelta(minutes=10), kind="change", state="in_progress", hold_reason="", **base
    )
    TicketEvent.objects.create(
        at=opened + dt.timedelta(hours=resolved_after_hours), kind="change", state="resolved", hold_reason="", **base
    )


@pytest.fixture
def world(people):
    boss = people["chair"]
    now = timezone.now()
    always = sla_services.calendar_save(
        actor=boss, name="24x7", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    mail = ServiceFactory(name="Mail")
    mail_sla = sla_services.sla_create(
        actor=boss,
        name="Mail P1",
        service=mail,
        resolution_seconds=4 * HOUR,
        calendar=always,
        target_percentage=Decimal("90"),
    )
    mail_sla = place(mail_sla, status="active")
    v = mail_sla.current_version
    # In the period (the last 30 days): 8 met, 2 breached (80 %, below 90 %), 1 open.
    clocks(v, "resolution", ["met"] * 8 + ["breached"] * 2 + ["running"], start=now - dt.timedelta(days=10))
    # The previous 30 days: 9 met, 1 breached (90 %).
    clocks(v, "resolution", ["met"] * 9 + ["breached"], start=now - dt.timedelta(days=45))
    # Long before: not counted anywhere.
    clocks(v, "resolution", ["breached"] * 3, start=now - dt.timedelta(days=100))
    draft = sla_services.sla_create(
        actor=boss,
        name="Web P1",
        priorities=[1],
        resolution_seconds=4 * HOUR,
        calendar=always,
        target_percentage=Decimal("50"),
    )
    draft = place(draft, status="in_review")
    # What the draft would have scored: 2 met, 1 breached, a P3 it does not apply to.
    day = now - dt.timedelta(days=5)
    ticket(day, 2)
    ticket(day, 3)
    ticket(day, 6)
    ticket(day, 9, priority=3)
    return {"now": now, "calendar": always, "mail": mail, "mail_sla": mail_sla, "draft": draft}


def sla_meeting(people, **kwargs):
    return make_meeting(people, kind=ReviewKind.SLA, **kwargs)


def filled(people, world, **kwargs):
    meeting = sla_meeting(people, **kwargs)
    services.agenda_refresh(actor=people["chair"], meeting=meeting)
    items = selectors.agenda(meeting, user=people["chair"])
    return meeting, items


def logged_in(client, user):
    client.force_login(user)
    return client


# --- the agenda --------------------------------------------------------------------------


def test_the_agenda_fills_with_the_period_report_and_the_slas_in_review(people, world):
    meeting, items = filled(people, world)
    assert [i.model_label for i in items] == ["reviews.slareviewperiod", "slas.servicelevelagreement"]
    period = SLAReviewPeriod.objects.get(meeting=meeting)
    assert items[0].object_id == str(period.pk) and items[0].position == 1
    assert items[1].object_id == str(world["draft"].pk)
    # No SLA Review closed before: the last 30 days, up to when the agenda was filled.
    assert dt.timedelta(days=30) == period.end - period.start
    assert world["now"] <= period.end <= timezone.now()
    # Filling again adds nothing; the active SLA is not awaiting anything.
    assert services.agenda_refresh(actor=people["chair"], meeting=meeting) == []
    assert meeting.items.count() == 2


def test_the_period_runs_from_the_last_closed_sla_review(people, world):
    earlier = sla_meeting(people, in_session=False, when=timezone.now() - dt.timedelta(days=10))
    reviewed_until = timezone.now() - dt.timedelta(days=12)
    SLAReviewPeriod.objects.create(meeting=earlier, start=reviewed_until - dt.timedelta(days=30), end=reviewed_until)
    Meeting.objects.filter(pk=earlier.pk).update(
        state=MeetingState.CLOSED, closed_at=timezone.now() - dt.timedelta(days=9)
    )
    meeting, items = filled(people, world)
    period = items[0].get_subject()
    assert period.start == reviewed_until
    # A closed review that had no period: from when it closed.
    SLAReviewPeriod.objects.filter(meeting=earlier).delete()
    assert sla_review.period_bounds(meeting)[0] == Meeting.objects.get(pk=earlier.pk).closed_at


def test_the_report_numbers_are_those_of_the_clocks(people, world):
    meeting, items = filled(people, world)
    report = items[0].sla_review.report
    [row] = [r for r in report["compliance"] if r["sla"] == "Mail P1"]
    period = items[0].get_subject()
    in_period = SLAClock.objects.filter(
        version__sla=world["mail_sla"], started_at__gte=period.start, started_at__lt=period.end
    )
    assert row["met"] == in_period.filter(state="met").count() == 8
    assert row["breached"] == in_period.filter(state="breached").count() == 2
    assert row["open"] == 1 and row["service"] == "Mail"
    assert (
        row["compliance"] == Decimal("80.00")
        and row["target_percentage"] == Decimal("90")
        and row["meets_target"] is False
    )
    assert (
        row["previous_compliance"] == Decimal("90.00")
        and row["delta"] == Decimal("-10.00")
        and row["direction"] == "down"
    )
    assert report["missed"] == [row]
    assert report["breaches_total"] == 2 and len(report["breaches"]) == 2
    assert sum(t["met"] for t in report["trend"]) == 17  # this period and the one before
    assert [a["service"].name for a in report["availability"]] == ["Mail"]
    assert report["warnings"] == []
    # The SLA in review carries its what-if, replayed on the same period's tickets.
    what_if = items[1].sla_review.what_if
    assert (what_if["tickets"], what_if["applicable"], what_if["met"], what_if["breached"]) == (4, 3, 2, 1)
    assert what_if["compliance"] == Decimal("66.67") and what_if["meets_target"] is True
    assert items[1].sla_review.report is None and items[0].sla_review.what_if is None


def test_the_meeting_page_and_meeting_mode_show_the_report_and_the_what_if(client, people, world):
    meeting, items = filled(people, world)
    c = logged_in(client, people["chair"])
    html = c.get(meeting.get_absolute_url()).content.decode()
    assert 'id="sla-report"' in html and "data-sla-report" in html and "Mail P1" in html and "80.00 %" in html
    assert 'id="sla-awaiting"' in html and "Web P1" in html and "66.67 %" in html
    assert f'tr[data-item="{items[0].pk}"] button[value="activate"]' in html  # the report is not activated
    html = c.get(reverse("review_mode_item", args=[meeting.pk, items[0].pk])).content.decode()
    assert "data-sla-report" in html and "Require improvement: open a problem" in html
    assert f'#mode-item[data-item="{items[0].pk}"] button[value="activate"]' in html
    html = c.get(reverse("review_mode_item", args=[meeting.pk, items[1].pk])).content.decode()
    assert "data-whatif" in html and "66.67 %" in html


# --- decisions ---------------------------------------------------------------------------


def test_accept_the_report(people, world):
    meeting, items = filled(people, world)
    period_item = items[0]
    vote_all(period_item, people, "accept")
    decided = services.decide(
        item_id=period_item.pk, decision="accept", actor=people["chair"], reason="Within tolerance."
    )
    assert (decided.state, decided.decision) == (ItemState.DECIDED, "accept")
    record = ReviewDecisionRecord.objects.get(model_label="reviews.slareviewperiod", object_id=period_item.object_id)
    assert record.decision == "accept" and record.kind == ReviewKind.SLA and "follow_up" not in record.detail
    assert not Problem.objects.exists() and not RequestForChange.objects.exists()
    with pytest.raises(services.AlreadyDecided):
        services.decide(item_id=period_item.pk, decision="improve_problem", actor=people["deputy"], reason="No.")


def test_require_improvement_opens_a_problem_and_records_it(people, world):
    meeting, items = filled(people, world)
    period_item = items[0]
    vote_all(period_item, people, "improve_problem")
    with pytest.raises(ValidationError):  # a reason is required
        services.decide(item_id=period_item.pk, decision="improve_problem", actor=people["chair"], reason=" ")
    decided = services.decide(
        item_id=period_item.pk, decision="improve_problem", actor=people["chair"], reason="Mail keeps breaching."
    )
    problem = Problem.objects.get()
    assert (
        "Mail keeps breaching." in problem.description
        and "Mail P1" in problem.description
        and "80.00 %" in problem.description
    )
    period = SLAReviewPeriod.objects.get(pk=period_item.object_id)
    assert (period.follow_up_label, period.follow_up_id, period.follow_up_reference) == (
        "incidents.problem",
        str(problem.pk),
        problem.reference,
    )
    assert decided.reason == f"Mail keeps breaching.\nFollow-up: {problem.reference}"
    assert AgendaItem.objects.get(pk=period_item.pk).reason.endswith(problem.reference)
    assert decided.decision_record.detail["follow_up"]["reference"] == problem.reference
    assert not RequestForChange.objects.exists()


def test_require_improvement_drafts_an_rfc_for_the_release_approved_review(client, people, world):
    meeting, items = filled(people, world)
    period_item = items[0]
    vote_all(period_item, people, "improve_rfc")
    c = logged_in(client, people["chair"])
    url = reverse("review_item_decide", args=[meeting.pk, period_item.pk])
    r = c.post(url, {"decision": "improve_rfc", "reason": "Add a second MX relay."}, **HTMX)
    assert r.status_code == 200, r.content
    change = RequestForChange.objects.get()
    assert change.status == ChangeStatus.DRAFT and change.business_justification == "Add a second MX relay."
    assert change.requester == people["chair"]
    item = AgendaItem.objects.get(pk=period_item.pk)
    assert (item.state, item.decision) == (ItemState.DECIDED, "improve_rfc") and item.reason.endswith(change.reference)
    assert SLAReviewPeriod.objects.get(pk=period_item.object_id).follow_up_reference == change.reference
    assert not Problem.objects.exists()
    html = c.get(meeting.get_absolute_url()).content.decode()
    assert "data-follow-up" in html and change.reference in html


def test_decisions_fit_their_subject(people, world):
    meeting, items = filled(people, world)
    period_item, sla_item = items
    with pytest.raises(ValidationError):
        services.vote(item=sla_item, voter=people["rel"], vote="accept")
    with pytest.raises(ValidationError):
        services.vote(item=period_item, voter=people["rel"], vote="activate")
    vote_all(period_item, people, "accept")
    with pytest.raises(ValidationError):
        services.decide(item_id=period_item.pk, decision="activate", actor=people["chair"])
    # SLAs in review keep activate / send back.
    vote_all(sla_item, people, "activate")
    services.decide(item_id=sla_item.pk, decision="activate", actor=people["chair"], reason="Scores well.")
    world["draft"].refresh_from_db()
    assert world["draft"].status == "active"
    assert AgendaItem.objects.get(pk=period_item.pk).state == ItemState.PENDING


def test_a_non_manager_cannot_decide(client, people, world):
    meeting, items = filled(people, world)
    period_item = items[0]
    vote_all(period_item, people, "improve_problem")
    with pytest.raises(policy.Refused):
        services.decide(item_id=period_item.pk, decision="improve_problem", actor=people["rel"], reason="x")
    c = logged_in(client, people["rel"])
    r = c.post(reverse("review_item_decide", args=[meeting.pk, period_item.pk]), {"decision": "accept", "reason": ""})
    assert r.status_code == 403
    assert AgendaItem.objects.get(pk=period_item.pk).state == ItemState.PENDING
    assert not Problem.objects.exists()


# --- queries -----------------------------------------------------------------------------


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
    assert r.status_code == 200
    return len(ctx)


def test_the_meeting_page_queries_do_not_grow_with_the_number_of_slas(client, people, world):
    meeting, items = filled(people, world)
    c = logged_in(client, people["chair"])
    mode = reverse("review_mode_item", args=[meeting.pk, items[0].pk])
    _count(c, meeting.get_absolute_url())  # warm caches (content types, sessions, the calendar's engine)
    small = _count(c, meeting.get_absolute_url())
    small_mode = _count(c, mode)
    boss, now = people["chair"], world["now"]
    for n in range(8):
        service = ServiceFactory(name=f"Service {n}")
        sla = sla_services.sla_create(
            actor=boss,
            name=f"SLA {n}",
            service=service,
            resolution_seconds=2 * HOUR,
            calendar=world["calendar"],
            target_percentage=Decimal("95"),
        )
        clocks(
            place(sla, status="active").current_version,
            "resolution",
            ["met", "breached"],
            start=now - dt.timedelta(days=3),
        )
        draft = sla_services.sla_create(
            actor=boss, name=f"Draft {n}", resolution_seconds=HOUR, calendar=world["calendar"]
        )
        place(draft, status="in_review")
    Meeting.objects.filter(pk=meeting.pk).update(state=MeetingState.PLANNED)
    services.agenda_refresh(actor=boss, meeting=meeting)
    Meeting.objects.filter(pk=meeting.pk).update(state=MeetingState.IN_SESSION)
    assert meeting.items.count() == 10
    html = c.get(meeting.get_absolute_url()).content.decode()
    assert "SLA 7" in html and "Draft 7" in html and "Service 7" in html
    big = _count(c, meeting.get_absolute_url())
    assert big == small, (small, big)
    assert _count(c, mode) == small_mode


def test_an_empty_period_puts_no_report_to_a_vote(people, world):
    SLAClock.objects.all().delete()
    meeting, items = filled(people, world)
    assert [i.model_label for i in items] == ["slas.servicelevelagreement"]
    assert not SLAReviewPeriod.objects.exists()
    assert items[0].sla_review.what_if["met"] == 2  # the what-if still reads the last 30 days
    # An open capacity warning is something to report.
    from slas.models import CapacityWarning
    from tests.factories import CIFactory

    CapacityWarning.objects.create(
        ci=CIFactory(), metric="disk.used", threshold_value=90, current_value=80, forecast_at=timezone.now()
    )
    added = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    assert [i.model_label for i in added] == ["reviews.slareviewperiod"]


# --- the Optimizing landing page and the admin ---------------------------------------------


def test_the_optimizing_page_links_to_availability_and_capacity(client, people, world):
    html = logged_in(client, people["chair"]).get(reverse("optimizing")).content.decode()
    for name in ("availability_summary", "capacity_dashboard", "capacity_warnings"):
        assert f'href="{reverse(name)}"' in html


def test_the_admin_shows_availability_and_capacity_read_only(client, admin_user, world):
    from slas.models import OutageRecord

    record = OutageRecord.objects.create(
        service=world["mail"], start=timezone.now() - dt.timedelta(hours=2), end=timezone.now(), reason="Disk"
    )
    c = logged_in(client, admin_user)
    for model in (
        "servicehours",
        "availabilitytarget",
        "outagerecord",
        "measurement",
        "capacitythreshold",
        "capacitywarning",
    ):
        r = c.get(reverse(f"admin:slas_{model}_changelist"))
        assert r.status_code == 200, model
        assert c.get(reverse(f"admin:slas_{model}_add")).status_code == 403, model
    r = c.get(reverse("admin:slas_outagerecord_change", args=[record.pk]))
    assert r.status_code == 200 and "Disk" in r.content.decode()
    assert c.post(reverse("admin:slas_outagerecord_delete", args=[record.pk]), {"post": "yes"}).status_code == 403
    assert OutageRecord.objects.filter(pk=record.pk).exists()
