"""Demo work on top of the demo organisation: SLAs on business calendars, incidents in the
service desk's queues, a problem, changes awaiting the CAB and a planned CAB meeting, and
the day-to-day operations: scheduled jobs with their runs and a few monitoring events.
DEBUG only; safe to run again (what exists, by its title, is left alone)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from mof import audit, review_gate
from mof.choices import ReviewKind
from mof.models import ConfigurationItem, Service, Team, User
from mof.transitions import perform_transition

T = dt.time


class Command(BaseCommand):
    help = (
        "Load demo work (SLAs, incidents, a problem, changes, a CAB meeting) after seed_demo. DEBUG only; idempotent."
    )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_work runs only with DEBUG on.")
        people = {
            u.username: u
            for u in User.objects.filter(
                username__in=["admin", "manager", "release", "infra", "support", "operations", "partner", "security"]
            )
        }
        if "manager" not in people:
            raise CommandError("Run seed_demo first.")
        self.created = 0
        with audit.acting_as(None, via="seed"), transaction.atomic():
            self.slas(people)
            self.incidents(people)
            self.changes(people)
            self.operations(people)
        self.stdout.write(
            f"seed_work: {self.created} demo item(s) created" if self.created else "seed_work: nothing changed"
        )

    def slas(self, p):
        from slas import services as sla
        from slas.models import BusinessCalendar, ServiceLevelAgreement

        office = BusinessCalendar.objects.filter(name="London office").first() or sla.calendar_save(
            actor=p["manager"],
            name="London office",
            time_zone="Europe/London",
            country="GB",
            subdivision="ENG",
            intervals=[(d, T(8), T(18)) for d in range(5)],
        )
        always = BusinessCalendar.objects.filter(name="24x7").first() or sla.calendar_save(
            actor=p["manager"],
            name="24x7",
            time_zone="UTC",
            intervals=[(d, T(0), T(0)) for d in range(7)],
        )
        mail = Service.objects.get(name="Exchange mail")
        for name, priorities, respond, resolve, calendar in (
            ("Exchange mail: P1-P2", [1, 2], 30 * 60, 4 * 3600, always),
            ("Service desk: P3-P5", [3, 4, 5], 4 * 3600, 3 * 86400, office),
        ):
            if ServiceLevelAgreement.objects.filter(name=name).exists():
                continue
            agreement = sla.sla_create(
                actor=p["manager"],
                name=name,
                priorities=priorities,
                response_seconds=respond,
                resolution_seconds=resolve,
                calendar=calendar,
                service=mail if "mail" in name.lower() else None,
                pause_on=["awaiting_caller", "awaiting_vendor"],
            )
            from mof.transitions import perform_transition

            perform_transition(model=ServiceLevelAgreement, pk=agreement.pk, name="submit", actor=p["manager"])
            # The SLA Review (chaired by the admin here) activates it.
            review_gate.record_decision(
                kind=ReviewKind.SLA,
                subject=ServiceLevelAgreement.objects.get(pk=agreement.pk),
                decision="activate",
                actor=p["admin"],
                notes="Agreed with the messaging customers",
                reference="demo",
                fire="activate",
            )
            self.created += 1

    def incidents(self, p):
        from incidents import services as desk
        from incidents.models import Incident, Problem

        group = Team.objects.get(name="Service Desk")
        mail = Service.objects.get(name="Exchange mail")
        owa = Service.objects.filter(name="Outlook Web Access").first()
        for title, caller, fields, steps in (
            ("Outlook keeps asking for my password", "security", {"service": mail, "urgency": 2}, []),
            (
                "OWA login page times out from home",
                "partner",
                {"service": owa or mail, "urgency": 2},
                ["assign", "start_work"],
            ),
            (
                "Shared mailbox for Finance not updating",
                "release",
                {"service": mail, "urgency": 3},
                ["assign", "start_work", "hold"],
            ),
        ):
            if Incident.objects.filter(title=title).exists():
                continue
            incident = desk.incident_create(actor=p[caller], title=title, **fields)
            desk.incident_update(actor=p["support"], incident=incident, assignment_group=group)
            from mof.transitions import perform_transition

            for step in steps:
                if step == "assign":
                    desk.incident_assign(
                        actor=p["support"],
                        incident=Incident.objects.get(pk=incident.pk),
                        assignment_group=group,
                        assignee=p["support"],
                    )
                elif step == "hold":
                    perform_transition(
                        model=Incident,
                        pk=incident.pk,
                        name="hold",
                        actor=p["support"],
                        data={"hold_reason": "awaiting_vendor", "reason": "Case open with the storage vendor"},
                    )
                else:
                    perform_transition(model=Incident, pk=incident.pk, name=step, actor=p["support"])
            self.created += 1
        if not Problem.objects.filter(title="Autodiscover prompts for credentials").exists():
            desk.problem_create(
                actor=p["support"],
                title="Autodiscover prompts for credentials",
                description="Several users are asked for their password by Outlook.",
                incidents=list(Incident.objects.filter(title="Outlook keeps asking for my password")),
                services=[mail],
            )
            self.created += 1

    def changes(self, p):
        from changes import services as cs
        from changes.models import RequestForChange
        from reviews import services as rs
        from reviews.models import Meeting

        router = ConfigurationItem.objects.order_by("name").filter(name__icontains="core").first()
        start = (timezone.now() + dt.timedelta(days=7)).replace(hour=22, minute=0, second=0, microsecond=0)
        title = "Core router firmware upgrade"
        if router is not None and not RequestForChange.objects.filter(title=title).exists():
            change = cs.change_create(
                actor=p["infra"],
                title=title,
                description="Upgrade the core router to the vendor's fixed release.",
                business_justification="The current release leaks memory under BGP churn.",
                change_manager=p["release"],
                developer=p["infra"],
                tester=p["release"],
                implementer=p["operations"],
                affected_cis=[router],
                implementation_plan="Load the image, reload in the window, verify BGP and mail flow.",
                backout_plan="Boot the previous image from flash.",
                test_plan="Lab router upgrade; ping, BGP, SMTP relay.",
                planned_start=start,
                planned_end=start + dt.timedelta(hours=2),
                cost_estimate=1200,
                expected_benefit="No more monthly outages of mail routing.",
                expected_benefit_value=8000,
            )
            perform_transition(model=RequestForChange, actor=p["infra"], pk=change.pk, name="submit")
            cs.change_assess(
                actor=p["release"],
                change=RequestForChange.objects.get(pk=change.pk),
                probability=3,
                impact=4,
                notes="Every site's mail flow depends on it.",
            )
            self.created += 1
        if not Meeting.objects.filter(title="Weekly CAB").exists():
            meeting = rs.meeting_create(
                actor=p["manager"],
                kind=ReviewKind.RELEASE_APPROVED,
                scheduled_at=start - dt.timedelta(days=3),
                title="Weekly CAB",
                attendees=[p["admin"], p["release"], p["operations"]],
                quorum=2,
                quorum_role_clusters=1,
            )
            rs.agenda_refresh(actor=p["manager"], meeting=meeting)
            self.created += 1

    def operations(self, p):
        """Two scheduled jobs (a nightly mailbox backup, an hourly transport-log batch) with a
        few days of runs, and monitoring events for the mailbox servers."""
        from operations import events, jobs
        from operations.models import Job, MonitoringEvent

        group = Team.objects.get(name="Messaging Operations")
        cis = {c.name: c for c in ConfigurationItem.objects.filter(name__in=["EX-MBX-01", "EX-MBX-02", "EX-HUB-01"])}
        if len(cis) < 3:
            return
        now = timezone.now()
        for name, kind, schedule, minutes, targets, backup_hours in (
            ("Mailbox database backup", "backup", "30 1 * * *", 90, ["EX-MBX-01", "EX-MBX-02"], 26),
            ("Transport log rollover", "batch", "5 * * * *", 10, ["EX-HUB-01"], None),
        ):
            if Job.objects.filter(name=name).exists():
                continue
            job = jobs.job_create(
                actor=p["operations"],
                name=name,
                kind=kind,
                schedule=schedule,
                time_zone="Europe/London",
                expected_duration_minutes=minutes,
                owner_group=group,
                backup_max_age_hours=backup_hours,
                description=f"Demo: {name.lower()}.",
                target_cis=[cis[t] for t in targets],
            )
            # Its last three occurrences ran: the oldest failed, then it recovered.
            past = [o for o in job.occurrences(now - dt.timedelta(days=3), now - dt.timedelta(minutes=minutes + 30))][
                -3:
            ]
            for i, planned in enumerate(past):
                run = jobs.run_start(
                    actor=p["operations"], job=job, started_at=planned + dt.timedelta(minutes=1), planned_for=planned
                )
                outcome = "failed" if i == 0 else "success"
                jobs.run_finish(
                    actor=p["operations"],
                    run=run,
                    data={
                        "status": outcome,
                        "finished_at": planned + dt.timedelta(minutes=minutes - 5),
                        "items_processed": 40 if kind == "batch" else None,
                        "bytes_processed": 512 * 1024**3 if kind == "backup" else None,
                        "log_excerpt": "VSS writer timed out" if outcome == "failed" else "Completed.",
                    },
                )
            self.created += 1
        if not MonitoringEvent.objects.filter(source="scom-demo").exists():
            events.ingest(
                actor=p["operations"],
                payload=[
                    {
                        "source": "scom-demo",
                        "ci": "EX-MBX-02",
                        "severity": "warning",
                        "key": "EX-MBX-02/queue",
                        "message": "Mail queue above 500 messages",
                    },
                    {
                        "source": "scom-demo",
                        "ci": "EX-MBX-02",
                        "severity": "warning",
                        "key": "EX-MBX-02/queue",
                        "message": "Mail queue above 800 messages",
                    },
                    {
                        "source": "scom-demo",
                        "ci": "EX-HUB-01",
                        "severity": "info",
                        "key": "EX-HUB-01/cert",
                        "message": "Certificate expires in 30 days",
                    },
                ],
            )
            self.created += 1
