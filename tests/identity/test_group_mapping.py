"""Directory groups mapped onto the Team Model (mof.identity.services.apply_directory_groups)."""

import pytest

from mof.choices import RoleCluster
from mof.identity.models import DirectoryGrant, DirectoryGroupMapping
from mof.identity.services import apply_directory_groups, seed_mappings
from mof.models import AuditEntry, RoleAssignment, Team
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

SUPPORT_DN = "CN=Portal Support,OU=Groups,DC=corp,DC=example"


@pytest.fixture
def desk():
    return TeamFactory(name="Service desk", role_cluster=RoleCluster.SUPPORT)


@pytest.fixture
def support_mapping(desk):
    m = DirectoryGroupMapping.objects.create(group=SUPPORT_DN, roles=[RoleCluster.SUPPORT])
    m.teams.add(desk)
    return m


def test_group_grants_its_roles_and_teams_and_records_them_as_the_directorys(support_mapping, desk):
    user = UserFactory()
    changes = apply_directory_groups(user, ["cn=portal support, ou=groups,dc=corp,dc=example"], "ldap")
    assert set(changes.granted) == {"role Support", "team Service desk"}
    assert user.roles == {"support"} and list(desk.members.all()) == [user]
    assert set(DirectoryGrant.objects.filter(user=user).values_list("kind", flat=True)) == {"role", "team"}
    entry = AuditEntry.objects.get(model_label="mof.roleassignment", action="create")
    assert entry.via == "directory-ldap" and SUPPORT_DN in entry.reason


def test_a_mapping_by_cn_matches_the_groups_dn(desk):
    DirectoryGroupMapping.objects.create(group="Portal Support", roles=[RoleCluster.SUPPORT])
    user = UserFactory()
    apply_directory_groups(user, [SUPPORT_DN], "ldap")
    assert user.roles == {"support"}


def test_leaving_the_group_removes_what_the_directory_gave_with_an_audit_entry(support_mapping, desk):
    user = UserFactory()
    apply_directory_groups(user, [SUPPORT_DN], "ldap")
    changes = apply_directory_groups(user, [], "sync")
    assert set(changes.removed) == {"role Support", "team Service desk"}
    assert not RoleAssignment.objects.filter(user=user).exists() and not desk.members.exists()
    assert not DirectoryGrant.objects.filter(user=user).exists()
    deleted = AuditEntry.objects.get(model_label="mof.roleassignment", action="delete")
    assert deleted.via == "directory-sync"
    assert AuditEntry.objects.filter(model_label="mof.team", via="directory-sync").exists()


def test_roles_and_teams_set_by_hand_are_never_taken_away(support_mapping, desk):
    user = UserFactory(roles=[RoleCluster.SUPPORT, RoleCluster.SECURITY])
    other = TeamFactory(name="Firewall team")
    other.members.add(user)
    apply_directory_groups(user, [SUPPORT_DN], "ldap")  # support already held by hand: not the directory's
    assert not DirectoryGrant.objects.filter(user=user, kind="role").exists()
    apply_directory_groups(user, [], "ldap")
    user.forget_cached_memberships()
    assert user.roles == {"support", "security"}
    assert list(other.members.all()) == [user]
    assert not desk.members.exists()  # the team membership was the directory's


def test_manager_and_admin_flags_follow_the_group():
    DirectoryGroupMapping.objects.create(group="Portal Admins", is_manager=True, is_admin=True)
    user = UserFactory()
    apply_directory_groups(user, ["CN=Portal Admins,OU=Groups,DC=corp,DC=example"], "oidc")
    user.refresh_from_db()
    assert user.is_manager and user.is_staff and user.is_superuser
    apply_directory_groups(user, ["CN=Someone Else,OU=Groups,DC=corp,DC=example"], "oidc")
    user.refresh_from_db()
    assert not (user.is_manager or user.is_staff or user.is_superuser)
    assert AuditEntry.objects.filter(model_label="mof.user", object_id=str(user.pk), via="directory-oidc").count() == 2


def test_a_manager_set_by_hand_stays_a_manager():
    DirectoryGroupMapping.objects.create(group="Managers", is_manager=True)
    user = UserFactory(is_manager=True)
    apply_directory_groups(user, ["Managers"], "ldap")
    apply_directory_groups(user, [], "ldap")
    user.refresh_from_db()
    assert user.is_manager


def test_settings_seed_mappings_once_and_create_missing_teams():
    spec = {SUPPORT_DN: {"roles": ["support", "nonsense"], "teams": ["Second line"], "manager": False}}
    [m] = seed_mappings(spec)
    assert m.roles == ["support"] and m.from_settings
    assert Team.objects.get(name="Second line").role_cluster == "support"
    m.roles = ["operations"]
    m.save()
    assert seed_mappings({SUPPORT_DN.lower(): {"roles": ["support"]}}) == []  # the admin's edit stands
    m.refresh_from_db()
    assert m.roles == ["operations"]


def test_administrators_keep_the_mappings_in_the_admin_and_others_may_not(desk):
    from django.test import Client

    from tests.factories import AdminFactory, ManagerFactory

    admin_client = Client()
    admin_client.force_login(AdminFactory())
    response = admin_client.post(
        "/admin/identity/directorygroupmapping/add/",
        {
            "group": "CN=Portal Release,OU=Groups,DC=corp,DC=example",
            "description": "",
            "roles": ["release"],
            "teams": [desk.pk],
            "is_manager": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    mapping = DirectoryGroupMapping.objects.get(group__startswith="CN=Portal Release")
    assert mapping.roles == ["release"] and list(mapping.teams.all()) == [desk] and mapping.is_manager
    assert AuditEntry.objects.filter(
        model_label="identity.directorygroupmapping", action="create", via="admin"
    ).exists()
    manager_client = Client()
    manager_client.force_login(ManagerFactory(is_staff=True))
    assert manager_client.get("/admin/identity/directorygroupmapping/add/").status_code == 403
