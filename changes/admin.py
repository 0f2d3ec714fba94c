"""The Changing quadrant in the admin: a maintenance tool that passes the same doors.

State and the impact/approval snapshot are read-only; every write goes through
changes.services (so separation of duties and the field rules of each state apply), and
the only transitions offered are actions that call the one door (mof.transitions),
so the review gate holds: no admin page or action can approve a change that no review
(or, on the change-manager path, no change manager other than its requester) decided.
Who may do what is asked of mof.policy (mof.admin.PolicyAdmin)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from changes import selectors, services
from changes.choices import ChangeStatus, ReleaseStatus, TemplateStatus
from changes.models import ChangeComment, Release, ReleaseArtifact, RequestForChange, StandardChangeTemplate
from mof import policy
from mof.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceLayerAdmin, error_messages
from mof.transitions import (
    ConcurrentTransition,
    TransitionBlocked,
    TransitionNotAllowed,
    TransitionUnknown,
    perform_transition,
)

# --- requests for change --------------------------------------------------------------

SNAPSHOT_FIELDS = [
    "number",
    "status",
    "type",
    "template",
    "requester",
    "approval_path",
    "approved_by",
    "approved_at",
    "decision_reason",
    "risk_assessment",
    "affected_services",
    "impacted_ci_ids",
    "impact_analysed_at",
    "actual_start",
    "actual_end",
    "outcome",
    "freeze_warning",
    "created_at",
    "updated_at",
]
BEFORE_APPROVAL = (ChangeStatus.DRAFT, ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED)


def editable_fields(change) -> set[str]:
    """What changes.services lets change in the change's state (type is chosen on filing)."""
    if change.status in BEFORE_APPROVAL:
        return (set(services.CHANGE_FIELDS) - {"type"}) | {"affected_cis", "test_environment"}
    return set(services.FIELDS_AFTER_APPROVAL) | {"test_environment"}


def _transition_action(name, label, reason=""):
    def action(modeladmin, request, queryset):
        done = 0
        for change in queryset:
            data = {"reason": reason or f"{label} in the administration"} if reason is not None else {}
            try:
                perform_transition(model=RequestForChange, pk=change.pk, name=name, actor=request.user, data=data)
                done += 1
            except TransitionBlocked as exc:
                modeladmin.message_user(request, f"{change.reference}: blocked: {exc}", messages.WARNING)
            except (TransitionNotAllowed, ConcurrentTransition, TransitionUnknown):
                modeladmin.message_user(
                    request, f"{change.reference}: not possible from {change.get_status_display()}.", messages.WARNING
                )
            except PermissionDenied as exc:
                modeladmin.message_user(request, f"{change.reference}: refused: {exc}", messages.WARNING)
            except ValidationError as exc:
                modeladmin.message_user(
                    request, f"{change.reference}: " + " ".join(error_messages(exc)), messages.WARNING
                )
        if done:
            modeladmin.message_user(request, f"{label}: {done} change(s).", messages.SUCCESS)

    action.__name__ = f"{name}_selected"
    return admin.action(description=f"{label} (through the review gate and separation of duties)")(action)


@admin.register(RequestForChange)
class RequestForChangeAdmin(ServiceLayerAdmin):
    view_action = "change.view"
    change_action = "change.change"
    list_display = [
        "reference",
        "title",
        "type",
        "status",
        "approval_path",
        "requester",
        "change_manager",
        "planned_start",
    ]
    list_filter = ["status", "type", "approval_path"]
    list_select_related = ["requester", "change_manager"]
    search_fields = ["title"]
    ordering = ["-number"]
    raw_id_fields = ["change_manager", "developer", "tester", "implementer", "affected_cis", "test_environment"]
    actions = [
        _transition_action("submit", "Submit", reason=None),
        _transition_action("approve", "Approve"),
        _transition_action("cancel", "Cancel"),
    ]

    def reference(self, obj):
        return obj.reference

    reference.admin_order_field = "number"

    def has_add_permission(self, request):
        return False  # changes are filed in the portal or the API, from a form that names the requester

    def get_queryset(self, request):
        return selectors.visible_changes(request.user, super().get_queryset(request))

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return SNAPSHOT_FIELDS
        allowed = editable_fields(obj)
        others = [
            f.name
            for f in RequestForChange._meta.get_fields()
            if f.concrete and not f.auto_created and f.name not in allowed
        ]
        return list(dict.fromkeys(SNAPSHOT_FIELDS + others))

    def save_model(self, request, obj, form, change):
        stored = RequestForChange.objects.get(pk=obj.pk)
        allowed = editable_fields(stored)
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in allowed}
        services.change_update(actor=request.user, change=stored, **fields)

    def save_related(self, request, form, formsets, change):
        pass  # the many-to-many fields were saved by change_update in save_model


