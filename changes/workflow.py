"""The state graphs of requests for change, standard-change templates and releases.

Normal:    draft > submitted > assessed > approved|rejected > scheduled > in development
           > in test > tested > ready for deployment > implementing > implemented|backed out > closed
Standard:  draft > submitted > approved (pre-approved template) > scheduled > implementing > implemented > closed
Emergency: draft > submitted > assessed > approved (emergency CAB) > scheduled > implementing
           > implemented|backed out > closed (after the post-implementation review)
Any change can be cancelled before implementation. Gates: approval by the Release Approved
Review (unless the change manager may approve a low-risk change alone), readiness by the
Release Readiness Review, closing by the Operations Review (post-implementation review).
"""

from django.conf import settings
from django.utils import timezone
from django_fsm import transition

from changes.choices import ApprovalPath, ChangeType, Outcome, TemplateStatus
from changes.choices import ChangeStatus as S
from changes.choices import ReleaseStatus as RS
from changes.forms_transitions import CompleteForm, ReasonForm, ScheduleForm
from mof import review_gate
from mof.choices import ReviewKind
from mof.workflows import condition, permission


@condition("Submitting needs the implementation, backout and test plans.")
def has_plans(change) -> bool:
    return all(p.strip() for p in (change.implementation_plan, change.backout_plan, change.test_plan))


@condition("A standard change comes from an approved standard-change template.")
def from_approved_template(change) -> bool:
    return (
        change.type == ChangeType.STANDARD
        and change.template is not None
        and change.template.status == TemplateStatus.APPROVED
    )


@condition("Standard changes are pre-approved, not assessed.")
def not_standard(change) -> bool:
    return change.type != ChangeType.STANDARD


@condition("Assessing needs a risk assessment.")
def has_risk_assessment(change) -> bool:
    return change.risk_assessment_id is not None


@condition("Assessing needs an impact analysis of the affected CIs.")
def has_impact_analysis(change) -> bool:
    return change.impact_analysed_at is not None


def _decision(change, decision):
    record = review_gate.latest_decision(ReviewKind.RELEASE_APPROVED, change)
    if record is None or record.decision != decision:
        return False
    detail = record.detail or {}
    if change.approval_path == ApprovalPath.EMERGENCY_CAB:
        return bool(detail.get("emergency"))
    if change.approval_path == ApprovalPath.CAB_QUORUM:
        return int(detail.get("managers_voting", 0)) >= settings.MOF_CAB_QUORUM_MANAGERS
    return True


@condition("Awaiting an 'approve' decision of the Release Approved Review (CAB) with the quorum its risk requires.")
def approval_recorded(change) -> bool:
    if change.approval_path == ApprovalPath.CHANGE_MANAGER:
        return True  # the change manager alone decides; the permission says who that is
    return _decision(change, "approve")


@condition("Awaiting a 'reject' decision of the Release Approved Review (CAB).")
def rejection_recorded(change) -> bool:
    if change.approval_path == ApprovalPath.CHANGE_MANAGER:
        return True
    return _decision(change, "reject")


@condition("Scheduling needs a planned start before the planned end.")
def has_schedule(change) -> bool:
    return bool(change.planned_start and change.planned_end and change.planned_start < change.planned_end)


@condition("A normal or standard change cannot be scheduled inside an approved freeze window.")
def outside_freeze(change) -> bool:
    from changes.conflicts import freezes_for

    if change.type == ChangeType.EMERGENCY:
        return True  # allowed, with a warning recorded by the service
    return not freezes_for(change)


@condition("Only normal changes go through development and test.")
def is_normal(change) -> bool:
    return change.type == ChangeType.NORMAL


@condition("Only standard and emergency changes go from scheduled straight to implementation.")
def skips_build_and_test(change) -> bool:
    return change.type in (ChangeType.STANDARD, ChangeType.EMERGENCY)


@condition("Passing the tests needs test results and the test environment (CIs mirroring production) they came from.")
def has_test_evidence(change) -> bool:
    return bool(change.test_results.strip()) and change.test_environment.exists()


@condition("Awaiting a 'go' decision of the Release Readiness Review.")
def readiness_go(change) -> bool:
    return review_gate.requires(ReviewKind.RELEASE_READINESS, "go")(change)


@condition("Closing needs an 'accept' decision of the Operations Review (post-implementation review).")
def post_implementation_reviewed(change) -> bool:
    if change.type == ChangeType.STANDARD and change.status == S.IMPLEMENTED:
        return True  # a routine standard change closes when done; a backed-out one is reviewed
    return review_gate.requires(ReviewKind.OPERATIONS, "accept")(change)


