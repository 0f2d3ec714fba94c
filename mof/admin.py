"""The admin: a maintenance tool that passes the same doors as pages and API.
State is read-only here; transitions go through mof.transitions; the audit trail
can be read, never changed; who may do what is asked of mof.policy."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

from mof import audit, deletion, policy
from mof.models import (
    Attachment,
    AuditEntry,
    CIClass,
    CIRelationship,
    ConfigurationItem,
    OutgoingMail,
    ReviewDecisionRecord,
    RiskAssessment,
    RiskThreshold,
    RoleAssignment,
    SeparationRule,
    Service,
    Team,
    User,
)
from mof.pagination import BoundedPaginator
from mof.transitions import TransitionBlocked, TransitionNotAllowed, perform_transition


class KeepsHistoryAdmin:
    """The admin's delete, of one object or of those selected, refuses anything with history
    (mof.deletion): the reason is listed as what blocks it, and nothing is deleted."""

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for obj in objs:
            refused = deletion.refusal(obj)
            if refused is not None:
                protected.append(str(refused))
        return deleted, counts, perms_needed, protected


class PolicyAdmin(KeepsHistoryAdmin, admin.ModelAdmin):
    """Admin permissions from mof.policy: view/add/change/delete actions per model."""

    paginator = BoundedPaginator
    show_full_result_count = False  # never COUNT(*) a huge table

    view_action = "ci.view"
    add_action = change_action = delete_action = None

    def _can(self, request, action, obj=None):
        return bool(action) and policy.can(request.user, action, obj)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self._can(request, self.view_action, obj) or self.has_change_permission(request, obj)

    def has_add_permission(self, request):
        return self._can(request, self.add_action)

    def has_change_permission(self, request, obj=None):
        return self._can(request, self.change_action, obj)

    def has_delete_permission(self, request, obj=None):
        return self._can(request, self.delete_action, obj)


def error_messages(exc: ValidationError) -> list[str]:
    """A service's ValidationError as lines for an admin message."""
    if hasattr(exc, "error_dict"):
        return [
            f"{field}: {m}" if field != "__all__" else m for field, errors in exc.message_dict.items() for m in errors
        ]
    return list(exc.messages)


class ServiceLayerAdmin(PolicyAdmin):
    """Saves through a service; a refusal of the service is shown as a message, nothing written."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            with audit.refusals_survive_rollback():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, "Not saved: " + " ".join(error_messages(exc)), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @staticmethod
    def adopt(obj, saved):
        """Let the admin's own bookkeeping (log entry, redirect) see the saved record."""
        obj.pk = saved.pk
        obj.number = getattr(saved, "number", None)
        obj._state.adding = False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown on their parent's page, never added, changed or removed there."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 1


@admin.register(User)
class UserAdmin(KeepsHistoryAdmin, DjangoUserAdmin):
    inlines = [RoleAssignmentInline]
    list_display = ["username", "email", "first_name", "last_name", "is_manager", "is_active", "is_superuser"]
    list_filter = ["is_manager", "is_active", "is_superuser", "role_assignments__role"]
    fieldsets = DjangoUserAdmin.fieldsets + (("MOF Team Model", {"fields": ["is_manager"]}),)

    def has_module_permission(self, request):
        return policy.can(request.user, "user.provision")

    has_view_permission = has_add_permission = lambda self, request, obj=None: policy.can(
        request.user, "user.provision"
    )
    has_change_permission = has_delete_permission = has_view_permission


@admin.register(Team)
class TeamAdmin(PolicyAdmin):
    view_action = "user.view_all"
    add_action = change_action = delete_action = "user.provision"
    list_display = ["name", "role_cluster", "manager"]
    filter_horizontal = ["members"]


@admin.register(Service)
class ServiceAdmin(PolicyAdmin):
    view_action = "service.view"
    add_action = "service.add"
    change_action = "service.change"
    delete_action = "service.delete"
    list_display = ["name", "criticality", "owner", "hours_of_service"]
    search_fields = ["name"]


@admin.register(CIClass)
class CIClassAdmin(PolicyAdmin):
    add_action = change_action = "ciclass.add"
    list_display = ["name", "slug", "builtin"]
    prepopulated_fields = {"slug": ["name"]}

    def has_delete_permission(self, request, obj=None):
        return obj is not None and not obj.builtin and policy.can(request.user, "ciclass.add")


@admin.action(description="Put selected CIs into service (through the transition service)")
def commission_selected(modeladmin, request, queryset):
    _transition_selected(modeladmin, request, queryset, "commission")


def _transition_selected(modeladmin, request, queryset, name):
    done = 0
    for ci in queryset:
        try:
            perform_transition(model=ConfigurationItem, pk=ci.pk, name=name, actor=request.user)
            done += 1
        except (TransitionBlocked, TransitionNotAllowed, policy.Refused) as exc:
            modeladmin.message_user(request, f"{ci}: {exc}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{done} CI(s) moved.", messages.SUCCESS)


