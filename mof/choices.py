from django.db import models


class RoleCluster(models.TextChoices):
    """MOF Team Model role clusters."""

    RELEASE = "release", "Release"
    INFRASTRUCTURE = "infrastructure", "Infrastructure"
    SUPPORT = "support", "Support"
    OPERATIONS = "operations", "Operations"
    PARTNER = "partner", "Partner"
    SECURITY = "security", "Security"


class Criticality(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Environment(models.TextChoices):
    PRODUCTION = "production", "Production"
    STAGING = "staging", "Staging"
    TEST = "test", "Test"
    DEVELOPMENT = "development", "Development"
    DISASTER_RECOVERY = "dr", "Disaster recovery"


class CIStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_SERVICE = "in_service", "In service"
    RETIRED = "retired", "Retired"


class RelationshipType(models.TextChoices):
    """Directed: the source <type> the target (web server 'runs on' VM)."""

    DEPENDS_ON = "depends_on", "depends on"
    RUNS_ON = "runs_on", "runs on"
    CONNECTS_TO = "connects_to", "connects to"
    HOSTED_BY = "hosted_by", "hosted by"


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class ReviewKind(models.TextChoices):
    """The four MOF review milestones."""

    RELEASE_APPROVED = "release_approved", "Release Approved Review"
    RELEASE_READINESS = "release_readiness", "Release Readiness Review"
    OPERATIONS = "operations", "Operations Review"
    SLA = "sla", "SLA Review"


class AuditAction(models.TextChoices):
    CREATE = "create", "created"
    UPDATE = "update", "updated"
    DELETE = "delete", "deleted"
    TRANSITION = "transition", "transition"
    REFUSED = "refused", "refused"
    LOGIN_FAILED = "login_failed", "failed login"
