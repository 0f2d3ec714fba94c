from django.db import models


class MeetingState(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_SESSION = "in_session", "In session"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATES = (MeetingState.PLANNED, MeetingState.IN_SESSION)


class ItemState(models.TextChoices):
    PENDING = "pending", "Pending"
    DECIDED = "decided", "Decided"
    DEFERRED = "deferred", "Deferred"