@admin.register(ConfigurationItem)
class ConfigurationItemAdmin(PolicyAdmin):
    view_action = "ci.view"
    add_action = "ci.add"
    change_action = "ci.change"
    delete_action = "ci.delete"
    list_display = ["name", "ci_class", "status", "environment", "owner"]
    list_filter = ["status", "environment", "ci_class"]
    search_fields = ["name"]
    readonly_fields = ["status", "retired_reason", "created_at", "updated_at"]
    raw_id_fields = ["owner"]
    filter_horizontal = ["services"]
    actions = [commission_selected]

    def get_queryset(self, request):
        return policy.visible_cis(request.user, super().get_queryset(request))


@admin.register(CIRelationship)
class CIRelationshipAdmin(PolicyAdmin):
    view_action = "ci.view"
    list_display = ["source", "type", "target"]
    raw_id_fields = ["source", "target"]

    def has_add_permission(self, request):
        return policy.can(request.user, "ci.add")

    def has_change_permission(self, request, obj=None):
        return (
            obj is None
            and policy.can(request.user, "ci.add")
            or obj is not None
            and policy.can(request.user, "relationship.add", obj)
        )

    has_delete_permission = has_change_permission


@admin.register(RiskThreshold)
class RiskThresholdAdmin(PolicyAdmin):
    view_action = "risk.assess"
    add_action = change_action = delete_action = "risk.configure"
    list_display = ["level", "min_score"]


@admin.register(RiskAssessment)
class RiskAssessmentAdmin(PolicyAdmin):
    view_action = "risk.assess"
    list_display = ["id", "level", "score", "probability", "impact", "assessed_by", "assessed_at"]
    readonly_fields = ["score", "level"]


@admin.register(SeparationRule)
class SeparationRuleAdmin(PolicyAdmin):
    view_action = add_action = change_action = delete_action = "separation.configure"
    list_display = ["name", "model_label", "transitions", "duty", "party", "include_teams", "active"]


class ReadOnlyAdmin(PolicyAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    view_action = "audit.view_security"
    list_display = ["at", "actor_name", "via", "action", "model_label", "object_id", "object_repr", "transition"]
    list_filter = ["action", "via", "model_label"]
    search_fields = ["object_repr", "actor_name"]


@admin.register(OutgoingMail)
class OutgoingMailAdmin(ReadOnlyAdmin):
    """The notification outbox: what was sent to whom, what waits, what failed (engine-owned)."""

    view_action = "audit.view_security"  # mail bodies carry people's tickets: admins and Security
    list_display = ["created_at", "kind", "to_email", "subject", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind"]
    search_fields = ["to_email", "subject", "message_id"]
    raw_id_fields = ["recipient"]


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    """Files on tickets, for admins and Security: what, where, by whom (downloads go through
    the ticket's page, with its visibility rules)."""

    view_action = "audit.view_security"
    list_display = [
        "uploaded_at",
        "name",
        "ticket_type",
        "ticket_id",
        "size",
        "content_type",
        "internal",
        "uploaded_by",
    ]
    list_filter = ["ticket_type", "internal", "content_type"]
    search_fields = ["name", "sha256"]
    raw_id_fields = ["uploaded_by"]
    exclude = ["file"]


@admin.register(ReviewDecisionRecord)
class ReviewDecisionRecordAdmin(ReadOnlyAdmin):
    view_action = "review.decide"
    list_display = ["decided_at", "kind", "model_label", "object_id", "decision", "decided_by"]


# --- Security administration: API tokens and login lockouts ------------------------

from mof import lockout, tokens
from mof.forms_accounts import LockoutAdminAuthenticationForm
from mof.models import ApiToken, LoginLockout

# The admin's sign-in honours login lockout like the login page and the API.
admin.site.login_form = LockoutAdminAuthenticationForm


@admin.action(description="Revoke the selected tokens now")
def revoke_selected(modeladmin, request, queryset):
    done = 0
    for token in queryset.select_related("user"):
        try:
            tokens.token_revoke(actor=request.user, token=token)
            done += 1
        except policy.Refused as exc:
            modeladmin.message_user(request, f"{token}: {exc}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{done} token(s) revoked.", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are issued on the service account pages (the key is shown once there); here
    they can be found and revoked."""

    view_action = "service_account.manage"
    list_display = ["prefix", "name", "user", "scope", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", "user__is_service_account"]
    search_fields = ["prefix", "name", "user__username"]
    list_select_related = ["user"]
    exclude = ["digest"]
    actions = [revoke_selected]

    def has_change_permission(self, request, obj=None):
        return obj is None and policy.can(request.user, "service_account.manage")  # the revoke action only


@admin.action(description="Clear the selected lockouts (sign-in allowed again)")
def clear_selected(modeladmin, request, queryset):
    for row in queryset:
        lockout.lockout_clear(actor=request.user, lockout=row)
    modeladmin.message_user(request, "Lockout(s) cleared.", messages.SUCCESS)


@admin.register(LoginLockout)
class LoginLockoutAdmin(ReadOnlyAdmin):
    view_action = "lockout.view"
    list_display = [
        "kind",
        "key",
        "address",
        "failures",
        "last_failure_at",
        "locked_until",
        "times_locked",
        "last_success_at",
    ]
    list_filter = ["kind"]
    search_fields = ["key", "address"]
    actions = [clear_selected]

    def has_change_permission(self, request, obj=None):
        return obj is None and policy.can(request.user, "lockout.clear")  # the clear action only
