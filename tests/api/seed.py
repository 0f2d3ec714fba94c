"""A portal with one or more of every API resource, so that list and detail endpoints
(sparse fields, schema fuzzing) meet real objects rather than empty lists and 404s."""

import datetime as dt

from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from changes import services as change_services
from changes.choices import ChangeStatus
from changes.models import RequestForChange
from incidents.models import KnownError, Problem, ProblemProposal
from integrations import outbox
from integrations.choices import EventType
from integrations.models import WebhookDelivery
from mof import tokens
from mof.choices import ReviewKind
from mof.models import CIClass, ConfigurationItem, Service, User
from mof.transitions import perform_transition
from operations import events
from operations import services as operations_services
from reviews import services as review_services
from reviews.models import Meeting
from slas import availability, capacity
from slas import services as sla_services
from slas.models import BusinessCalendar, CapacityWarning
from tests.integrations.factories import SubscriptionFactory
from tests.operations.jobs_factories import backup_job, run


def seed_portal():
    """The demo organisation and its work (seed_demo, seed_work), plus what they leave out."""
    with override_settings(DEBUG=True):  # the demo commands refuse to run without it
        call_command("seed_demo", verbosity=0)
        call_command("seed_work", verbosity=0)
    admin = User.objects.get(username="admin")
    service = Service.objects.order_by("id").first()
    ci = ConfigurationItem.objects.order_by("id").first()
    start = (timezone.now() + dt.timedelta(days=10)).replace(microsecond=0)

    change_services.template_create(
        actor=admin,
        name="Restart IIS on a CAS server",
        implementation_plan="iisreset",
        backout_plan="none",
        test_plan="OWA login",
    )
    change_services.release_create(
        actor=admin, name="Exchange SP1 rollup", planned_start=start, planned_end=start + dt.timedelta(hours=4)
    )
    operations_services.freeze_create(
        actor=admin, name="Year-end freeze", start=start, end=start + dt.timedelta(days=3), reason="Financial close."
    )
    operations_services.maintenance_create(
        actor=admin,
        name="Sunday patching",
        service=service,
        weekdays=[7],
        start_time=dt.time(2, 0),
        duration_minutes=120,
        time_zone="UTC",
    )
    capacity.threshold_save(
        actor=admin, ci_class=CIClass.objects.order_by("id").first(), metric="disk_used_pct", threshold=90.0
    )
    availability.outage_record_create(
        actor=admin,
        service=service,
        start=start - dt.timedelta(days=20),
        end=start - dt.timedelta(days=20, hours=-1),
        reason="Power cut.",
    )

    problem = Problem.objects.order_by("id").first()
    known_error = KnownError.objects.create(
        problem=problem, title="OWA times out", root_cause="Worn disk", workaround="Fail over the mailbox database."
    )
    known_error.services.add(service)
    proposal = ProblemProposal.objects.create(
        scope="ci", ci=ci, incident_count=3, window_start=start - dt.timedelta(days=7), window_end=start
    )
    proposal.incidents.set(problem.incidents.all()[:3] if problem.incidents.exists() else [])
    # Mail into the service desk: one opened an incident, one from a stranger parked.
    from incidents.mailbox.services import receive

    for sender, subject in (
        (admin.email or "admin@example.test", "OWA shows a blank page"),
        ("stranger@elsewhere.test", "Hello?"),
    ):
        receive(
            f"From: {sender}\r\nTo: servicedesk@example.test\r\nSubject: {subject}\r\nMessage-ID: <{subject[:3]}.seed@client.example>\r\n\r\nSince this morning.\r\n".encode()
        )
    # Security administration: a service account with a token, and a personal token.
    account = tokens.service_account_create(
        actor=admin, username="svc-monitoring", first_name="Monitoring", roles=["operations"]
    )
    tokens.token_issue(actor=admin, owner=account, name="mon01")
    tokens.token_issue(actor=admin, owner=admin, name="admin's script")
    CapacityWarning.objects.create(
        ci=ci, metric="disk_used_pct", threshold_value=90.0, current_value=82.0, slope_per_day=0.5, forecast_at=start
    )
    capacity.measurements_record(actor=admin, rows=[{"ci": ci.pk, "metric": "disk_used_pct", "value": 82.0}])

    # Service monitoring, the job schedule and webhooks, through their own test helpers.
    events.ingest(
        actor=admin,
        payload=[
            {
                "source": "scom",
                "ci": ci.name,
                "severity": "critical",
                "key": f"{ci.name}/disk",
                "message": "Disk C: 97% full",
            },
            {
                "source": "scom",
                "ci": ci.name,
                "severity": "warning",
                "key": f"{ci.name}/queue",
                "message": "Mail queue 500",
            },
        ],
    )
    job = backup_job(targets=[ci])
    run(job, start=timezone.now() - dt.timedelta(hours=3))
    subscription = SubscriptionFactory(owner=admin)
    # The outbox stores only what a subscription wants: a ping for this one, then its failed delivery.
    event = outbox.publish(EventType.PING, {"message": "seed"}, subscription=subscription)
    WebhookDelivery.objects.create(
        subscription=subscription, event=event, status="failed", attempts=1, response_status=500
    )
    # A comment on an open change; an Operations Review in session, its agenda (the health
    # report first) filled from the events and the job run above, and a vote on it.
    open_change = (
        RequestForChange.objects.exclude(status__in=[ChangeStatus.CLOSED, ChangeStatus.CANCELLED])
        .order_by("-number")
        .first()
    )
    change_services.change_comment(actor=admin, change=open_change, body="Checked with the mail team.")
    review = review_services.meeting_create(
        actor=admin, kind=ReviewKind.OPERATIONS, scheduled_at=timezone.now() + dt.timedelta(days=30), attendees=[admin]
    )
    review_services.agenda_refresh(actor=admin, meeting=review)
    review = perform_transition(model=Meeting, actor=admin, pk=review.pk, name="open")
    review_services.vote(item=review.items.order_by("position", "pk").first(), voter=admin, vote="accept")
    sla_services.sla_create(
        actor=admin,
        name="Service desk to Infrastructure",
        kind="ola",
        ticket_type="incidents.incident",
        response_seconds=1800,
        resolution_seconds=14400,
        calendar=BusinessCalendar.objects.order_by("id").first(),
    )
    # The newest open incident is a major one with a communication (its log is an API list).
    from incidents import services as incident_services
    from incidents.models import Incident

    major = Incident.objects.filter(status__in=["new", "assigned", "in_progress"]).order_by("-number").first()
    if not major.is_major:
        major = incident_services.incident_declare_major(actor=admin, incident=major, major_incident_manager=admin)
    incident_services.major_incident_communicate(
        actor=admin, incident=major, body="Mail is degraded; next update at noon.", recipients=["staff@example.test"]
    )
    # A file on every incident, problem and open change (their attachments are API lists).
    from django.core.files.base import ContentFile

    from mof.attachments import attach_file

    for ticket in [
        *Incident.objects.all(),
        *Problem.objects.all(),
        *RequestForChange.objects.exclude(status__in=["closed", "cancelled", "rejected"]),
    ]:
        if ticket.status not in ("closed", "cancelled", "closed_no_fix"):
            attach_file(ticket, ContentFile(b"2026-12-07 10:00 queue backed up\n", name="transport.log"), by=admin)
    return admin