@admin.register(ChangeComment)
class ChangeCommentAdmin(ReadOnlyAdmin):
    view_action = "change.view"
    list_display = ["change", "author", "created_at"]
    list_select_related = ["change", "author"]
    search_fields = ["body"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(change__in=selectors.visible_changes(request.user))

    def has_view_permission(self, request, obj=None):
        return policy.can(request.user, "change.view", obj.change if obj is not None else None) or policy.is_internal(
            request.user
        )


# --- standard-change templates ----------------------------------------------------------


@admin.register(StandardChangeTemplate)
class StandardChangeTemplateAdmin(ServiceLayerAdmin):
    view_action = "changetemplate.view"
    add_action = "changetemplate.add"
    list_display = ["reference", "name", "status", "owner", "risk_probability", "risk_impact"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["number", "status", "owner", "created_at"]

    def reference(self, obj):
        return obj.reference

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != TemplateStatus.PROPOSED:
            return False  # an approved template is changed by proposing a new one
        return (
            policy.can(request.user, "changetemplate.change", obj)
            if obj is not None
            else policy.can(request.user, "changetemplate.add")
        )

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.TEMPLATE_FIELDS if name in form.cleaned_data}
        if change:
            services.template_update(
                actor=request.user, template=StandardChangeTemplate.objects.get(pk=obj.pk), **fields
            )
        else:
            self.adopt(obj, services.template_create(actor=request.user, **fields))


# --- releases and the definitive software library ---------------------------------------


class ReleaseArtifactInline(ReadOnlyInline):
    """The artifacts recorded: a master-copy record is never edited or removed here."""

    model = ReleaseArtifact
    fields = ["name", "version", "checksum", "location"]

    def has_view_permission(self, request, obj=None):
        return policy.can(request.user, "release.view", obj)


class NewReleaseArtifactInline(admin.TabularInline):
    """Add artifacts while the release is planned; each goes through changes.services.artifact_add."""

    model = ReleaseArtifact
    fields = ["name", "version", "checksum", "location"]
    extra = 1
    can_delete = False
    verbose_name = "new artifact"
    verbose_name_plural = "add artifacts (definitive software library)"

    def get_queryset(self, request):
        return super().get_queryset(request).none()

    def has_add_permission(self, request, obj=None):
        return (
            obj is not None and obj.status == ReleaseStatus.PLANNING and policy.can(request.user, "release.change", obj)
        )

    def has_change_permission(self, request, obj=None):
        return self.has_add_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        return self.has_add_permission(request, obj)


@admin.register(Release)
class ReleaseAdmin(ServiceLayerAdmin):
    view_action = "release.view"
    add_action = "release.add"
    change_action = "release.change"
    list_display = ["reference", "name", "status", "release_manager", "planned_start"]
    list_filter = ["status"]
    list_select_related = ["release_manager"]
    search_fields = ["name"]
    raw_id_fields = ["changes"]
    readonly_fields = ["number", "status", "release_manager", "deployed_at", "created_at"]
    inlines = [ReleaseArtifactInline, NewReleaseArtifactInline]

    def reference(self, obj):
        return obj.reference

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status not in (ReleaseStatus.PLANNING, ReleaseStatus.BUILT):
            return self.readonly_fields + ["name", "description", "planned_start", "planned_end", "changes"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.RELEASE_FIELDS if name in form.cleaned_data}
        changes = form.cleaned_data.get("changes")
        if change:
            release = Release.objects.get(pk=obj.pk)
            services.release_update(
                actor=request.user, release=release, changes=None if changes is None else list(changes), **fields
            )
        else:
            self.adopt(obj, services.release_create(actor=request.user, changes=list(changes or ()), **fields))

    def save_related(self, request, form, formsets, change):
        release = Release.objects.get(pk=form.instance.pk)
        for formset in formsets:
            # Not formset.save(): each new artifact goes through the service; nothing else is written.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if formset.model is not ReleaseArtifact:
                continue
            for artifact_form in formset.forms:
                if artifact_form.has_changed() and artifact_form.cleaned_data and not artifact_form.instance.pk:
                    data = {k: artifact_form.cleaned_data[k] for k in ("name", "version", "checksum", "location")}
                    formset.new_objects.append(services.artifact_add(actor=request.user, release=release, **data))
