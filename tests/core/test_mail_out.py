"""Mail out, worth reading: every kind of notification from its templates with a plain-text
and an HTML part, in human words (state labels, never state codes or app_label.model), every
link absolute; one thread per ticket (Message-ID, In-Reply-To, References); review meetings
and change windows as calendar invitations (SEQUENCE raised on reschedule, METHOD:CANCEL)."""

import datetime as dt
import re

import icalendar
import pytest
from django.apps import apps
from django.conf import settings
from django.utils import timezone
from django_fsm import FSMFieldMixin

from changes import mail as change_mail
from changes import services as change_services
from changes.models import ChangeStakeholder, RequestForChange
from incidents import mail as incident_mail
from incidents import services as desk
from integrations.services import disabled_notice_mail
from mof import notifications
from mof.models import OutgoingMail
from mof.transitions import perform_transition, transition_mail
from reviews import services as review_services
from reviews import tasks as review_tasks
from reviews.models import AgendaItem, Meeting
from slas import services as sla_services
from slas.models import ServiceLevelAgreement, SLAStatus
from tests.changes.factories import ChangeFactory
from tests.factories import CIFactory, ManagerFactory, TeamFactory, UserFactory
from tests.integrations.factories import SubscriptionFactory
from tests.reviews.conftest import change_in, place

pytestmark = pytest.mark.django_db
HOUR = 3600


def raw_state_codes() -> set[str]:
    """Every state value of every workflow that is not itself the word its label says
    (`in_progress`, labelled In progress, is a code; `resolved`, labelled Resolved, and `failed`,
    labelled Failed (gave up), are words too)."""
    codes = set()
    for model in apps.get_models():
        for field in model._meta.fields:
            if isinstance(field, FSMFieldMixin) or field.name in ("state", "status"):
                for value, label in field.flatchoices:
                    if isinstance(value, str) and value not in re.findall(r"\w+", str(label).lower()):
                        codes.add(value)
    return codes


def model_labels() -> set[str]:
    return {model._meta.label_lower for model in apps.get_models()}


def text_links(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>\"')]+", text)


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def assert_worth_reading(mail: OutgoingMail, *, foreign=()):
    where = f"{mail.kind} ({mail.subject})"
    email = notifications.message(mail).message()
    types = [part.get_content_type() for part in email.walk()]
    assert "text/plain" in types and "text/html" in types, where
    assert mail.body.strip() and "<html" in mail.html_body, where
    assert re.match(r"^\[[A-Z]+-\d+\] |^\[MOF\] ", mail.subject), where
    html_text = re.sub(r"<[^>]+>", " ", mail.html_body)
    for part in (mail.subject, mail.body, html_text):
        for code in raw_state_codes():
            assert not re.search(rf"(?<![\w/-]){re.escape(code)}(?![\w/-])", part), (
                f"{where}: raw state code {code!r} in {part!r}"
            )
        for label in model_labels():
            assert label not in part, f"{where}: {label!r} in {part!r}"
    base = settings.MOF_BASE_URL.rstrip("/") + "/"
    links = [link for link in hrefs(mail.html_body) if not link.startswith("mailto:")]
    assert links, f"{where}: no link in the HTML part"
    assert all(link.startswith(base) for link in links), f"{where}: relative or foreign href in {links}"
    plain = [link for link in text_links(mail.body) if not any(link.startswith(f) for f in foreign)]
    assert plain and all(link.startswith(base) for link in plain), f"{where}: {plain}"


@pytest.fixture
def world(db):
    manager = ManagerFactory(username="desk-manager", email="desk-manager@example.test")
    agent = UserFactory(
        username="agent", first_name="Ada", last_name="Agent", email="agent@example.test", roles=["support"]
    )
    caller = UserFactory(username="caller", first_name="Carl", last_name="Caller", email="caller@example.test")
    group = TeamFactory(name="Service desk", members=[agent], manager=manager)
    return {"manager": manager, "agent": agent, "caller": caller, "group": group}