class RequestForChangeWorkflow:
    @transition(
        field="status",
        source=S.DRAFT,
        target=S.SUBMITTED,
        conditions=[has_plans],
        permission=permission("change.transition.submit"),
        custom={"label": "Submit"},
    )
    def submit(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=S.SUBMITTED,
        target=S.APPROVED,
        conditions=[from_approved_template],
        permission=permission("change.transition.pre_approve"),
        custom={"label": "Approve (pre-approved standard change)", "automatic": True},
    )
    def pre_approve(self, *, by=None, **data):
        self.approval_path = ApprovalPath.PRE_APPROVED
        self.approved_at = timezone.now()

    @transition(
        field="status",
        source=S.SUBMITTED,
        target=S.ASSESSED,
        conditions=[not_standard, has_risk_assessment, has_impact_analysis],
        permission=permission("change.transition.assess"),
        custom={"label": "Assess"},
    )
    def assess(self, *, by=None, **data):
        from changes.services import approval_path_for

        self.approval_path = approval_path_for(self)

    @transition(
        field="status",
        source=S.ASSESSED,
        target=S.APPROVED,
        conditions=[approval_recorded],
        permission=permission("change.transition.approve"),
        custom={"label": "Approve", "duty": "approve", "form": ReasonForm, "gated_by": ReviewKind.RELEASE_APPROVED},
    )
    def approve(self, *, by=None, reason: str = "", **data):
        self.approved_by = by
        self.approved_at = timezone.now()

    @transition(
        field="status",
        source=S.ASSESSED,
        target=S.REJECTED,
        conditions=[rejection_recorded],
        permission=permission("change.transition.approve"),
        custom={"label": "Reject", "duty": "approve", "form": ReasonForm, "gated_by": ReviewKind.RELEASE_APPROVED},
    )
    def reject(self, *, by=None, reason: str = "", **data):
        self.decision_reason = reason

    @transition(
        field="status",
        source=S.APPROVED,
        target=S.SCHEDULED,
        conditions=[has_schedule, outside_freeze],
        permission=permission("change.transition.schedule"),
        custom={"label": "Schedule", "form": ScheduleForm, "prefill": True},
    )
    def schedule(self, *, by=None, **data):
        from changes.conflicts import freezes_for

        # Only an emergency change gets here inside a freeze that applies to it: record the warning.
        freezes = freezes_for(self)
        self.freeze_warning = (
            ("Scheduled inside freeze window(s): " + ", ".join(f.name for f in freezes)) if freezes else ""
        )

    @transition(
        field="status",
        source=S.SCHEDULED,
        target=S.IN_DEVELOPMENT,
        conditions=[is_normal],
        permission=permission("change.transition.develop"),
        custom={"label": "Start development"},
    )
    def start_development(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=S.IN_DEVELOPMENT,
        target=S.IN_TEST,
        permission=permission("change.transition.develop"),
        custom={"label": "Hand over to test"},
    )
    def hand_over_to_test(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=S.IN_TEST,
        target=S.TESTED,
        conditions=[has_test_evidence],
        permission=permission("change.transition.test"),
        custom={"label": "Pass tests", "duty": "test"},
    )
    def pass_tests(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=S.IN_TEST,
        target=S.IN_DEVELOPMENT,
        permission=permission("change.transition.test"),
        custom={"label": "Fail tests", "duty": "test", "form": ReasonForm},
    )
    def fail_tests(self, *, by=None, reason: str = "", **data):
        self.test_results = (self.test_results + "\n\nFailed: " + reason).strip()

    @transition(
        field="status",
        source=S.TESTED,
        target=S.READY,
        conditions=[readiness_go],
        permission=permission("change.transition.readiness"),
        custom={"label": "Ready for deployment", "form": ReasonForm, "gated_by": ReviewKind.RELEASE_READINESS},
    )
    def mark_ready(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=S.READY,
        target=S.IMPLEMENTING,
        permission=permission("change.transition.implement"),
        custom={"label": "Start implementation", "duty": "implement"},
    )
    def start_implementation(self, *, by=None, **data):
        self.actual_start = timezone.now()

    @transition(
        field="status",
        source=S.SCHEDULED,
        target=S.IMPLEMENTING,
        conditions=[skips_build_and_test],
        permission=permission("change.transition.implement"),
        custom={"label": "Start implementation", "duty": "implement"},
    )
    def implement_now(self, *, by=None, **data):
        self.actual_start = timezone.now()

    @transition(
        field="status",
        source=S.IMPLEMENTING,
        target=S.IMPLEMENTED,
        permission=permission("change.transition.implement"),
        custom={"label": "Complete", "duty": "implement", "form": CompleteForm},
    )
    def complete(self, *, by=None, outcome: str = Outcome.SUCCESSFUL, reason: str = "", **data):
        self.outcome = outcome
        self.actual_end = timezone.now()

    @transition(
        field="status",
        source=S.IMPLEMENTING,
        target=S.BACKED_OUT,
        permission=permission("change.transition.implement"),
        custom={"label": "Back out", "duty": "implement", "form": ReasonForm},
    )
    def back_out(self, *, by=None, reason: str = "", **data):
        self.outcome = Outcome.FAILED
        self.actual_end = timezone.now()

    @transition(
        field="status",
        source=[S.IMPLEMENTED, S.BACKED_OUT],
        target=S.CLOSED,
        conditions=[post_implementation_reviewed],
        permission=permission("change.transition.close"),
        custom={"label": "Close", "form": ReasonForm, "gated_by": ReviewKind.OPERATIONS},
    )
    def close(self, *, by=None, reason: str = "", **data):
        if reason:
            self.pir_notes = (self.pir_notes + "\n" + reason).strip()

    @transition(
        field="status",
        source=[
            S.DRAFT,
            S.SUBMITTED,
            S.ASSESSED,
            S.APPROVED,
            S.SCHEDULED,
            S.IN_DEVELOPMENT,
            S.IN_TEST,
            S.TESTED,
            S.READY,
        ],
        target=S.CANCELLED,
        permission=permission("change.transition.cancel"),
        custom={"label": "Cancel", "form": ReasonForm},
    )
    def cancel(self, *, by=None, reason: str = "", **data):
        self.decision_reason = reason


