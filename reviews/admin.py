"""The admin shows meetings, agendas and votes read-only: decisions are taken in the
portal or through the API, where the review gate and the one door apply. Nothing here
can record a decision or move a subject."""

from django.contrib import admin

from mof.admin import ReadOnlyAdmin, ReadOnlyInline
from reviews.models import AgendaItem, Meeting, Vote


class AgendaItemInline(ReadOnlyInline):
    model = AgendaItem
    fields = ["position", "model_label", "object_id", "subject_repr", "state", "decision", "decided_by", "decided_at"]
    show_change_link = True


@admin.register(Meeting)
class MeetingAdmin(ReadOnlyAdmin):
    view_action = "review.view"
    list_display = ["id", "kind", "emergency", "scheduled_at", "chair", "state"]
    list_filter = ["kind", "state", "emergency"]
    inlines = [AgendaItemInline]


@admin.register(AgendaItem)
class AgendaItemAdmin(ReadOnlyAdmin):
    view_action = "review.view"
    list_display = ["meeting", "position", "model_label", "object_id", "state", "decision", "decided_by"]
    list_filter = ["state", "model_label"]


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    view_action = "review.view"
    list_display = ["item", "voter", "vote", "is_manager", "cast_at"]
