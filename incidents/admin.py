"""The Supporting quadrant in the admin: a maintenance tool that passes the same doors.

State is read-only; incidents and problems are edited only through incidents.services
(field rules, the assignee-in-group rule, the reason for a functional escalation, the
priority matrix); transitions are actions that call mof.transitions.perform_transition
(permission, conditions, audit). Notes, communications and proposals are read-only: a
work note is never rewritten after the fact, a proposal is decided on its page. Nothing
is deleted here (the audit trail would lose what it speaks of). Who may do what is asked
of mof.policy (mof.admin.PolicyAdmin)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from incidents import selectors, services
from incidents.models import (
    InboundMessage,
    Incident,
    IncidentNote,
    KnownError,
    MailboxCursor,
    MajorIncidentUpdate,
    PriorityRule,
    Problem,
    ProblemProposal,
    SavedFilter,
)
from mof import audit, policy
from mof.admin import PolicyAdmin, ReadOnlyAdmin, ReadOnlyInline, ServiceLayerAdmin
from mof.transitions import (
    ConcurrentTransition,
    TransitionBlocked,
    TransitionNotAllowed,
    TransitionUnknown,
    perform_transition,
)


class ServiceAdmin(ServiceLayerAdmin):
    """Saves through a service; nothing in the service desk is deleted."""

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


def _transition_action(model, name, label, data=None):
    def action(modeladmin, request, queryset):
        done = 0
        for obj in queryset:
            try:
                perform_transition(model=model, pk=obj.pk, name=name, actor=request.user, data=dict(data or {}))
                done += 1
            except TransitionBlocked as exc:
                modeladmin.message_user(
                    request, f"{obj.reference}: blocked: {'; '.join(exc.reasons)}", messages.WARNING
                )
            except (TransitionNotAllowed, ConcurrentTransition, TransitionUnknown):
                modeladmin.message_user(
                    request, f"{obj.reference}: not possible from {obj.get_status_display()}.", messages.WARNING
                )
            except PermissionDenied as exc:
                modeladmin.message_user(request, f"{obj.reference}: refused: {exc}", messages.WARNING)
        if done:
            modeladmin.message_user(request, f"{label}: {done} done.", messages.SUCCESS)

    action.__name__ = f"{name}_selected"
    return admin.action(description=f"{label} (through the lifecycle's rules)")(action)


INCIDENT_READ_ONLY = [
    "number",
    "caller",
    "status",
    "priority",
    "hold_reason",
    "resolution_code",
    "resolution_notes",
    "resolved_at",
    "closed_at",
    "reopen_count",
    "is_major",
    "major_incident_manager",
    "parent",
    "problem",
    "created_at",
    "updated_at",
]


class IncidentNoteInline(ReadOnlyInline):
    model = IncidentNote
    fields = ["created_at", "author", "kind", "body"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("author")
        return qs if policy.can(request.user, "incident.read_work_notes") else qs.filter(kind="comment")


@admin.register(Incident)
class IncidentAdmin(ServiceAdmin):
    view_action = "incident.view"
    change_action = "incident.change"
    list_display = ["reference", "title", "status", "priority", "assignment_group", "assignee", "caller", "created_at"]
    list_filter = ["status", "priority", "channel", "is_major"]
    list_select_related = ["assignment_group", "assignee", "caller"]
    search_fields = ["title"]
    ordering = ["-number"]
    raw_id_fields = [
        "service",
        "assignment_group",
        "assignee",
        "affected_cis",
        "related_incidents",
        "related_changes",
        "known_error",
    ]
    readonly_fields = INCIDENT_READ_ONLY
    inlines = [IncidentNoteInline]
    actions = [
        _transition_action(Incident, "start_work", "Start work"),
        _transition_action(Incident, "resume", "Resume"),
        _transition_action(Incident, "close", "Close"),
    ]

    def reference(self, obj):
        return obj.reference

    reference.admin_order_field = "number"

    def has_add_permission(self, request):
        return False  # filed in the portal or the API, where the caller is named

    def get_queryset(self, request):
        return selectors.visible_incidents(request.user, super().get_queryset(request))

    def save_model(self, request, obj, form, change):
        stored = Incident.objects.get(pk=obj.pk)
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in services.DESK_FIELDS}
        services.incident_update(actor=request.user, incident=stored, reason="edited in the administration", **fields)

    def save_related(self, request, form, formsets, change):
        for formset in formsets:  # the notes inline is read-only: nothing to save
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        incident = form.instance
        if "affected_cis" in form.changed_data:
            services.incident_update(
                actor=request.user,
                incident=Incident.objects.get(pk=incident.pk),
                affected_cis=form.cleaned_data["affected_cis"],
            )
        for name in ("related_incidents", "related_changes"):
            if name in form.changed_data:
                with audit.acting_as(request.user):
                    getattr(incident, name).set(form.cleaned_data[name])


PROBLEM_READ_ONLY = [
    "number",
    "status",
    "known_error_published_at",
    "resolved_at",
    "closure_reason",
    "created_at",
    "updated_at",
]


@admin.register(Problem)
class ProblemAdmin(ServiceAdmin):
    view_action = "problem.view"
    add_action = "problem.add"
    change_action = "problem.change"
    list_display = ["reference", "title", "status", "problem_manager", "created_at"]
    list_filter = ["status"]
    list_select_related = ["problem_manager"]
    search_fields = ["title"]
    ordering = ["-number"]
    raw_id_fields = ["problem_manager", "services", "affected_cis", "fixing_changes"]
    readonly_fields = PROBLEM_READ_ONLY
    actions = [
        _transition_action(Problem, "investigate", "Investigate"),
        _transition_action(Problem, "publish_known_error", "Publish known error"),
        _transition_action(Problem, "start_fix", "Fix in progress"),
        _transition_action(Problem, "close", "Close"),
    ]  # never "resolve": the fixing change closing drives it

    def reference(self, obj):
        return obj.reference

    reference.admin_order_field = "number"

    def has_change_permission(self, request, obj=None):
        return policy.can(request.user, "problem.change", obj)

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.PROBLEM_FIELDS if name in form.cleaned_data}
        if change:
            services.problem_update(actor=request.user, problem=Problem.objects.get(pk=obj.pk), **fields)
        else:
            saved = services.problem_create(actor=request.user, **fields)
            obj.pk, obj.number = saved.pk, saved.number
            obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        m2m = {
            name: form.cleaned_data[name]
            for name in ("services", "affected_cis", "fixing_changes")
            if name in form.cleaned_data
        }
        services.problem_update(actor=request.user, problem=Problem.objects.get(pk=form.instance.pk), **m2m)


@admin.register(KnownError)
class KnownErrorAdmin(ReadOnlyAdmin):
    """Published from a problem (its root cause and workaround): edit the problem instead."""

    view_action = "knownerror.view"
    list_display = ["title", "problem", "active", "published_at"]
    list_filter = ["active"]
    list_select_related = ["problem"]
    search_fields = ["title", "symptoms", "workaround"]


@admin.register(IncidentNote)
class IncidentNoteAdmin(ReadOnlyAdmin):
    view_action = "incident.read_work_notes"
    list_display = ["incident", "kind", "author", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["incident", "author"]


@admin.register(MajorIncidentUpdate)
class MajorIncidentUpdateAdmin(ReadOnlyAdmin):
    view_action = "incident.read_work_notes"
    list_display = ["incident", "author", "created_at", "sent_at"]
    list_select_related = ["incident", "author"]


@admin.register(ProblemProposal)
class ProblemProposalAdmin(ReadOnlyAdmin):
    view_action = "problem.view"
    list_display = ["__str__", "scope", "incident_count", "status", "decided_by", "created_at"]
    list_filter = ["status", "scope"]
    list_select_related = ["ci", "service", "decided_by"]


@admin.register(PriorityRule)
class PriorityRuleAdmin(PolicyAdmin):
    """The matrix cells: managers change a priority; the cells themselves stay nine."""

    view_action = "incident.view"
    change_action = "priority.configure"
    list_display = ["impact", "urgency", "priority"]
    list_editable = ["priority"]
    readonly_fields = ["impact", "urgency"]

    def save_model(self, request, obj, form, change):
        with audit.acting_as(request.user, reason="priority matrix edited in the administration"):
            super().save_model(request, obj, form, change)


@admin.register(SavedFilter)
class SavedFilterAdmin(ReadOnlyAdmin):
    view_action = "incident.bulk"
    list_display = ["name", "user", "querystring"]
    list_select_related = ["user"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    """Mail into the service desk (incidents.mailbox): what came in and what became of it.
    Parked mail is decided on its page (Supporting › Mail to the service desk)."""

    view_action = "inbound_mail.view"
    list_display = ["received_at", "from_address", "subject", "outcome", "reason", "incident", "mailbox"]
    list_filter = ["outcome", "mailbox"]
    list_select_related = ["incident"]
    search_fields = ["from_address", "subject", "message_id"]
    exclude = ["raw"]
    raw_id_fields = ["sender", "incident", "note", "change", "decided_by"]


@admin.register(MailboxCursor)
class MailboxCursorAdmin(ReadOnlyAdmin):
    """How far the IMAP poller has read each folder (engine-owned)."""

    view_action = "inbound_mail.view"
    list_display = ["mailbox", "uidvalidity", "last_uid", "polled_at"]