@condition("A template needs its implementation, backout and test plans.")
def template_has_plans(template) -> bool:
    return all(p.strip() for p in (template.implementation_plan, template.backout_plan, template.test_plan))


class StandardChangeTemplateWorkflow:
    """A template is itself a decision: approved at a Release Approved Review."""

    @transition(
        field="status",
        source=TemplateStatus.PROPOSED,
        target=TemplateStatus.APPROVED,
        conditions=[template_has_plans, review_gate.requires(ReviewKind.RELEASE_APPROVED, "approve")],
        permission=permission("changetemplate.transition.approve"),
        custom={"label": "Approve", "duty": "approve", "form": ReasonForm, "gated_by": ReviewKind.RELEASE_APPROVED},
    )
    def approve(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=[TemplateStatus.PROPOSED, TemplateStatus.APPROVED],
        target=TemplateStatus.RETIRED,
        permission=permission("changetemplate.transition.retire"),
        custom={"label": "Retire", "form": ReasonForm},
    )
    def retire(self, *, by=None, **data):
        pass


@condition("A release bundles at least one change.")
def release_has_changes(release) -> bool:
    return release.changes.exists()


@condition("Every change of the release must be tested.")
def release_changes_tested(release) -> bool:
    return not release.changes.exclude(status__in=[S.TESTED, S.READY]).exists()


@condition("Every artifact needs a version, a checksum and its location in the definitive software library.")
def release_artifacts_complete(release) -> bool:
    artifacts = list(release.artifacts.all())
    return bool(artifacts) and all(a.version and a.checksum and a.location for a in artifacts)


@condition("Awaiting a 'go' decision of the Release Readiness Review.")
def release_readiness_go(release) -> bool:
    return review_gate.requires(ReviewKind.RELEASE_READINESS, "go")(release)


@condition("Awaiting an 'accept' decision of the Operations Review.")
def release_operations_accepted(release) -> bool:
    return review_gate.requires(ReviewKind.OPERATIONS, "accept")(release)


class ReleaseWorkflow:
    @transition(
        field="status",
        source=RS.PLANNING,
        target=RS.BUILT,
        conditions=[release_has_changes, release_artifacts_complete],
        permission=permission("release.transition.manage"),
        custom={"label": "Mark built"},
    )
    def mark_built(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=RS.BUILT,
        target=RS.TESTED,
        conditions=[release_changes_tested],
        permission=permission("release.transition.manage"),
        custom={"label": "Mark tested"},
    )
    def mark_tested(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=RS.TESTED,
        target=RS.READY,
        conditions=[release_readiness_go],
        permission=permission("release.transition.readiness"),
        custom={"label": "Ready for deployment", "form": ReasonForm, "gated_by": ReviewKind.RELEASE_READINESS},
    )
    def mark_ready(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=RS.READY,
        target=RS.DEPLOYED,
        permission=permission("release.transition.manage"),
        custom={"label": "Deploy", "duty": "implement"},
    )
    def deploy(self, *, by=None, **data):
        self.deployed_at = timezone.now()

    @transition(
        field="status",
        source=RS.DEPLOYED,
        target=RS.CLOSED,
        conditions=[release_operations_accepted],
        permission=permission("release.transition.close"),
        custom={"label": "Close", "form": ReasonForm, "gated_by": ReviewKind.OPERATIONS},
    )
    def close(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=[RS.PLANNING, RS.BUILT, RS.TESTED, RS.READY],
        target=RS.CANCELLED,
        permission=permission("release.transition.manage"),
        custom={"label": "Cancel", "form": ReasonForm},
    )
    def cancel(self, *, by=None, **data):
        pass
