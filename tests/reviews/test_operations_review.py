"""The Operations Review's operational health report: the agenda carries it before the
post-implementation reviews; it reports job runs, events and incidents per service,
changes implemented and failed, major incidents and capacity warnings; it is accepted or
followed up through a problem or a draft RFC, and frozen when decided."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from changes.choices import ChangeStatus, Outcome
from changes.models import RequestForChange
from incidents.models import Incident, Problem
from mof import policy
from mof.choices import ReviewKind
from mof.models import ReviewDecisionRecord
from reviews import operations_review, selectors, services
from reviews.choices import ItemState, MeetingState
from reviews.models import AgendaItem, Meeting, OperationsReviewPeriod
from tests.reviews.conftest import change_in, make_meeting, place, vote_all
from tests.reviews.operations_review_factories import (
    DAY,
    alert,
    capacity_warning,
    event,
    incident,
    job_runs,
    ops_world,
)

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
PERIOD = "reviews.operationsreviewperiod"
CHANGE = "changes.requestforchange"


@pytest.fixture
def world(people):
    return ops_world(people)


def ops_meeting(people, **kwargs):
    return make_meeting(people, kind=ReviewKind.OPERATIONS, **kwargs)


def filled(people, **kwargs):
    meeting = ops_meeting(people, **kwargs)
    services.agenda_refresh(actor=people["chair"], meeting=meeting)
    return meeting, selectors.agenda(meeting, user=people["chair"])


def report_of(meeting, user):
    return operations_review.meeting_report(meeting, user)[1]


# --- the agenda --------------------------------------------------------------------------


def test_the_agenda_fills_with_the_health_report_before_the_post_implementation_reviews(people, world):
    meeting, items = filled(people)
    assert [i.model_label for i in items] == [PERIOD, CHANGE, CHANGE, CHANGE]
    period = OperationsReviewPeriod.objects.get(meeting=meeting)
    assert items[0].object_id == str(period.pk) and items[0].position == 1
    assert {i.object_id for i in items[1:]} == {
        str(world["ok"].pk),
        str(world["backed_out"].pk),
        str(world["issues"].pk),
    }
    # No Operations Review closed before: the last 30 days, up to when the agenda was filled.
    assert period.end - period.start == dt.timedelta(days=30) and not period.stated
    assert services.agenda_refresh(actor=people["chair"], meeting=meeting) == []


def test_an_empty_period_puts_no_report_to_a_vote(people):
    change = change_in(ChangeStatus.IMPLEMENTED)  # implemented long ago: nothing in the period
    meeting, items = filled(people)
    assert [(i.model_label, i.object_id) for i in items] == [(CHANGE, str(change.pk))]
    assert not OperationsReviewPeriod.objects.exists()
    # One monitoring event in the period is something to report.
    world = ops_world(people, events_only=True)
    added = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    assert [i.model_label for i in added] == [PERIOD]
    assert report_of(meeting, people["chair"])["totals"]["events"] == world["events_in_period"]


def test_the_period_runs_from_the_end_of_the_last_closed_operations_review(people, world):
    earlier = ops_meeting(people, in_session=False, when=timezone.now() - 10 * DAY)
    reviewed_until = timezone.now() - 12 * DAY
    OperationsReviewPeriod.objects.create(meeting=earlier, start=reviewed_until - 30 * DAY, end=reviewed_until)
    Meeting.objects.filter(pk=earlier.pk).update(state=MeetingState.CLOSED, closed_at=timezone.now() - 9 * DAY)
    # An SLA Review closed since does not count: the period is the Operations Review's own.
    sla = make_meeting(people, kind=ReviewKind.SLA, in_session=False)
    Meeting.objects.filter(pk=sla.pk).update(state=MeetingState.CLOSED, closed_at=timezone.now() - DAY)
    meeting, items = filled(people)
    assert items[0].get_subject().start == reviewed_until


def test_the_chair_states_the_period_while_the_report_is_undecided(people, world):
    meeting, items = filled(people, in_session=False)
    start, end = timezone.now() - 3 * DAY, timezone.now() - DAY
    period = operations_review.period_state(actor=people["chair"], meeting=meeting, start=start, end=end)
    assert (period.start, period.end, period.stated) == (start, end, True)
    # Filling the agenda again does not move a stated period.
    services.agenda_refresh(actor=people["chair"], meeting=meeting)
    assert OperationsReviewPeriod.objects.get(pk=period.pk).end == end
    report = report_of(meeting, people["chair"])
    assert report["totals"]["events"] == world["events_last_3_days"]
    with pytest.raises(ValidationError) as caught:
        operations_review.period_state(actor=people["chair"], meeting=meeting, start=end, end=start)
    assert "end" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        operations_review.period_state(actor=people["chair"], meeting=meeting, start=start, end=timezone.now() + DAY)
    assert "end" in caught.value.message_dict
    with pytest.raises(policy.Refused):
        operations_review.period_state(actor=people["rel"], meeting=meeting, start=start, end=end)
    # Once voted on, the period is what the voters saw.
    Meeting.objects.filter(pk=meeting.pk).update(state=MeetingState.IN_SESSION)
    services.vote(item=items[0], voter=people["rel"], vote="accept")
    with pytest.raises(ValidationError):
        operations_review.period_state(actor=people["chair"], meeting=meeting, start=start - DAY, end=end)


# --- what the report says ----------------------------------------------------------------------


def test_events_and_incidents_are_counted_per_service(people, world):
    meeting, items = filled(people)
    report = items[0].operations_review.report
    by_name = {s["service_name"]: s for s in report["services"]}
    mail, web = by_name["Mail"], by_name["Web"]
    assert (mail["events"], mail["alerts"], mail["incidents_from_events"]) == (4, 1, 1)
    assert (mail["incidents"], mail["major_incidents"], mail["sla_breached"]) == (3, 1, 1)
    assert (web["events"], web["alerts"], web["incidents"], web["major_incidents"]) == (1, 0, 1, 0)
    assert "Storage" not in by_name  # its only incident was before the period
    assert report["services"][0]["service_name"] == "Mail"  # the most incidents first
    assert (
        report["totals"]["incidents"]
        == Incident.objects.filter(created_at__gte=items[0].get_subject().start).count()
        == 4
    )
    assert [i["reference"] for i in report["major_incidents"]] == [world["major"].reference]
    # Per day, for the sparkline: every day of the period, the same four incidents.
    days = report["incidents_per_day"]
    assert len(days) in (30, 31) and sum(d["incidents"] for d in days) == 4
    day = timezone.localtime(world["now"] - 2 * DAY).date().isoformat()
    assert next(d["incidents"] for d in days if d["day"] == day) == 1


def test_changes_implemented_failed_and_backed_out(people, world):
    meeting, items = filled(people)
    changes = items[0].operations_review.report["changes"]
    assert (
        changes["implemented"],
        changes["successful"],
        changes["with_issues"],
        changes["failed"],
        changes["backed_out"],
    ) == (4, 2, 1, 1, 1)
    assert changes["failure_rate"] == 25.0
    assert [c["reference"] for c in changes["failed_changes"]] == [
        world["backed_out"].reference,
        world["issues"].reference,
    ]
    assert changes["failed_changes"][0]["outcome"] == Outcome.FAILED.label


def test_capacity_warnings(people, world):
    meeting, items = filled(people)
    capacity = items[0].operations_review.report["capacity"]
    assert (capacity["open"], capacity["raised"]) == (1, 2)  # one raised in the period was dismissed
    [w] = capacity["warnings"]
    assert w["ci"] == world["warning"].ci.name and w["metric"] == "disk.used"


def test_job_runs_success_rate_and_missed_runs(people, world):
    meeting, items = filled(people)
    jobs = items[0].operations_review.report["jobs"]
    assert (jobs["runs"], jobs["succeeded"], jobs["failed"], jobs["missed"]) == (6, 3, 1, 2)
    assert jobs["success_rate"] == 50.0
    # The job that went worst first.
    assert [j["name"] for j in jobs["jobs"]] == ["Nightly backup", "Log rotation"]
    assert jobs["jobs"][0]["success_rate"] == 25.0 and jobs["jobs"][1]["success_rate"] == 100.0


# --- decisions ---------------------------------------------------------------------------


def test_accept_freezes_the_report_as_it_was_decided(client, people, world):
    meeting, items = filled(people)
    period_item = items[0]
    vote_all(period_item, people, "accept")
    decided = services.decide(item_id=period_item.pk, decision="accept", actor=people["chair"], reason="A quiet month.")
    assert (decided.state, decided.decision) == (ItemState.DECIDED, "accept")
    record = ReviewDecisionRecord.objects.get(model_label=PERIOD, object_id=period_item.object_id)
    assert record.kind == ReviewKind.OPERATIONS and "follow_up" not in record.detail
    period = OperationsReviewPeriod.objects.get(pk=period_item.object_id)
    assert period.snapshot is not None and period.frozen_at is not None
    # Later incidents in the period change the live figures, not the decided ones.
    incident(world["mail"], at=timezone.now() - DAY)
    frozen = report_of(meeting, people["chair"])
    live = operations_review.build_report(period, people["chair"])
    assert frozen["frozen"] and frozen["totals"]["incidents"] == 4
    assert live["totals"]["incidents"] == 5
    assert isinstance(frozen["start"], dt.datetime) and frozen["start"] == period.start
    client.force_login(people["chair"])
    html = client.get(reverse("review_minutes", args=[meeting.pk])).content.decode()
    assert 'data-frozen="1"' in html and 'data-total="incidents">4<' in html
    assert not Problem.objects.exists() and not RequestForChange.objects.filter(status=ChangeStatus.DRAFT).exists()
    with pytest.raises(services.AlreadyDecided):
        services.decide(item_id=period_item.pk, decision="follow_up_problem", actor=people["deputy"], reason="No.")


def test_follow_up_opens_a_problem_for_the_services_hit(people, world):
    meeting, items = filled(people)
    period_item = items[0]
    vote_all(period_item, people, "follow_up_problem")
    with pytest.raises(ValidationError):  # a reason is required
        services.decide(item_id=period_item.pk, decision="follow_up_problem", actor=people["chair"], reason="  ")
    decided = services.decide(
        item_id=period_item.pk, decision="follow_up_problem", actor=people["chair"], reason="Backups keep failing."
    )
    problem = Problem.objects.get()
    assert "Backups keep failing." in problem.description and "Nightly backup" in problem.description
    assert world["backed_out"].reference in problem.description
    assert set(problem.services.values_list("name", flat=True)) == {"Mail", "Web"}
    period = OperationsReviewPeriod.objects.get(pk=period_item.object_id)
    assert (period.follow_up_label, period.follow_up_reference) == ("incidents.problem", problem.reference)
    assert period.snapshot is not None
    assert decided.reason == f"Backups keep failing.\nFollow-up: {problem.reference}"
    assert decided.decision_record.detail["follow_up"]["reference"] == problem.reference


def test_follow_up_drafts_an_rfc_from_meeting_mode(client, people, world):
    meeting, items = filled(people)
    period_item = items[0]
    vote_all(period_item, people, "follow_up_rfc")
    client.force_login(people["chair"])
    url = reverse("review_item_decide", args=[meeting.pk, period_item.pk])
    r = client.post(url, {"decision": "follow_up_rfc", "reason": "Move the backup window off-peak."}, **HTMX)
    assert r.status_code == 200, r.content
    change = RequestForChange.objects.get(status=ChangeStatus.DRAFT)
    assert change.business_justification == "Move the backup window off-peak." and change.requester == people["chair"]
    assert AgendaItem.objects.get(pk=period_item.pk).reason.endswith(change.reference)
    assert not Problem.objects.exists()
    html = client.get(meeting.get_absolute_url()).content.decode()
    assert "data-follow-up" in html and change.reference in html


def test_decisions_fit_their_subject(people, world):
    meeting, items = filled(people)
    period_item, change_item = (
        items[0],
        next(i for i in items if (i.model_label, i.object_id) == (CHANGE, str(world["ok"].pk))),
    )
    with pytest.raises(ValidationError):
        services.vote(
            item=period_item, voter=people["rel"], vote="follow_up"
        )  # a report is followed up through a problem or an RFC
    with pytest.raises(ValidationError):
        services.vote(item=change_item, voter=people["rel"], vote="follow_up_problem")
    vote_all(change_item, people, "accept")
    services.decide(item_id=change_item.pk, decision="accept", actor=people["chair"], reason="Went well.")
    assert (
        RequestForChange.objects.get(pk=world["ok"].pk).status == ChangeStatus.CLOSED
    )  # a post-implementation review closes
    vote_all(period_item, people, "accept")
    services.decide(item_id=period_item.pk, decision="accept", actor=people["chair"])
    assert AgendaItem.objects.get(pk=period_item.pk).state == ItemState.DECIDED


def test_only_a_manager_decides_and_only_in_session(client, people, world):
    meeting, items = filled(people)
    period_item = items[0]
    vote_all(period_item, people, "follow_up_problem")
    with pytest.raises(policy.Refused):
        services.decide(item_id=period_item.pk, decision="follow_up_problem", actor=people["rel"], reason="x")
    client.force_login(people["rel"])
    r = client.post(
        reverse("review_item_decide", args=[meeting.pk, period_item.pk]), {"decision": "accept", "reason": ""}
    )
    assert r.status_code == 403
    Meeting.objects.filter(pk=meeting.pk).update(state=MeetingState.PLANNED)
    with pytest.raises(services.MeetingNotInSession):
        services.decide(item_id=period_item.pk, decision="accept", actor=people["chair"])
    period = OperationsReviewPeriod.objects.get(pk=period_item.object_id)
    assert AgendaItem.objects.get(pk=period_item.pk).state == ItemState.PENDING and period.snapshot is None
    assert not Problem.objects.exists()


def test_deferring_the_report_does_not_freeze_it(people, world):
    meeting, items = filled(people)
    services.decide(item_id=items[0].pk, decision="defer", actor=people["chair"], reason="Next week")
    assert OperationsReviewPeriod.objects.get(meeting=meeting).snapshot is None


# --- pages, minutes, API ------------------------------------------------------------------


def test_the_meeting_page_and_meeting_mode_show_the_report_with_bars(client, people, world):
    meeting, items = filled(people)
    client.force_login(people["chair"])
    html = client.get(meeting.get_absolute_url()).content.decode()
    assert 'id="health-report"' in html and "data-health-report" in html and 'class="ops-bar"' in html
    assert "data-sparkline" in html and "<polyline" in html
    assert "Nightly backup" in html and world["major"].reference in html
    # The report's row offers its own decisions, a change's row its own.
    report_row = html[html.index(f'data-item="{items[0].pk}"') : html.index(f'data-item="{items[1].pk}"')]
    assert 'value="follow_up_problem"' in report_row and 'value="follow_up"' not in report_row
    change_row = html[html.index(f'data-item="{items[1].pk}"') : html.index('id="health-report"')]
    assert 'value="follow_up"' in change_row and 'value="follow_up_rfc"' not in change_row
    html = client.get(reverse("review_mode_item", args=[meeting.pk, items[0].pk])).content.decode()
    assert "data-health-report" in html and "Follow up: open a problem" in html and "<svg" in html
    html = client.get(reverse("review_mode_item", args=[meeting.pk, items[1].pk])).content.decode()
    assert "data-health-report" not in html


def test_the_minutes_carry_the_report(client, people, world):
    meeting, items = filled(people)
    client.force_login(people["chair"])
    html = client.get(reverse("review_minutes", args=[meeting.pk])).content.decode()
    assert "Operational health report (item 1)" in html and 'data-frozen="0"' in html
    r = client.get(f"/api/v1/reviews/{meeting.pk}/minutes/")
    assert r.status_code == 200
    assert r.json()["health_report"]["report"]["changes"]["failed"] == 1
    cab = make_meeting(people)
    assert client.get(f"/api/v1/reviews/{cab.pk}/minutes/").json()["health_report"] is None


def test_the_api_gives_the_report_live_then_as_decided(client, people, world):
    meeting, items = filled(people)
    client.force_login(people["chair"])
    url = f"/api/v1/reviews/{meeting.pk}/health-report/"
    body = client.get(url).json()
    assert body["item"] == items[0].pk and body["state"] == "pending" and body["report"]["frozen"] is False
    assert body["report"]["jobs"]["missed"] == 2 and body["report"]["totals"]["incidents"] == 4
    assert {s["service_name"] for s in body["report"]["services"]} == {"Mail", "Web"}
    vote_all(items[0], people, "accept")
    services.decide(item_id=items[0].pk, decision="accept", actor=people["chair"])
    incident(world["mail"], at=timezone.now() - DAY)
    body = client.get(url).json()
    assert (
        body["decision"] == "accept" and body["report"]["frozen"] is True and body["report"]["totals"]["incidents"] == 4
    )
    # Other kinds of review have no health report; outsiders see no meeting.
    assert client.get(f"/api/v1/reviews/{make_meeting(people).pk}/health-report/").status_code == 404
    client.force_login(people["requester"].__class__.objects.create_user(username="caller", password="x"))
    assert client.get(url).status_code in (403, 404)
    client.logout()
    assert client.get(url).status_code in (401, 403)


def test_the_api_states_the_period(client, people, world):
    meeting = ops_meeting(people, in_session=False)
    client.force_login(people["chair"])
    url = f"/api/v1/reviews/{meeting.pk}/health-report/"
    assert client.get(url).status_code == 404  # not on the agenda yet
    start, end = timezone.now() - 3 * DAY, timezone.now() - DAY
    r = client.put(url, {"start": end.isoformat(), "end": start.isoformat()}, content_type="application/json")
    assert r.status_code == 400 and "end" in r.json()
    r = client.put(url, {"start": "soon"}, content_type="application/json")
    assert r.status_code == 400 and {"start", "end"} <= set(r.json())
    r = client.put(url, {"start": start.isoformat(), "end": end.isoformat()}, content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["stated"] is True and r.json()["report"]["totals"]["events"] == world["events_last_3_days"]
    assert AgendaItem.objects.filter(meeting=meeting, model_label=PERIOD).count() == 1
    client.force_login(people["rel"])
    assert (
        client.put(
            url, {"start": start.isoformat(), "end": end.isoformat()}, content_type="application/json"
        ).status_code
        == 403
    )


# --- queries -----------------------------------------------------------------------------


def _queries(func) -> int:
    with CaptureQueriesContext(connection) as ctx:
        func()
    return len(ctx)


def test_the_report_takes_a_fixed_number_of_queries(client, people, world):
    meeting, items = filled(people)
    period = items[0].get_subject()
    small = _queries(lambda: operations_review.build_report(period, people["chair"]))
    client.force_login(people["chair"])
    client.get(meeting.get_absolute_url())  # warm caches (content types, session)
    small_page = _queries(lambda: client.get(meeting.get_absolute_url()))
    small_mode = _queries(lambda: client.get(reverse("review_mode_item", args=[meeting.pk, items[0].pk])))
    api = f"/api/v1/reviews/{meeting.pk}/health-report/"
    client.get(api)
    small_api = _queries(lambda: client.get(api))
    for n in range(6):  # more services, with events, incidents, jobs, changes and warnings
        more = ops_world(people, suffix=f" {n}")
        assert more["events_in_period"]
    big = _queries(lambda: operations_review.build_report(period, people["chair"]))
    report = operations_review.build_report(period, people["chair"])
    assert len(report["services"]) > 10 and len(report["jobs"]["jobs"]) > 10
    assert big == small, (small, big)
    assert _queries(lambda: client.get(meeting.get_absolute_url())) == small_page
    assert _queries(lambda: client.get(reverse("review_mode_item", args=[meeting.pk, items[0].pk]))) == small_mode
    assert _queries(lambda: client.get(api)) == small_api
    assert len(client.get(api).json()["report"]["services"]) == len(report["services"])


def test_an_old_event_or_incident_is_not_in_the_period(people, world):
    meeting, items = filled(people)
    period = items[0].get_subject()
    before = operations_review.build_report(period, people["chair"])
    event(world["mail_ci"], at=period.start - dt.timedelta(seconds=1))
    alert(world["mail_ci"], at=period.start - dt.timedelta(seconds=1))
    incident(world["mail"], at=period.end)  # the end is excluded
    capacity_warning(at=period.start - DAY, metric="mem.used")
    job_runs(world["backup"], ["failed"], at=period.end + dt.timedelta(seconds=1))
    change = change_in(ChangeStatus.IMPLEMENTED)
    place(change, outcome=Outcome.FAILED, actual_end=period.start - dt.timedelta(seconds=1))
    after = operations_review.build_report(period, people["chair"])
    for key in ("services", "totals", "changes", "jobs", "major_incidents"):
        assert after[key] == before[key], key
    assert after["capacity"]["raised"] == before["capacity"]["raised"]
    assert after["capacity"]["open"] == before["capacity"]["open"] + 1  # an open warning counts whenever it was raised


def test_the_chair_states_the_period_on_the_meeting_page(client, people, world):
    meeting = ops_meeting(people, in_session=False)
    url = reverse("review_health_period", args=[meeting.pk])
    client.force_login(people["chair"])
    assert 'id="health-period"' in client.get(meeting.get_absolute_url()).content.decode()
    fmt = "%Y-%m-%dT%H:%M"
    start, end = timezone.now() - 3 * DAY, timezone.now() - DAY
    r = client.post(url, {"start": end.strftime(fmt), "end": start.strftime(fmt)})
    assert r.status_code == 400 and "The period ends after it starts." in r.content.decode()
    assert client.post(url, {"start": "", "end": ""}).status_code == 400
    assert not OperationsReviewPeriod.objects.exists()
    r = client.post(url, {"start": start.strftime(fmt), "end": end.strftime(fmt)})
    assert r.status_code == 302 and r["Location"].endswith("#health-report")
    period = OperationsReviewPeriod.objects.get(meeting=meeting)
    assert period.stated and period.start == start.replace(second=0, microsecond=0)
    assert AgendaItem.objects.get(meeting=meeting, model_label=PERIOD).object_id == str(period.pk)
    cab = make_meeting(people, in_session=False)
    r = client.post(
        reverse("review_health_period", args=[cab.pk]), {"start": start.strftime(fmt), "end": end.strftime(fmt)}
    )
    assert r.status_code == 404  # no health report at a CAB
    client.force_login(people["rel"])  # an attendee who neither chairs nor manages
    assert client.post(url, {"start": start.strftime(fmt), "end": end.strftime(fmt)}).status_code == 403
    assert 'id="health-period"' not in client.get(meeting.get_absolute_url()).content.decode()