def test_every_kind_of_mail_has_both_parts_human_words_and_absolute_links(world, django_capture_on_commit_callbacks):
    manager, agent, caller, group = world["manager"], world["agent"], world["caller"], world["group"]
    # The service desk: landed in the queue, assigned (and its transition), commented, escalated, resolved, major update.
    incident = desk.incident_create(
        actor=agent, caller=caller, title="Printer down on floor 4", assignment_group=group, impact=2, urgency=2
    )
    incident = desk.incident_assign(actor=agent, incident=incident, assignment_group=group, assignee=agent)
    note = desk.incident_note(actor=agent, incident=incident, kind="comment", body="Toner ordered & on its way.")
    incident.refresh_from_db()
    incident_mail.incident_mail("escalated", incident, note)
    transition_mail(incident, "start", "assigned", "in_progress")
    from incidents.models import Incident

    Incident.objects.filter(pk=incident.pk).update(
        status="resolved", resolution_code="fixed", resolution_notes="New toner."
    )
    incident.refresh_from_db()
    incident_mail.incident_mail("resolved", incident)
    update = incident.communications.create(
        author=manager, body="Still printing nothing.", recipients=["board@example.test"]
    )
    incident_mail.major_update_mail(update)
    # Changes: stakeholders, the change window (invitation, moved, cancelled), a transition.
    change = ChangeFactory(
        title="Router firmware 15.2",
        implementer=agent,
        change_manager=manager,
        planned_start=timezone.now() + dt.timedelta(days=2),
        planned_end=timezone.now() + dt.timedelta(days=2, hours=2),
    )
    stakeholder = ChangeStakeholder.objects.create(
        change=change, user=caller, reasons=["owner of service Exchange mail"]
    )
    change_mail.stakeholder_mail(change, [stakeholder])
    change_mail.window_mail(change)
    change_mail.window_mail(change, update=True)
    change_mail.window_mail(change, cancelled=True)
    transition_mail(change, "start_development", "scheduled", "in_development")
    # Configuration items: a transition of an object without a reference.
    ci = CIFactory(name="EX-MBX-01", owner=caller)
    transition_mail(ci, "commission", "planned", "in_service")
    # SLAs: warning and breach, and an SLA's own transition ("slas.servicelevelagreement 2" once).
    always = sla_services.calendar_save(
        actor=manager, name="24x7", time_zone="UTC", intervals=[(d, dt.time(0), dt.time(0)) for d in range(7)]
    )
    sla = sla_services.sla_create(
        actor=manager, name="P1 mail", priorities=[1], resolution_seconds=4 * HOUR, calendar=always
    )
    transition_mail(sla, "activate", "draft", "active")
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=SLAStatus.ACTIVE)
    urgent = desk.incident_create(
        actor=agent, caller=caller, title="Mail down", impact=1, urgency=1, assignment_group=group, assignee=agent
    )
    with django_capture_on_commit_callbacks(execute=True):
        sla_services.sweep(now=urgent.created_at + dt.timedelta(hours=2, minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        sla_services.sweep(now=urgent.created_at + dt.timedelta(hours=5))
    # Reviews: invitation, moved, agenda, stakeholder invitation, decisions, cancellation.
    chair = ManagerFactory(username="chair", email="chair@example.test")
    meeting = review_services.meeting_create(
        actor=chair, kind="release_approved", scheduled_at=timezone.now() + dt.timedelta(days=1), attendees=[agent]
    )
    meeting = review_services.meeting_update(
        actor=chair, meeting=meeting, scheduled_at=meeting.scheduled_at + dt.timedelta(hours=1)
    )
    assessed = change_in(requester=caller, implementer=agent, title="Patch Exchange CU14")
    ChangeStakeholder.objects.create(change=assessed, user=world["manager"], reasons=["manager of Service desk"])
    review_services.agenda_refresh(actor=chair, meeting=meeting)
    review_tasks.notify_agenda_published(meeting.pk)
    item = AgendaItem.objects.get(meeting=meeting)
    place(item, state="decided", decision="approve", decided_by=chair, decided_at=timezone.now(), reason="Low risk")
    review_tasks.notify_decision(item.pk)
    readiness = review_services.meeting_create(
        actor=chair, kind="release_readiness", scheduled_at=timezone.now() + dt.timedelta(days=3)
    )
    ready = change_in(status="tested", requester=caller, implementer=agent, title="Exchange CU14 go-live")
    go = AgendaItem.objects.create(
        meeting=readiness,
        model_label="changes.requestforchange",
        object_id=str(ready.pk),
        subject_repr=str(ready),
        state="decided",
        decision="go",
        decided_by=chair,
        decided_at=timezone.now(),
    )
    review_tasks.notify_decision(go.pk)
    transition_mail(readiness, "open", "planned", "in_session")
    perform_transition(model=Meeting, actor=chair, pk=meeting.pk, name="cancel", data={"reason": "Nothing to decide"})
    # Integrations: a disabled subscription.
    subscription = SubscriptionFactory(
        disabled_reason="Disabled after 10 consecutive failed deliveries (last: HTTP 500)."
    )
    disabled_notice_mail(subscription)
    # The daily digest.
    notifications.set_preferences(caller, {"incidents.commented": "digest"})
    desk.incident_note(actor=agent, incident=incident, kind="comment", body="Printer works again?")
    assert notifications.send_digests() == 1

    kinds = set(OutgoingMail.objects.values_list("kind", flat=True))
    expected = {
        "incidents.landed_in_queue",
        "incidents.assigned",
        "incidents.commented",
        "incidents.escalated",
        "incidents.resolved",
        "incidents.major_update",
        "changes.stakeholder",
        "changes.window",
        "slas.warning",
        "slas.breach",
        "reviews.invitation",
        "reviews.agenda_published",
        "reviews.decision",
        "integrations.subscription_disabled",
        "digest",
        "incidents.incident.start",
        "changes.requestforchange.start_development",
        "mof.configurationitem.commission",
        "slas.servicelevelagreement.activate",
        "reviews.meeting.open",
    }
    assert expected <= kinds, expected - kinds
    for mail in OutgoingMail.objects.all():
        assert_worth_reading(mail, foreign=[subscription.url])
    # The state labels the transition mails speak, and the reference first in every subject about a ticket.
    [moved] = OutgoingMail.objects.filter(kind="incidents.incident.start", to_email=caller.email)
    assert moved.subject == f"[{incident.reference}] Printer down on floor 4: Assigned → In progress"
    assert "from Assigned to In progress" in moved.body
    [commissioned] = OutgoingMail.objects.filter(kind="mof.configurationitem.commission")
    assert commissioned.subject == "[MOF] Configuration item EX-MBX-01: Planned → In service"
    [activated] = OutgoingMail.objects.filter(kind="slas.servicelevelagreement.activate")
    assert "P1 mail" in activated.subject and "Draft → Active" in activated.subject
    assert OutgoingMail.objects.filter(
        kind="incidents.assigned", subject=f"[{incident.reference}] Printer down on floor 4: assigned"
    ).exists()
    assert (
        "Toner ordered & on its way." in OutgoingMail.objects.filter(kind="incidents.commented").first().body
    )  # plain text is not HTML-escaped


def test_two_mails_about_one_incident_are_one_thread(world):
    caller, agent, group = world["caller"], world["agent"], world["group"]
    incident = desk.incident_create(actor=agent, caller=caller, title="VPN drops", assignment_group=group)
    desk.incident_assign(actor=agent, incident=incident, assignment_group=group, assignee=agent)
    desk.incident_note(actor=agent, incident=incident, kind="comment", body="Which client version?")
    first, second = OutgoingMail.objects.filter(
        to_email=caller.email, kind__in=["incidents.assigned", "incidents.commented"]
    ).order_by("id")
    root = notifications.thread_root(incident, caller.email)
    assert re.fullmatch(
        rf"<incident-{incident.pk}\.incidents\.[0-9a-f]{{12}}@{re.escape(notifications._domain())}>", root
    )
    assert root == notifications.thread_root(incident, caller.email.upper())  # derived: the same every time
    one, two = notifications.message(first).message(), notifications.message(second).message()
    assert one["Message-ID"] == root and one["In-Reply-To"] is None and one["References"] is None
    assert two["Message-ID"] != root and two["In-Reply-To"] == root and two["References"] == root
    assert one["Subject"].startswith(f"[{incident.reference}] ") and two["Subject"].startswith(
        f"[{incident.reference}] "
    )
    assert one["Auto-Submitted"] == "auto-generated" and "OOF" in one["X-Auto-Response-Suppress"]
    # The group's members have their own thread about it: their first mail is its root.
    [queued] = OutgoingMail.objects.filter(kind="incidents.landed_in_queue")
    assert (
        queued.to_email == agent.email and queued.message_id == notifications.thread_root(incident, agent.email) != root
    )


def test_the_thread_root_is_kept_when_sent_mail_is_purged(world):
    incident = desk.incident_create(
        actor=world["agent"], caller=world["caller"], title="VPN drops", assignment_group=world["group"]
    )
    desk.incident_note(actor=world["agent"], incident=incident, kind="comment", body="Which client version?")
    old = timezone.now() - dt.timedelta(days=settings.MOF_MAIL_RETENTION_DAYS + 1)
    OutgoingMail.objects.update(status="sent", sent_at=old)
    notifications.purge_sent()
    left = list(OutgoingMail.objects.values_list("message_id", "to_email"))
    assert left and all(m == notifications.thread_root(incident, to) for m, to in left)


def calendar_part(mail: OutgoingMail):
    """(method parameter of the text/calendar part, the parsed VEVENT) of a stored mail, as sent."""
    email = notifications.message(mail).message()
    [part] = [p for p in email.walk() if p.get_content_type() == "text/calendar"]
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True).decode("utf-8"))
    [event] = cal.walk("VEVENT")
    return part.get_param("method"), cal, event


