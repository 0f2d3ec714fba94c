from django.db import models


class ChangeType(models.TextChoices):
    STANDARD = "standard", "Standard"
    NORMAL = "normal", "Normal"
    EMERGENCY = "emergency", "Emergency"


class ChangeStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    ASSESSED = "assessed", "Assessed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SCHEDULED = "scheduled", "Scheduled"
    IN_DEVELOPMENT = "in_development", "In development"
    IN_TEST = "in_test", "In test"
    TESTED = "tested", "Tested"
    READY = "ready_for_deployment", "Ready for deployment"
    IMPLEMENTING = "implementing", "Implementing"
    IMPLEMENTED = "implemented", "Implemented"
    BACKED_OUT = "backed_out", "Backed out"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_BEFORE_IMPLEMENTATION = [
    ChangeStatus.DRAFT,
    ChangeStatus.SUBMITTED,
    ChangeStatus.ASSESSED,
    ChangeStatus.APPROVED,
    ChangeStatus.SCHEDULED,
    ChangeStatus.IN_DEVELOPMENT,
    ChangeStatus.IN_TEST,
    ChangeStatus.TESTED,
    ChangeStatus.READY,
]


class ApprovalPath(models.TextChoices):
    """Decided by the risk level when the change is assessed (MOF Risk Model)."""

    PRE_APPROVED = "pre_approved", "Pre-approved standard change"
    CHANGE_MANAGER = "change_manager", "Change manager"
    CAB = "cab", "CAB (Release Approved Review)"
    CAB_QUORUM = "cab_quorum", "CAB with a quorum of managers"
    EMERGENCY_CAB = "emergency_cab", "Emergency CAB"


class Outcome(models.TextChoices):
    SUCCESSFUL = "successful", "Successful"
    SUCCESSFUL_WITH_ISSUES = "successful_with_issues", "Successful with issues"
    FAILED = "failed", "Failed, backed out"


class TemplateStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    RETIRED = "retired", "Retired"


class ReleaseStatus(models.TextChoices):
    PLANNING = "planning", "Planning"
    BUILT = "built", "Built"
    TESTED = "tested", "Tested"
    READY = "ready_for_deployment", "Ready for deployment"
    DEPLOYED = "deployed", "Deployed"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"
