"""Navigation by MOF quadrant, for the base layout.

QUADRANTS is the one description of the MOF cycle the pages share: the home page draws
it, the landing pages list their SMFs from it and the menu is built from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mof.choices import ReviewKind


@dataclass(frozen=True)
class SMF:
    name: str
    summary: str
    links: tuple[tuple[str, str], ...] = ()  # (label, url name)


@dataclass(frozen=True)
class Quadrant:
    slug: str
    name: str
    url_name: str
    review: str  # a ReviewKind value
    purpose: str
    smfs: tuple[SMF, ...]
    prefixes: tuple[str, ...] = field(default=())

    @property
    def review_label(self) -> str:
        return ReviewKind(self.review).label


QUADRANTS: tuple[Quadrant, ...] = (
    Quadrant(
        slug="changing",
        name="Changing",
        url_name="changing",
        review=ReviewKind.RELEASE_READINESS,
        purpose="Bring new and changed IT services, software and infrastructure into production in a controlled way.",
        smfs=(
            SMF(
                "Change management",
                "Requests for change are recorded, assessed for risk and impact, approved and scheduled, so no change reaches production unseen.",
                (("Requests for change", "change_list"), ("Standard-change templates", "change_template_list")),
            ),
            SMF(
                "Configuration management",
                "The CMDB: configuration items, their classes, owners, lifecycle status and the dependencies between them, "
                "so that the impact of a change names every service it can touch.",
                (("Configuration items", "ci_list"), ("CI classes", "ci_class_list")),
            ),
            SMF(
                "Release management",
                "Releases are built, tested and deployed as a unit, and pass the Release Readiness Review before they reach production.",
                (("Releases", "release_list"),),
            ),
        ),
        prefixes=("/changing/", "/cmdb/cis/", "/cmdb/classes/", "/cmdb/relationships/"),
    ),
    Quadrant(
        slug="operating",
        name="Operating",
        url_name="operating",
        review=ReviewKind.OPERATIONS,
        purpose="Run the IT services day to day: administer, monitor and control them so they deliver what was agreed.",
        smfs=(
            SMF("System administration", "Day-to-day care of servers and the platforms the services run on."),
            SMF(
                "Security administration",
                "Accounts, permissions and the enforcement of security policy.",
                (
                    ("Service accounts", "service_account_list"),
                    ("My API tokens", "my_tokens"),
                    ("Login lockouts", "lockout_list"),
                ),
            ),
            SMF(
                "Directory services administration",
                "The directory the organisation's identities and resources live in.",
            ),
            SMF("Network administration", "Routers, switches, firewalls and the links between sites."),
            SMF(
                "Service monitoring and control",
                "Watch the IT services in the catalogue and the configuration items that deliver them.",
                (
                    ("IT services catalogue", "service_list"),
                    ("Parked monitoring events", "events_parked"),
                    ("Outbound webhooks (managers)", "webhook_list"),
                ),
            ),
            SMF(
                "Storage management",
                "Capacity, backup and restore of the data the services keep.",
                (("Backup coverage", "backup_coverage"),),
            ),
            SMF(
                "Job scheduling",
                "Batch work and changes run on time, in order, inside maintenance windows and outside change freezes.",
                (
                    ("Job schedule", "job_list"),
                    ("Change calendar", "operations_calendar"),
                    ("Freeze and maintenance windows", "operations_windows"),
                ),
            ),
        ),
        prefixes=("/operating/", "/cmdb/services/", "/integrations/"),
    ),
    Quadrant(
        slug="supporting",
        name="Supporting",
        url_name="supporting",
        review=ReviewKind.SLA,
        purpose="Restore service quickly when something fails, and remove the causes so it does not fail again.",
        smfs=(
            SMF(
                "Service desk",
                "The single point of contact for users of the IT services listed in the catalogue.",
                (("IT services catalogue", "service_list"),),
            ),
            SMF(
                "Incident management",
                "Restore normal service as quickly as possible and limit the impact on the business.",
            ),
            SMF("Problem management", "Find the root cause of incidents, record known errors and their workarounds."),
        ),
        prefixes=("/supporting/",),
    ),
    Quadrant(
        slug="optimizing",
        name="Optimizing",
        url_name="optimizing",
        review=ReviewKind.RELEASE_APPROVED,
        purpose="Keep cost, performance, capacity and availability in balance, and decide which changes are worth making.",
        smfs=(
            SMF(
                "Service level management",
                "Agree what each IT service delivers (criticality, hours of service) and measure it against the SLAs.",
                (("IT services catalogue", "service_list"),),
            ),
            SMF("Financial management", "What the IT services cost and who pays for them."),
            SMF("Capacity management", "Enough capacity, at the right time and cost, for today and what is planned."),
            SMF("Availability management", "Agreed service time less outage time: measured, reported and improved."),
            SMF("Workforce management", "People with the right skills in the right role clusters of the Team Model."),
            SMF(
                "Security management",
                "Risk to the services is assessed for probability and impact with the Risk Model, which decides how a change is approved.",
                (("Risk model matrix", "risk_matrix"),),
            ),
            SMF("Infrastructure management", "The plan for the infrastructure the services will need."),
        ),
        prefixes=("/optimizing/", "/risk/"),
    ),
)

REVIEWS: tuple[dict, ...] = (
    {
        "kind": ReviewKind.RELEASE_APPROVED,
        "after": "Optimizing",
        "question": "Approve or reject proposed changes: the Change Advisory Board (CAB); the emergency CAB for emergency changes.",
        "gates": "A change moves from assessed to approved or rejected.",
    },
    {
        "kind": ReviewKind.RELEASE_READINESS,
        "after": "Changing",
        "question": "Go / no-go before a release reaches production.",
        "gates": "A change or release moves from tested to ready for deployment.",
    },
    {
        "kind": ReviewKind.OPERATIONS,
        "after": "Operating",
        "question": "Is the release operating well? The post-implementation review and the operational health of the services.",
        "gates": "A change or release moves from implemented to closed.",
    },
    {
        "kind": ReviewKind.SLA,
        "after": "Supporting",
        "question": "Are we meeting the SLAs, and what must improve?",
        "gates": "An SLA moves from draft to active.",
    },
)


def quadrant(slug: str) -> Quadrant:
    return next(q for q in QUADRANTS if q.slug == slug)


def active_section(path: str) -> str:
    if path.startswith("/reviews/"):
        return "reviews"
    for q in QUADRANTS:
        if any(path.startswith(p) for p in q.prefixes):
            return q.slug
    return "home" if path == "/" else ""


def navigation(request):
    return {"nav_quadrants": QUADRANTS, "nav_active": active_section(getattr(request, "path", ""))}


def notifications(request):
    """The unread count for the header's badge: one indexed COUNT, run only when a page
    renders the badge (the value is computed on first use, then kept for the request)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cache = {}

    def unread():
        if "n" not in cache:
            from mof.notifications import unread_count

            cache["n"] = unread_count(user)
        return cache["n"]

    return {"notifications_unread": unread}