def test_a_rescheduled_review_meeting_sends_an_invitation_with_a_higher_sequence_and_a_cancelled_one_cancels(world):
    chair = ManagerFactory(username="chair", email="chair@example.test")
    start = timezone.now().replace(microsecond=0) + dt.timedelta(days=1)
    meeting = review_services.meeting_create(
        actor=chair, kind="release_approved", scheduled_at=start, attendees=[world["agent"]], location="Room 4.12; B"
    )
    [invited] = OutgoingMail.objects.filter(kind="reviews.invitation", to_email=world["agent"].email)
    method, cal, first = calendar_part(invited)
    assert method == "REQUEST" and cal["METHOD"] == "REQUEST" and first["SEQUENCE"] == 0
    assert str(first["UID"]) == f"review-meeting-{meeting.pk}@{notifications._domain()}"
    assert str(first["ORGANIZER"]) == f"mailto:{chair.email}"
    assert sorted(str(a) for a in first.get("ATTENDEE")) == sorted(f"mailto:{u.email}" for u in (chair, world["agent"]))
    assert first["DTSTAMP"] and first.decoded("DTSTART") == start

    review_services.meeting_update(actor=chair, meeting=meeting, scheduled_at=start + dt.timedelta(hours=2))
    moved = (
        OutgoingMail.objects.filter(kind="reviews.invitation", to_email=world["agent"].email).order_by("-id").first()
    )
    method, cal, second = calendar_part(moved)
    assert method == "REQUEST" and second["UID"] == first["UID"] and second["SEQUENCE"] > first["SEQUENCE"]
    assert second.decoded("DTSTART") == start + dt.timedelta(hours=2)
    assert moved.subject.endswith(": moved") and Meeting.objects.get(pk=meeting.pk).ical_sequence == 1

    review_services.meeting_update(actor=chair, meeting=meeting, title="CAB")  # not moved: nothing re-sent
    assert OutgoingMail.objects.filter(kind="reviews.invitation", to_email=world["agent"].email).count() == 2

    perform_transition(model=Meeting, actor=chair, pk=meeting.pk, name="cancel", data={"reason": "Nothing to decide"})
    cancelled = (
        OutgoingMail.objects.filter(kind="reviews.invitation", to_email=world["agent"].email).order_by("-id").first()
    )
    method, cal, third = calendar_part(cancelled)
    assert method == "CANCEL" and cal["METHOD"] == "CANCEL" and third["STATUS"] == "CANCELLED"
    assert third["UID"] == first["UID"] and third["SEQUENCE"] > second["SEQUENCE"]


