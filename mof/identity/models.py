"""Directory groups mapped onto the Team Model, what the directory granted, and the directory's
view of a person (where they come from, department, phone, manager)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mof.audit import AuditedModel
from mof.choices import RoleCluster


class Source(models.TextChoices):
    LDAP = "ldap", "Active Directory / LDAP sign-in"
    OIDC = "oidc", "OpenID Connect single sign-on"
    SYNC = "sync", "Directory sync"


def normalise_group(value: str) -> str:
    """A group's DN or name compared case- and spacing-insensitively:
    'CN=Portal Support, OU=Groups,DC=corp' == 'cn=portal support,ou=groups,dc=corp'."""
    return ",".join(part.strip() for part in str(value).strip().lower().split(","))


def group_keys(value: str) -> set[str]:
    """The keys a directory group is known by: its whole DN (or name) and, for a DN, its CN
    ('CN=Portal Support,OU=Groups,...' is matched by a mapping for 'Portal Support' too)."""
    full = normalise_group(value)
    keys = {full}
    first = full.split(",", 1)[0]
    if "=" in first and "," in full:
        keys.add(first.split("=", 1)[1].strip())
    return keys


class DirectoryGroupMapping(AuditedModel):
    """People in `group` (a directory group's DN, its CN, or the name or id an OpenID provider
    puts in the groups claim) get these role clusters, team memberships and flags; leaving
    the group takes away what the mapping gave, never what was set by hand."""

    group = models.CharField(
        max_length=500,
        unique=True,
        help_text="The group's distinguished name (CN=Portal Support,OU=Groups,DC=corp,DC=example), "
        "its CN (Portal Support), or the value the OpenID provider sends in the groups claim.",
    )
    roles = models.JSONField(default=list, blank=True, help_text="Role clusters its members get.")
    teams = models.ManyToManyField(
        "mof.Team",
        blank=True,
        related_name="directory_mappings",
        help_text="Teams (assignment groups) its members join.",
    )
    is_manager = models.BooleanField(
        default=False, verbose_name="managers", help_text="Its members are managers (chair reviews, approve)."
    )
    is_admin = models.BooleanField(
        default=False, verbose_name="administrators", help_text="Its members are administrators (staff and superuser)."
    )
    description = models.CharField(max_length=200, blank=True)
    from_settings = models.BooleanField(default=False, editable=False, help_text="Added from MOF_DIRECTORY_GROUP_MAP.")

    class Meta:
        ordering = ["group"]

    def __str__(self):
        return self.group

    def save(self, *args, **kwargs):
        self.group = self.group.strip()
        self.roles = sorted({r for r in self.roles or () if r in RoleCluster.values})
        super().save(*args, **kwargs)

    @property
    def key(self) -> str:
        return normalise_group(self.group)


class GrantKind(models.TextChoices):
    ROLE = "role", "Role cluster"
    TEAM = "team", "Team membership"
    MANAGER = "manager", "Manager flag"
    ADMIN = "admin", "Administrator flag"


class DirectoryGrant(models.Model):
    """What the directory gave a person (and may therefore take away). A role, team or flag the
    person had before the directory would have given it has no grant: it was set by hand and
    stays, whatever the groups say."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_grants")
    kind = models.CharField(max_length=10, choices=GrantKind.choices)
    value = models.CharField(max_length=64, blank=True, help_text="The role cluster or the team's id.")
    source = models.CharField(max_length=10, choices=Source.choices)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind", "value"], name="unique_directory_grant")]

    def __str__(self):
        return f"{self.user_id}: {self.kind} {self.value}"


class DirectoryProfile(AuditedModel):
    """A person known to the directory (LDAP) or an OpenID provider: where they come from and
    the profile attributes the portal's user has no field for."""

    audit_exclude = ("last_seen_at",)

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_profile")
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(max_length=500, blank=True, help_text="The LDAP DN, or the OpenID subject (sub).")
    department = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=64, blank=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    manager_dn = models.CharField(max_length=500, blank=True)
    groups = models.JSONField(default=list, blank=True, help_text="The directory groups at the last sign-in or sync.")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the directory disabled or removed the person (the sync deactivated them); "
        "cleared when the directory enables them again.",
    )

    class Meta:
        indexes = [models.Index(fields=["source", "external_id"], name="directoryprofile_ext_idx")]

    def __str__(self):
        return f"{self.user_id} ({self.source})"


class BreakGlassAccount(AuditedModel):
    """With MOF_LOCAL_LOGIN=break-glass only the administrators listed here may still sign in
    with a local password (when the directory or the identity provider is down)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="break_glass")
    reason = models.CharField(max_length=200, blank=True, help_text="Why this account keeps a local password.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "break-glass account"

    def __str__(self):
        return str(self.user)
