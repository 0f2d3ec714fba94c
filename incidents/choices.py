from django.db import models


class IncidentStatus(models.TextChoices):
    NEW = "new", "New"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    ON_HOLD = "on_hold", "On hold"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATES = [IncidentStatus.NEW, IncidentStatus.ASSIGNED, IncidentStatus.IN_PROGRESS, IncidentStatus.ON_HOLD]


class Channel(models.TextChoices):
    PORTAL = "portal", "Portal"
    API = "api", "API"
    PHONE = "phone", "Phone"
    MONITORING = "monitoring", "Monitoring"
    EMAIL = "email", "E-mail"


class HoldReason(models.TextChoices):
    """The reasons that pause SLA clocks."""

    AWAITING_CALLER = "awaiting_caller", "Awaiting caller"
    AWAITING_VENDOR = "awaiting_vendor", "Awaiting vendor"
    AWAITING_CHANGE = "awaiting_change", "Awaiting change"


class Scale(models.IntegerChoices):
    """Impact and urgency: 1 is the highest."""

    HIGH = 1, "1 - High"
    MEDIUM = 2, "2 - Medium"
    LOW = 3, "3 - Low"


class ResolutionCode(models.TextChoices):
    FIXED = "fixed", "Fixed"
    WORKAROUND = "workaround", "Workaround applied"
    KNOWN_ERROR = "known_error", "Resolved by a known error's workaround"
    NO_FAULT = "no_fault", "No fault found"
    USER_ERROR = "user_error", "User error / advice given"
    CHANGE = "change", "Resolved by a change"


class CancelReason(models.TextChoices):
    DUPLICATE = "duplicate", "Duplicate"
    MISTAKE = "mistake", "Raised by mistake"


class NoteKind(models.TextChoices):
    WORK_NOTE = "work_note", "Work note (internal)"
    COMMENT = "comment", "Comment (visible to the caller)"


class ProblemStatus(models.TextChoices):
    NEW = "new", "New"
    INVESTIGATING = "investigating", "Investigating"
    KNOWN_ERROR = "known_error", "Known error"
    FIX_IN_PROGRESS = "fix_in_progress", "Fix in progress"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    CLOSED_NO_FIX = "closed_no_fix", "Closed, no fix planned"


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACCEPTED = "accepted", "Accepted"
    DISMISSED = "dismissed", "Dismissed"