def test_the_downloaded_invitation_is_the_mailed_one(world, client):
    chair = ManagerFactory(username="chair", email="chair@example.test")
    meeting = review_services.meeting_create(
        actor=chair,
        kind="release_approved",
        scheduled_at=timezone.now() + dt.timedelta(days=1),
        attendees=[world["agent"]],
    )
    review_services.meeting_update(actor=chair, meeting=meeting, duration_minutes=90)
    client.force_login(world["agent"])
    event = icalendar.Calendar.from_ical(client.get(f"/reviews/meetings/{meeting.pk}/invite.ics").content).walk(
        "VEVENT"
    )[0]
    mailed = calendar_part(OutgoingMail.objects.filter(kind="reviews.invitation").order_by("-id").first())[2]
    assert (event["UID"], event["SEQUENCE"]) == (mailed["UID"], mailed["SEQUENCE"]) == (mailed["UID"], 1)


def test_a_change_window_is_an_invitation_updated_when_its_people_change_and_cancelled_with_the_change(world):
    manager, agent = world["manager"], world["agent"]
    start = timezone.now().replace(microsecond=0) + dt.timedelta(days=3)
    change = change_in(status="approved", requester=world["caller"], implementer=agent, change_manager=manager)
    change = perform_transition(
        model=RequestForChange,
        actor=manager,
        pk=change.pk,
        name="schedule",
        data={"planned_start": start, "planned_end": start + dt.timedelta(hours=2)},
    )
    assert change.status == "scheduled"
    [invite] = OutgoingMail.objects.filter(kind="changes.window", to_email=agent.email)
    method, _, first = calendar_part(invite)
    assert (
        method == "REQUEST"
        and first["SEQUENCE"] == 0
        and str(first["UID"]) == f"change-{change.pk}@{notifications._domain()}"
    )
    assert first.decoded("DTSTART") == start and str(first["ORGANIZER"]) == f"mailto:{manager.email}"
    assert invite.subject == f"[{change.reference}] {change.title}: change window"

    deputy = UserFactory(username="deputy", email="deputy@example.test", roles=["operations"])
    change_services.change_update(actor=manager, change=RequestForChange.objects.get(pk=change.pk), implementer=deputy)
    [updated] = OutgoingMail.objects.filter(kind="changes.window", to_email=deputy.email)
    method, _, second = calendar_part(updated)
    assert (
        method == "REQUEST"
        and second["SEQUENCE"] == 1
        and f"mailto:{deputy.email}" in [str(a) for a in second.get("ATTENDEE")]
    )
    dropped = OutgoingMail.objects.filter(kind="changes.window", to_email=agent.email).order_by("-id").first()
    assert calendar_part(dropped)[0] == "CANCEL"

    perform_transition(
        model=RequestForChange,
        actor=manager,
        pk=change.pk,
        name="cancel",
        data={"reason": "Vendor pulled the firmware"},
    )
    cancelled = OutgoingMail.objects.filter(kind="changes.window", to_email=deputy.email).order_by("-id").first()
    method, cal, third = calendar_part(cancelled)
    assert method == "CANCEL" and cal["METHOD"] == "CANCEL" and third["SEQUENCE"] == 2 and third["UID"] == first["UID"]


