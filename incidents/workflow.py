"""Incident: new > assigned > in progress <> on hold (with a reason) > resolved > closed;
resolved > in progress when the caller reopens within the period; cancelled for duplicates
or mistakes. Problem: new > investigating > known error > fix in progress > resolved
(driven by the fixing change closing) > closed; or closed, no fix planned."""

from django.conf import settings
from django.utils import timezone
from django_fsm import transition

from incidents.choices import IncidentStatus as S
from incidents.choices import ProblemStatus as P
from incidents.choices import ProposalStatus
from incidents.forms_transitions import CancelForm, HoldForm, ReasonForm, ResolveForm
from mof.workflows import condition, permission


@condition("Assigning needs an assignment group and an assignee who belongs to it.")
def has_assignee_in_group(incident) -> bool:
    return (
        bool(incident.assignment_group_id and incident.assignee_id)
        and incident.assignment_group.members.filter(pk=incident.assignee_id).exists()
    )


@condition("Reopening is possible only within the reopen period after resolution.")
def within_reopen_period(incident) -> bool:
    if incident.resolved_at is None:
        return False
    return timezone.now() - incident.resolved_at <= timezone.timedelta(days=settings.MOF_INCIDENT_AUTO_CLOSE_DAYS)


@condition("A child of a major incident is resolved with its parent.")
def not_a_child(incident) -> bool:
    return incident.parent_id is None


class IncidentWorkflow:
    @transition(
        field="status",
        source=S.NEW,
        target=S.ASSIGNED,
        conditions=[has_assignee_in_group],
        permission=permission("incident.transition.work"),
        custom={"label": "Assign"},
    )
    def assign(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=[S.NEW, S.ASSIGNED],
        target=S.IN_PROGRESS,
        conditions=[has_assignee_in_group],
        permission=permission("incident.transition.work"),
        custom={"label": "Start work"},
    )
    def start_work(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=S.IN_PROGRESS,
        target=S.ON_HOLD,
        permission=permission("incident.transition.work"),
        custom={"label": "Put on hold", "form": HoldForm},
    )
    def hold(self, *, by=None, hold_reason="", reason="", **data):
        self.hold_reason = hold_reason

    @transition(
        field="status",
        source=S.ON_HOLD,
        target=S.IN_PROGRESS,
        permission=permission("incident.transition.work"),
        custom={"label": "Resume"},
    )
    def resume(self, *, by=None, **data):
        self.hold_reason = ""

    @transition(
        field="status",
        source=[S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.ON_HOLD],
        target=S.RESOLVED,
        permission=permission("incident.transition.work"),
        custom={"label": "Resolve", "form": ResolveForm, "primary": [S.IN_PROGRESS]},
    )
    def resolve(self, *, by=None, resolution_code="", resolution_notes="", **data):
        self.resolution_code = resolution_code
        self.resolution_notes = resolution_notes
        self.hold_reason = ""
        self.resolved_at = timezone.now()

    @transition(
        field="status",
        source=S.RESOLVED,
        target=S.IN_PROGRESS,
        conditions=[within_reopen_period, not_a_child],
        permission=permission("incident.transition.reopen"),
        custom={"label": "Reopen", "form": ReasonForm},
    )
    def reopen(self, *, by=None, reason="", **data):
        self.resolved_at = None
        self.reopen_count += 1

    @transition(
        field="status",
        source=S.RESOLVED,
        target=S.CLOSED,
        permission=permission("incident.transition.close"),
        custom={"label": "Close", "primary": [S.RESOLVED]},
    )
    def close(self, *, by=None, **data):
        self.closed_at = timezone.now()

    @transition(
        field="status",
        source=[S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.ON_HOLD],
        target=S.CANCELLED,
        permission=permission("incident.transition.work"),
        custom={"label": "Cancel", "form": CancelForm},
    )
    def cancel(self, *, by=None, cancel_reason="", reason="", **data):
        self.resolution_code = ""
        self.resolution_notes = f"Cancelled ({cancel_reason}): {reason}"


@condition("A known error needs a root cause and a workaround.")
def has_root_cause_and_workaround(problem) -> bool:
    return bool(problem.root_cause.strip() and problem.workaround.strip())


@condition("Fixing needs a linked request for change.")
def has_fixing_change(problem) -> bool:
    return problem.fixing_changes.exists()


@condition("A problem is resolved when its fixing changes close, not by hand.")
def fixing_changes_closed(problem) -> bool:
    from changes.choices import ChangeStatus

    fixes = problem.fixing_changes.all()
    return fixes.exists() and not fixes.exclude(status=ChangeStatus.CLOSED).exists()


class ProblemWorkflow:
    @transition(
        field="status",
        source=P.NEW,
        target=P.INVESTIGATING,
        permission=permission("problem.transition.work"),
        custom={"label": "Investigate"},
    )
    def investigate(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=[P.NEW, P.INVESTIGATING],
        target=P.KNOWN_ERROR,
        conditions=[has_root_cause_and_workaround],
        permission=permission("problem.transition.work"),
        custom={"label": "Publish known error"},
    )
    def publish_known_error(self, *, by=None, **data):
        self.known_error_published_at = timezone.now()

    @transition(
        field="status",
        source=P.KNOWN_ERROR,
        target=P.FIX_IN_PROGRESS,
        conditions=[has_fixing_change],
        permission=permission("problem.transition.work"),
        custom={"label": "Fix in progress"},
    )
    def start_fix(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=P.FIX_IN_PROGRESS,
        target=P.RESOLVED,
        conditions=[fixing_changes_closed],
        permission=permission("problem.transition.resolve"),
        custom={"label": "Resolve", "automatic": True},
    )
    def resolve(self, *, by=None, **data):
        self.resolved_at = timezone.now()

    @transition(
        field="status",
        source=P.RESOLVED,
        target=P.CLOSED,
        permission=permission("problem.transition.work"),
        custom={"label": "Close"},
    )
    def close(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=[P.NEW, P.INVESTIGATING, P.KNOWN_ERROR],
        target=P.CLOSED_NO_FIX,
        permission=permission("problem.transition.close_no_fix"),
        custom={"label": "Close, no fix planned", "form": ReasonForm},
    )
    def close_no_fix(self, *, by=None, reason="", **data):
        self.closure_reason = reason


class ProblemProposalWorkflow:
    """proposed -> accepted (a problem was opened for the cluster) or dismissed: the desk's
    decision on what proactive problem management found, through the door."""

    @transition(
        field="status",
        source=ProposalStatus.PROPOSED,
        target=ProposalStatus.ACCEPTED,
        permission=permission("problemproposal.decide"),
        custom={"label": "Open a problem"},
    )
    def accept(self, *, by=None, **data):
        self.decided_by = by

    @transition(
        field="status",
        source=ProposalStatus.PROPOSED,
        target=ProposalStatus.DISMISSED,
        permission=permission("problemproposal.decide"),
        custom={"label": "Dismiss"},
    )
    def dismiss(self, *, by=None, **data):
        self.decided_by = by
