"""Admin of the identity app: who may do what is asked of mof.policy (administrators provision
people, so they keep the group mappings and the break-glass list)."""

from django import forms
from django.contrib import admin

from mof.admin import PolicyAdmin
from mof.choices import RoleCluster
from mof.identity.models import BreakGlassAccount, DirectoryGroupMapping, DirectoryProfile


class DirectoryGroupMappingForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(choices=RoleCluster.choices, required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = DirectoryGroupMapping
        fields = ["group", "description", "roles", "teams", "is_manager", "is_admin"]


@admin.register(DirectoryGroupMapping)
class DirectoryGroupMappingAdmin(PolicyAdmin):
    view_action = "user.view_all"
    add_action = change_action = delete_action = "user.provision"
    form = DirectoryGroupMappingForm
    list_display = ["group", "role_list", "team_list", "is_manager", "is_admin", "from_settings"]
    search_fields = ["group", "description"]
    filter_horizontal = ["teams"]

    @admin.display(description="Role clusters")
    def role_list(self, obj):
        return ", ".join(RoleCluster(r).label for r in obj.roles)

    @admin.display(description="Teams")
    def team_list(self, obj):
        return ", ".join(t.name for t in obj.teams.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("teams")


@admin.register(DirectoryProfile)
class DirectoryProfileAdmin(PolicyAdmin):
    """Read-only: the directory writes these (sign-in and sync)."""

    view_action = "user.view_all"
    list_display = ["user", "source", "department", "phone", "manager", "last_seen_at", "deactivated_at"]
    list_filter = ["source"]
    search_fields = ["user__username", "external_id", "department"]


@admin.register(BreakGlassAccount)
class BreakGlassAccountAdmin(PolicyAdmin):
    view_action = "user.view_all"
    add_action = change_action = delete_action = "user.provision"
    list_display = ["user", "reason", "created_at"]
    raw_id_fields = ["user"]