@pytest.mark.django_db(transaction=True)
def test_two_transactions_writing_a_persons_first_mail_about_a_ticket_at_once_both_commit():
    """The root Message-ID is unique: the second waits for the first (an advisory lock) and then
    writes a reply to it instead of failing on the unique index."""
    import threading

    from django.db import connections, transaction

    if connections["default"].vendor != "postgresql":
        pytest.skip("the lock is PostgreSQL's")
    caller = UserFactory(email="racer@example.test")
    agent = UserFactory(email="racer-agent@example.test", roles=["support"])
    incident = desk.incident_create(actor=agent, caller=caller, title="Race")
    first_written, results = threading.Event(), {}

    def first():
        with transaction.atomic():
            notifications.write([caller], subject="[X] one", body="one", kind="tests.one", about=incident)
            first_written.set()
            import time

            time.sleep(1)
        connections.close_all()

    def second():
        first_written.wait(5)
        try:
            with transaction.atomic():
                results["rows"] = notifications.write(
                    [caller], subject="[X] two", body="two", kind="tests.two", about=incident
                )
        except Exception as exc:  # noqa: BLE001 - the failure this test is about
            results["error"] = exc
        connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert "error" not in results, results.get("error")
    one, two = OutgoingMail.objects.filter(to_email=caller.email).order_by("id")
    assert (
        one.message_id == notifications.thread_root(incident, caller.email)
        and two.thread == one.message_id != two.message_id
    )
