"""Load the demo organisation: a messaging (Exchange 2007) shop run the MOF way.

Idempotent: a second run finds everything in place and writes nothing (no new audit
rows). Runs only with DEBUG on, because every demo login shares one known password
(settings.MOF_DEMO_PASSWORD).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from mof import audit, services
from mof.choices import CIStatus, Criticality, Environment, RelationshipType, RoleCluster
from mof.models import CIClass, CIRelationship, ConfigurationItem, Service, Team, User
from mof.transitions import perform_transition

DOMAIN = "contoso.example"

# username, first name, last name, role cluster (None: none), is_manager
PEOPLE = [
    ("manager", "Morgan", "Reyes", None, True),
    ("release", "Rita", "Lang", RoleCluster.RELEASE, False),
    ("infra", "Ivan", "Novak", RoleCluster.INFRASTRUCTURE, False),
    ("support", "Sam", "Okafor", RoleCluster.SUPPORT, False),
    ("operations", "Olga", "Berg", RoleCluster.OPERATIONS, False),
    ("partner", "Pat", "Fischer", RoleCluster.PARTNER, False),
    ("security", "Sean", "Walsh", RoleCluster.SECURITY, False),
]

TEAMS = [
    ("Release Management", RoleCluster.RELEASE, "release"),
    ("Infrastructure", RoleCluster.INFRASTRUCTURE, "infra"),
    ("Service Desk", RoleCluster.SUPPORT, "support"),
    ("Messaging Operations", RoleCluster.OPERATIONS, "operations"),
    ("Partners and Vendors", RoleCluster.PARTNER, "partner"),
    ("Security", RoleCluster.SECURITY, "security"),
]

MAIL = "Exchange mail"
AD = "Directory (Active Directory)"
OWA = "Outlook Web Access"
MOBILE = "Mobile mail (ActiveSync)"
SAN = "Storage (SAN)"

# name, owner, criticality, hours of service, description
SERVICES = [
    (
        MAIL,
        "operations",
        Criticality.CRITICAL,
        "24x7",
        "Internal and Internet e-mail for every employee (Exchange Server 2007).",
    ),
    (
        AD,
        "infra",
        Criticality.CRITICAL,
        "24x7",
        "Accounts, groups and the global catalog Exchange resolves recipients in.",
    ),
    (OWA, "operations", Criticality.HIGH, "24x7", "Mailbox access from a browser, inside and outside the company."),
    (MOBILE, "operations", Criticality.MEDIUM, "Mon-Fri 07:00-20:00", "Exchange ActiveSync for phones and tablets."),
    (
        SAN,
        "infra",
        Criticality.HIGH,
        "24x7",
        "Shared storage for the mailbox databases, their logs and the virtual machines.",
    ),
]

IN, PLANNED, RETIRED = CIStatus.IN_SERVICE, CIStatus.PLANNED, CIStatus.RETIRED

# name, class slug, owner, status, services, attributes, description
CIS = [
    (
        "edge-rtr-01",
        "network-device",
        "infra",
        IN,
        [MAIL, OWA, MOBILE],
        {"vendor": "Cisco", "model": "ASR 1001", "firmware": "15.2(4)S", "site": "London"},
        "Internet edge router, ISP A.",
    ),
    (
        "edge-rtr-02",
        "network-device",
        "infra",
        IN,
        [MAIL, OWA, MOBILE],
        {"vendor": "Cisco", "model": "ASR 1001", "firmware": "15.2(4)S", "site": "London"},
        "Internet edge router, ISP B.",
    ),
    (
        "core-rtr-01",
        "network-device",
        "infra",
        IN,
        [],
        {"vendor": "Cisco", "model": "Catalyst 6509", "firmware": "12.2(33)SXI", "site": "London"},
        "Core router: every server VLAN routes through it.",
    ),
    (
        "fw-perimeter-01",
        "firewall",
        "security",
        IN,
        [],
        {"vendor": "Check Point", "model": "UTM-1 570", "rulebase": "perimeter-2026.11"},
        "Perimeter firewall between the Internet edge and the DMZ/core.",
    ),
    (
        "fw-internal-01",
        "firewall",
        "security",
        IN,
        [],
        {"vendor": "Check Point", "model": "UTM-1 570", "rulebase": "internal-2026.11"},
        "Internal firewall in front of the server VLANs (SMTP 25, MAPI/RPC, LDAP).",
    ),
    (
        "EX-HUB-01",
        "server",
        "operations",
        IN,
        [MAIL],
        {"exchange_role": "Hub Transport", "version": "Exchange 2007 SP3", "os": "Windows Server 2008 R2"},
        "Hub Transport: routes all mail inside the organisation and to the Internet.",
    ),
    (
        "EX-HUB-02",
        "server",
        "operations",
        IN,
        [MAIL],
        {"exchange_role": "Hub Transport", "version": "Exchange 2007 SP3", "os": "Windows Server 2008 R2"},
        "Hub Transport, second server of the site.",
    ),
    (
        "EX-MBX-01",
        "mailbox-server",
        "operations",
        IN,
        [MAIL, OWA, MOBILE],
        {"exchange_role": "Mailbox", "version": "Exchange 2007 SP3", "cluster": "CCR-A", "storage_groups": 20},
        "Mailbox server (CCR active node).",
    ),
    (
        "EX-MBX-02",
        "mailbox-server",
        "operations",
        IN,
        [MAIL, OWA, MOBILE],
        {"exchange_role": "Mailbox", "version": "Exchange 2007 SP3", "cluster": "CCR-A", "storage_groups": 20},
        "Mailbox server (CCR passive node).",
    ),
    (
        "EX-MBX-03",
        "mailbox-server",
        "operations",
        PLANNED,
        [MAIL],
        {"exchange_role": "Mailbox", "version": "Exchange 2007 SP3", "cluster": "CCR-B"},
        "Planned: consolidation of mailbox servers (MSF project), awaiting release.",
    ),
    (
        "EX-CAS-01",
        "server",
        "operations",
        IN,
        [OWA, MOBILE],
        {"exchange_role": "Client Access", "version": "Exchange 2007 SP3"},
        "Client Access server (OWA, ActiveSync, Autodiscover).",
    ),
    (
        "EX-CAS-02",
        "server",
        "operations",
        IN,
        [OWA, MOBILE],
        {"exchange_role": "Client Access", "version": "Exchange 2007 SP3"},
        "Client Access server, second of the array.",
    ),
    (
        "Outlook Web Access",
        "application",
        "operations",
        IN,
        [OWA],
        {"url": "https://mail.contoso.example/owa"},
        "OWA virtual directory on the Client Access servers.",
    ),
    (
        "Exchange ActiveSync",
        "application",
        "operations",
        IN,
        [MOBILE],
        {"url": "https://mail.contoso.example/Microsoft-Server-ActiveSync"},
        "ActiveSync virtual directory.",
    ),
    (
        "DC-01",
        "directory-service",
        "infra",
        IN,
        [AD, MAIL],
        {
            "roles": ["domain controller", "global catalog", "DNS"],
            "os": "Windows Server 2008 R2",
            "fsmo": ["PDC", "RID"],
        },
        "Domain controller and global catalog, London.",
    ),
    (
        "DC-02",
        "directory-service",
        "infra",
        IN,
        [AD, MAIL],
        {"roles": ["domain controller", "global catalog", "DNS"], "os": "Windows Server 2008 R2"},
        "Domain controller and global catalog, London.",
    ),
    (
        "DNS-01",
        "server",
        "infra",
        IN,
        [AD, MAIL, OWA, MOBILE],
        {"role": "external DNS", "zones": ["contoso.example"]},
        "External DNS: MX and mail.contoso.example records.",
    ),
    (
        "SAN-01",
        "storage",
        "infra",
        IN,
        [SAN],
        {"vendor": "EMC", "model": "CLARiiON CX4-240", "raw_tb": 40},
        "Storage array for Exchange and the virtual machines.",
    ),
    (
        "SAN-01-LUN-MBXDB",
        "storage",
        "infra",
        IN,
        [SAN, MAIL],
        {"lun": 10, "size_gb": 2048, "raid": "RAID 10"},
        "LUN holding the mailbox databases.",
    ),
    (
        "SAN-01-LUN-LOGS",
        "storage",
        "infra",
        IN,
        [SAN, MAIL],
        {"lun": 11, "size_gb": 512, "raid": "RAID 1"},
        "LUN holding the transaction logs.",
    ),
    (
        "SAN-01-LUN-VM",
        "storage",
        "infra",
        IN,
        [SAN],
        {"lun": 20, "size_gb": 4096, "raid": "RAID 5"},
        "LUN holding the virtual machine datastore.",
    ),
    (
        "BACKUP-01",
        "server",
        "operations",
        IN,
        [MAIL],
        {"software": "Data Protection Manager 2007", "schedule": "nightly 01:00"},
        "Backup server for the mailbox databases.",
    ),
    (
        "VMHOST-01",
        "server",
        "infra",
        IN,
        [],
        {"hypervisor": "Hyper-V", "os": "Windows Server 2008 R2", "ram_gb": 128},
        "Virtualisation host.",
    ),
    (
        "VM-EDGE-01",
        "virtual-machine",
        "operations",
        IN,
        [MAIL],
        {"exchange_role": "Edge Transport", "version": "Exchange 2007 SP3", "network": "DMZ"},
        "Edge Transport in the DMZ: anti-spam, Internet SMTP.",
    ),
    (
        "VM-MONITOR-01",
        "virtual-machine",
        "operations",
        PLANNED,
        [],
        {"software": "System Center Operations Manager 2007 R2"},
        "Planned: monitoring server (Service Monitoring and Control).",
    ),
    (
        "EX2003-BE-01",
        "mailbox-server",
        "operations",
        RETIRED,
        [],
        {"version": "Exchange Server 2003 SP2"},
        "Former Exchange 2003 back-end server, migrated to Exchange 2007.",
    ),
]

RETIRE_REASONS = {"EX2003-BE-01": "Mailboxes migrated to Exchange 2007; server decommissioned."}

D, R, C, H = (
    RelationshipType.DEPENDS_ON,
    RelationshipType.RUNS_ON,
    RelationshipType.CONNECTS_TO,
    RelationshipType.HOSTED_BY,
)

# source, type, target: "the source <type> the target"
RELATIONSHIPS = [
    ("edge-rtr-01", C, "core-rtr-01"),
    ("edge-rtr-02", C, "core-rtr-01"),
    ("fw-perimeter-01", C, "edge-rtr-01"),
    ("fw-perimeter-01", C, "edge-rtr-02"),
    ("fw-perimeter-01", C, "core-rtr-01"),
    ("fw-internal-01", C, "core-rtr-01"),
    ("VM-EDGE-01", D, "fw-perimeter-01"),
    ("VM-EDGE-01", H, "VMHOST-01"),
    ("EX-HUB-01", D, "fw-internal-01"),
    ("EX-HUB-02", D, "fw-internal-01"),
    ("EX-HUB-01", D, "DC-01"),
    ("EX-HUB-02", D, "DC-02"),
    ("EX-HUB-01", D, "VM-EDGE-01"),
    ("EX-HUB-02", D, "VM-EDGE-01"),
    ("EX-MBX-01", D, "SAN-01-LUN-MBXDB"),
    ("EX-MBX-01", D, "SAN-01-LUN-LOGS"),
    ("EX-MBX-02", D, "SAN-01-LUN-MBXDB"),
    ("EX-MBX-02", D, "SAN-01-LUN-LOGS"),
    ("EX-MBX-03", D, "SAN-01-LUN-MBXDB"),
    ("EX-MBX-01", D, "DC-01"),
    ("EX-MBX-01", D, "DC-02"),
    ("EX-MBX-02", D, "DC-01"),
    ("EX-MBX-02", D, "DC-02"),
    ("EX-MBX-01", D, "EX-HUB-01"),
    ("EX-MBX-02", D, "EX-HUB-02"),
    ("EX-MBX-01", D, "fw-internal-01"),
    ("EX-MBX-02", D, "fw-internal-01"),
    ("EX-CAS-01", D, "EX-MBX-01"),
    ("EX-CAS-01", D, "EX-MBX-02"),
    ("EX-CAS-02", D, "EX-MBX-01"),
    ("EX-CAS-02", D, "EX-MBX-02"),
    ("EX-CAS-01", D, "DC-01"),
    ("EX-CAS-02", D, "DC-02"),
    ("EX-CAS-01", D, "fw-perimeter-01"),
    ("EX-CAS-02", D, "fw-perimeter-01"),
    ("Outlook Web Access", R, "EX-CAS-01"),
    ("Outlook Web Access", R, "EX-CAS-02"),
    ("Exchange ActiveSync", R, "EX-CAS-01"),
    ("Exchange ActiveSync", R, "EX-CAS-02"),
    ("DC-01", C, "core-rtr-01"),
    ("DC-02", C, "core-rtr-01"),
    ("DNS-01", D, "fw-perimeter-01"),
    ("EX-HUB-01", D, "DNS-01"),
    ("EX-HUB-02", D, "DNS-01"),
    ("SAN-01-LUN-MBXDB", H, "SAN-01"),
    ("SAN-01-LUN-LOGS", H, "SAN-01"),
    ("SAN-01-LUN-VM", H, "SAN-01"),
    ("VMHOST-01", D, "SAN-01-LUN-VM"),
    ("VM-MONITOR-01", H, "VMHOST-01"),
    ("BACKUP-01", D, "EX-MBX-01"),
    ("BACKUP-01", D, "EX-MBX-02"),
    ("BACKUP-01", D, "SAN-01"),
    ("BACKUP-01", C, "core-rtr-01"),
]


class Command(BaseCommand):
    help = "Load the demo organisation (DEBUG only). Safe to run again: changes nothing the second time."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo runs only with DEBUG on: the demo logins share a published password.")
        self.password = settings.MOF_DEMO_PASSWORD
        self.changed = 0
        with audit.acting_as(None, via="seed"), transaction.atomic():
            admin = self.ensure_admin()
            users = {"admin": admin}
            for username, first, last, role, is_manager in PEOPLE:
                users[username] = self.ensure_user(admin, username, first, last, role, is_manager)
            manager = users["manager"]
            for name, cluster, member in TEAMS:
                self.ensure_team(admin, name, cluster, manager, users[member])
            svc = {}
            for name, owner, criticality, hours, description in SERVICES:
                svc[name] = self.ensure_service(manager, name, users[owner], criticality, hours, description)
            classes = {c.slug: c for c in CIClass.objects.all()}
            cis = {}
            for name, slug, owner, _status, services_, attributes, description in CIS:
                cis[name] = self.ensure_ci(
                    manager, name, classes[slug], users[owner], [svc[s] for s in services_], attributes, description
                )
            for source, type_, target in RELATIONSHIPS:
                self.ensure_relationship(manager, cis[source], cis[target], type_)
            for name, _slug, _owner, status, *_rest in CIS:
                self.ensure_status(manager, cis[name], status)
        self.print_logins(users)

    # --- people -------------------------------------------------------------------

    def ensure_admin(self) -> User:
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            admin = User.objects.create_superuser(
                "admin", f"admin@{DOMAIN}", self.password, first_name="Ada", last_name="Admin"
            )
            self.changed += 1
        elif not admin.check_password(self.password):
            admin.set_password(self.password)
            admin.save(update_fields=["password"])
            self.changed += 1
        return admin

    def ensure_user(self, admin, username, first, last, role, is_manager) -> User:
        fields = {
            "email": f"{username}@{DOMAIN}",
            "first_name": first,
            "last_name": last,
            "is_manager": is_manager,
            "is_active": True,
        }
        roles = [role] if role else []
        user = User.objects.filter(username=username).first()
        if user is None:
            self.changed += 1
            return services.user_provision(
                actor=admin, username=username, password=self.password, roles=roles, **fields
            )
        differing = {k: v for k, v in fields.items() if getattr(user, k) != v}
        roles_differ = set(user.roles) != set(roles)
        password = None if user.check_password(self.password) else self.password
        if differing or roles_differ or password:
            self.changed += 1
            user = services.user_update(
                actor=admin, user=user, password=password, roles=roles if roles_differ else None, **differing
            )
        return user

    def ensure_team(self, admin, name, cluster, manager, member) -> Team:
        team = Team.objects.filter(name=name).first()
        if team is None:
            self.changed += 1
            return services.team_create(actor=admin, name=name, role_cluster=cluster, manager=manager, members=[member])
        if not team.members.filter(pk=member.pk).exists():
            self.changed += 1
            with audit.acting_as(admin):
                team.members.add(member)
        return team

    # --- IT services and the CMDB -------------------------------------------------

    def ensure_service(self, actor, name, owner, criticality, hours, description) -> Service:
        fields = {"owner": owner, "criticality": criticality, "hours_of_service": hours, "description": description}
        service = Service.objects.filter(name=name).first()
        if service is None:
            self.changed += 1
            return services.service_create(actor=actor, name=name, **fields)
        differing = {k: v for k, v in fields.items() if getattr(service, k) != v}
        if differing:
            self.changed += 1
            service = services.service_update(actor=actor, service=service, **differing)
        return service

    def ensure_ci(self, actor, name, ci_class, owner, services_, attributes, description) -> ConfigurationItem:
        fields = {
            "ci_class": ci_class,
            "owner": owner,
            "environment": Environment.PRODUCTION,
            "attributes": attributes,
            "description": description,
        }
        ci = ConfigurationItem.objects.filter(name=name).first()
        if ci is None:
            self.changed += 1
            return services.ci_create(actor=actor, name=name, services=services_, **fields)
        differing = {k: v for k, v in fields.items() if getattr(ci, k) != v}
        wanted = {s.pk for s in services_}
        services_differ = set(ci.services.values_list("pk", flat=True)) != wanted
        if differing or services_differ:
            self.changed += 1
            ci = services.ci_update(actor=actor, ci=ci, services=services_ if services_differ else None, **differing)
        return ci

    def ensure_relationship(self, actor, source, target, type_):
        if not CIRelationship.objects.filter(source=source, target=target, type=type_).exists():
            self.changed += 1
            services.relationship_create(actor=actor, source=source, target=target, type=type_)

    def ensure_status(self, actor, ci, status):
        if ci.status == status:
            return
        if status == IN and ci.status == PLANNED:
            self.changed += 1
            perform_transition(model=ConfigurationItem, pk=ci.pk, name="commission", actor=actor, notify=False)
        elif status == RETIRED:
            self.changed += 1
            perform_transition(
                model=ConfigurationItem,
                pk=ci.pk,
                name="retire",
                actor=actor,
                data={"reason": RETIRE_REASONS.get(ci.name, "Retired.")},
                notify=False,
            )
        # A CI someone moved elsewhere by hand (e.g. retired a planned one) is left alone.

    # --- output -------------------------------------------------------------------

    def print_logins(self, users):
        self.stdout.write(
            self.style.SUCCESS("Demo data loaded.") if self.changed else "Demo data already in place: nothing changed."
        )
        rows = [("admin", "administrator (superuser)")]
        for username, _first, _last, role, is_manager in PEOPLE:
            rows.append(
                (username, "manager (chairs reviews)" if is_manager else f"{RoleCluster(role).label} role cluster")
            )
        width = max(len(u) for u, _ in rows)
        role_width = max(len(r) for _, r in rows)
        self.stdout.write("")
        self.stdout.write(f"  {'username'.ljust(width)}  {'role'.ljust(role_width)}  password")
        self.stdout.write(f"  {'-' * width}  {'-' * role_width}  {'-' * len(self.password)}")
        for username, role in rows:
            self.stdout.write(f"  {username.ljust(width)}  {role.ljust(role_width)}  {self.password}")
        self.stdout.write("")
