"""MOF Portal settings. Everything comes from environment variables (see .env.example)."""

import os
from email.utils import parseaddr
from pathlib import Path

from mof.config import base_url, email_settings, env_bool, env_list
from mof.dbconfig import databases
from mof.storage import storage_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MOF_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    # Development only: never used with DEBUG off.
    SECRET_KEY = "dev-insecure-mof-portal-key-do-not-use-in-production-0123456789"
# With DEBUG off and no SECRET_KEY, the web server, the worker and beat refuse to start
# (mof.config.require_secret_key) and `check --deploy` fails; migrations still run.

# Where people reach the portal: every link in a mail or a webhook body starts with it
# (mof.links.absolute_url). Required with DEBUG off; http://127.0.0.1:8000 with DEBUG on.
MOF_BASE_URL = base_url(os.environ.get("MOF_BASE_URL", ""), debug=DEBUG)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "django_htmx",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "mof",
    "mof.identity",
    "changes",
    "operations",
    "incidents",
    "slas",
    "reviews",
    "integrations",
]

MIDDLEWARE = [
    # First: every answer, a redirect or a 500 too, carries the request id (mof.request_log).
    "mof.request_log.RequestIdMiddleware",
    # Counts and times every request by its URL pattern (/metrics).
    "mof.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files before anything else touches the request (sessions, CSRF, the database).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mof.csp.ContentSecurityPolicyMiddleware",
    # /healthz, /readyz, /metrics: answered here, before the host check (mof.probes).
    "mof.probes.ProbeMiddleware",
    # After a write, this browser's reads stay on the primary for a few seconds (mof.db_router).
    "mof.db_router.ReadYourWritesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "mof.query_guard.NulInQueryMiddleware",  # a NUL in a page parameter: 400, not a 500 from PostgreSQL
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "mof.audit.AuditActorMiddleware",
    # DEBUG on: the portal's 404 and 500 pages instead of Django's technical ones.
    "mof.views_errors.StyledErrorPagesMiddleware",
]
CSRF_FAILURE_VIEW = "mof.views_errors.csrf_failure"

ROOT_URLCONF = "mof.urls"
WSGI_APPLICATION = "mof.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mof.context_processors.navigation",
                "mof.context_processors.notifications",
            ],
        },
    },
]

# The primary (DATABASE_URL), an optional read replica (DATABASE_REPLICA_URL) for the reads
# that may lag (mof.db_router), Django's connection pool (DATABASE_POOL) or PgBouncer
# transaction pooling (DATABASE_PGBOUNCER): mof.dbconfig.
DATABASES = databases(default_url=f"sqlite:///{VAR_DIR / 'mof.sqlite3'}")
DATABASE_ROUTERS = ["mof.db_router.ReplicaRouter"]
# With a replica: how long after a write a browser keeps reading from the primary (longer
# than the replica's usual lag).
MOF_REPLICA_STICKY_SECONDS = int(os.environ.get("MOF_REPLICA_STICKY_SECONDS", "15"))
# PostgreSQL in production: `manage.py migrate` connects as the role that owns the schema;
# after every migrate it grants this role (the one in the running portal's DATABASE_URL,
# owning nothing) only what the portal needs: the audit trail and the SLA event log it may
# read and add to, never change or empty (mof.dbroles). Empty: no grants (one role, or SQLite).
MOF_DB_RUNTIME_ROLE = os.environ.get("MOF_DB_RUNTIME_ROLE", "").strip()
# Folder of pg_dump / pg_restore for backup_database and restore_database. Empty: those of the
# server's major version (/usr/lib/postgresql/<major>/bin on Debian), else the ones on PATH.
MOF_PG_BIN_DIR = os.environ.get("MOF_PG_BIN_DIR", "").strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "mof.User"
# Service accounts cannot sign in with a password (mof.auth_backends).
AUTHENTICATION_BACKENDS = ["mof.auth_backends.PortalBackend"]
# Directory sign-in (mof.identity): Active Directory / LDAP when LDAP_SERVER_URI is set, tried
# before local passwords. MOF_DIRECTORY_GROUP_MAP seeds the group mappings (JSON, see README).
from mof.identity.config import group_map, ldap_settings  # noqa: E402

globals().update(ldap_settings(os.environ))
if MOF_LDAP_ENABLED:  # noqa: F821 - set by ldap_settings
    AUTHENTICATION_BACKENDS = ["mof.identity.ldap_backend.DirectoryBackend", *AUTHENTICATION_BACKENDS]
MOF_DIRECTORY_GROUP_MAP = group_map(os.environ.get("MOF_DIRECTORY_GROUP_MAP"))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# With DEBUG off the web process serves STATIC_ROOT itself (WhiteNoise): `collectstatic`
# (run when the image is built) writes every file under a content-hashed name, with .gz
# and .br copies, and those names are cached for a year. Pages then need that manifest:
# with DEBUG off and no `collectstatic`, a page naming a static file is a 500. With DEBUG
# on (make run, the tests) files are found in place under their plain names.
# The files the portal writes (backups stored with --to-storage): a folder, or an S3-compatible
# bucket with MOF_STORAGE=s3 (mof.storage: AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL...).
STORAGES = {
    "default": storage_settings(os.environ, VAR_DIR, "files"),
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
    # Files attached to incidents, problems and changes (mof.attachments): the same store, in
    # their own folder (or prefix in the bucket).
    "attachments": storage_settings(os.environ, VAR_DIR, "attachments"),
}
# With DEBUG on, WhiteNoise finds files in place at each request (fixed here: the test runner
# turns settings.DEBUG off after the settings are read, and STATIC_ROOT is not collected then).
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS = DEBUG

# E-mail: SMTP in production, files under var/ for `make run`.
EMAIL_URL = os.environ.get("EMAIL_URL") or f"file://{VAR_DIR / 'mail'}"
globals().update(email_settings(EMAIL_URL))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "mof-portal@localhost")
# Who is mailed each unhandled error (with DEBUG off), comma-separated: "Ops <ops@example.org>, b@example.org".
ADMINS = [parseaddr(address) for address in env_list("ADMINS")]
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
# Notification outbox (mof.notifications): attempts per mail before it is marked failed (retried
# after BACKOFF, 2xBACKOFF, 4xBACKOFF... seconds), and days sent mail is kept.
MOF_MAIL_MAX_ATTEMPTS = int(os.environ.get("MOF_MAIL_MAX_ATTEMPTS", "10"))
MOF_MAIL_BACKOFF_SECONDS = int(os.environ.get("MOF_MAIL_BACKOFF_SECONDS", "60"))
MOF_MAIL_RETENTION_DAYS = int(os.environ.get("MOF_MAIL_RETENTION_DAYS", "30"))

# Cache: holds the API rate-limit counters, so it must be shared by every server process.
# Redis in production (CACHE_URL or REDIS_URL, e.g. redis://redis:6379/1); files under
# var/cache by default (shared by the processes of one machine, no server needed).
CACHE_URL = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL") or f"file://{VAR_DIR / 'cache'}"
# A cache outage degrades, never fails (mof.cache): short socket timeouts (0.25 s to connect,
# 0.5 s per command; a CACHE_URL's own ?socket_connect_timeout=&socket_timeout= win), and
# after a failure Redis is left alone for MOF_CACHE_RETRY_SECONDS (rate limits are counted
# per process meanwhile).
MOF_CACHE_RETRY_SECONDS = float(os.environ.get("MOF_CACHE_RETRY_SECONDS", "5"))
CACHE_REDIS_OPTIONS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    # Django's Redis backend, reusing its client and failing fast (mof.cache).
    CACHES = {
        "default": {
            "BACKEND": "mof.cache.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "mof",
            "OPTIONS": dict(CACHE_REDIS_OPTIONS),
        }
    }
elif CACHE_URL.startswith("file://"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": CACHE_URL[len("file://") :],
        }
    }
elif CACHE_URL.startswith("locmem://"):  # one process only (tests)
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "mof"}}
else:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"CACHE_URL {CACHE_URL!r}: use redis://, rediss://, unix://, file:// or locmem://")

# Celery: Redis in production and CI; kombu's filesystem transport (no server) by default.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat (`bin/portal beat` runs mof.beat_scheduler.HeartbeatScheduler): of several beats only the
# one holding a lease in the shared Redis cache schedules (mof.beat_lease); a standby takes over
# within this many seconds of the holder's death (at once when it stops).
MOF_BEAT_LEASE_SECONDS = float(os.environ.get("MOF_BEAT_LEASE_SECONDS", "30"))
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Task time limits (seconds): past the soft limit a task gets SoftTimeLimitExceeded, past the
# hard one its worker process is killed. The batch tasks get the long pair (a recompute chunk
# or a sweep batch takes seconds: the limit only stops one that hangs), every other task the
# default pair.
CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT = 270, 300
LONG_TASK_SOFT_TIME_LIMIT, LONG_TASK_TIME_LIMIT = 540, 600
LONG_TASKS = (
    "slas.sweep",
    "slas.recompute_plan",
    "slas.recompute_chunk",
    "slas.capacity_forecast",
    "operations.events_purge",
    "operations.jobs_check",
    "operations.jobs_refresh",
    "incidents.close_resolved",
    "incidents.propose_problems",
    "integrations.relay_pending",
    "integrations.relay_outbox",
    "mof.send_outgoing_mail",
    "incidents.poll_mailbox",
    "incidents.inbound_mail_purge",
)
CELERY_TASK_ANNOTATIONS = {
    name: {"soft_time_limit": LONG_TASK_SOFT_TIME_LIMIT, "time_limit": LONG_TASK_TIME_LIMIT} for name in LONG_TASKS
}
# Redis broker: a message a worker took and never acknowledged (the worker was SIGKILLed, ran
# out of memory, lost its host) is handed out again after the visibility timeout (kombu's
# default: an hour). Just above the longest hard limit, so a task still running is never
# handed out twice, and a dead worker's tasks wait 11 minutes, not an hour. Tasks queued with
# a countdown must stay below it too (else they run twice): the longest are the webhook
# retries, MOF_WEBHOOK_BACKOFF_SECONDS * 2 ** (MOF_WEBHOOK_MAX_ATTEMPTS - 2) = 480 s by default.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "redis+socket://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": LONG_TASK_TIME_LIMIT + 60}
# Queues: each kind of work has its own, so a flood of one (webhook deliveries, a recomputation,
# mail) never holds up another; above all the SLA sweep, which has a queue to itself that a
# dedicated worker can take (`celery -A mof worker -Q sla`). A worker started without -Q
# consumes every queue below (Celery's default with CELERY_TASK_QUEUES), so one worker still
# does everything. Every task is routed by name (tests/core/test_task_queues.py fails for one
# that is not); `celery` is the default queue, and where messages queued before the split wait.
MOF_TASK_QUEUES = {
    "sla": ("slas.sweep", "slas.send_clock_notification"),
    "webhooks": (
        "integrations.relay_outbox",
        "integrations.relay_event",
        "integrations.relay_events",
        "integrations.relay_pending",
        "integrations.deliver",
    ),
    "mail": (
        "mof.send_outgoing_mail",
        "mof.notify_transition",
        "incidents.notify",
        "incidents.send_major_update",
        "changes.notify_stakeholders",
        "reviews.notify_agenda_published",
        "reviews.notify_decision",
        "integrations.send_disabled_notice",
        "incidents.poll_mailbox",
        "integrations.send_disabled_notice",
        "mof.send_notification_digest",
    ),
    "recompute": ("slas.recompute_plan", "slas.recompute_chunk"),
    "batch": (
        "slas.capacity_forecast",
        "operations.events_purge",
        "operations.jobs_refresh",
        "incidents.close_resolved",
        "incidents.propose_problems",
        "mof.lockouts_prune",
        "identity.sync_directory",
        "incidents.inbound_mail_purge",
    ),
    "celery": ("operations.freeze_clock", "operations.jobs_check", "mof.heartbeat"),
}
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {name: {"exchange": name, "routing_key": name} for name in MOF_TASK_QUEUES}
CELERY_TASK_ROUTES = {task: {"queue": queue} for queue, tasks in MOF_TASK_QUEUES.items() for task in tasks}

# Readiness (/readyz, `manage.py readiness`; mof.health): seconds each check may take, how
# old the worker's heartbeat (the mof.heartbeat task beat queues every minute) and beat's
# record of queueing it may be, and the webhook outbox and notification mail backlogs at
# which the portal is not ready.
# The daily notification digest (mof.notifications.send_digests) goes out at this hour, local time.
MOF_NOTIFICATION_DIGEST_HOUR = int(os.environ.get("MOF_NOTIFICATION_DIGEST_HOUR", "7"))
# In-portal notifications (/notifications/) are kept this many days.
MOF_NOTIFICATION_RETENTION_DAYS = int(os.environ.get("MOF_NOTIFICATION_RETENTION_DAYS", "90"))
MOF_READY_TIMEOUT_SECONDS = float(os.environ.get("MOF_READY_TIMEOUT_SECONDS", "2"))
MOF_READY_WORKER_MAX_AGE = int(os.environ.get("MOF_READY_WORKER_MAX_AGE", "180"))
MOF_READY_BEAT_MAX_AGE = int(os.environ.get("MOF_READY_BEAT_MAX_AGE", "300"))
MOF_READY_OUTBOX_MAX = int(os.environ.get("MOF_READY_OUTBOX_MAX", "1000"))
MOF_READY_MAIL_MAX = int(os.environ.get("MOF_READY_MAIL_MAX", "1000"))
# Prometheus metrics at /metrics (mof.metrics): served to a caller sending
# "Authorization: Bearer <MOF_METRICS_TOKEN>" or connecting from one of
# MOF_METRICS_ALLOWED_NETWORKS (comma-separated CIDRs); with neither set, /metrics is off (404).
MOF_METRICS_TOKEN = os.environ.get("MOF_METRICS_TOKEN", "").strip()
MOF_METRICS_ALLOWED_NETWORKS = env_list("MOF_METRICS_ALLOWED_NETWORKS")
try:
    import ipaddress as _ipaddress

    for _cidr in MOF_METRICS_ALLOWED_NETWORKS:
        _ipaddress.ip_network(_cidr, strict=False)
except ValueError as _exc:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"MOF_METRICS_ALLOWED_NETWORKS: {_exc}") from None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: unauthenticated calls get 401 with a WWW-Authenticate header.
        # The portal's hashed tokens (mof.tokens); DRF's authtoken keys still work (legacy).
        "mof.api.auth.PortalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Rate limits per user through its tokens (all together), per user's session and per IP
    # address (anonymous); views may name a scope of their own with `throttle_scope`
    # (mof.api.throttling).
    "DEFAULT_THROTTLE_CLASSES": ["mof.api.throttling.PortalRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("MOF_RATE_ANON", "60/minute"),
        "user": os.environ.get("MOF_RATE_USER", "1200/minute"),
        "token": os.environ.get("MOF_RATE_TOKEN", "600/minute"),
        "ingest": os.environ.get("MOF_RATE_INGEST", "6000/minute"),
        "login": os.environ.get("MOF_RATE_LOGIN", "30/minute"),
    },
    # Behind a reverse proxy, how many X-Forwarded-For hops to trust for the client's address.
    "NUM_PROXIES": int(os.environ.get("MOF_NUM_PROXIES", "0")),
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "mof.api.pagination.PortalPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "mof.api.filters.CollectionFilterBackend",
        "mof.api.filters.CollectionSearchFilter",
        "mof.api.filters.CollectionOrderingFilter",
    ],
    # drf-spectacular, plus ?fields= and the shared error responses on every operation.
    "DEFAULT_SCHEMA_CLASS": "mof.api.schema.PortalAutoSchema",
    "EXCEPTION_HANDLER": "mof.api.errors.exception_handler",
    # DRF's parsers, with a JSON parser that refuses NaN, 1e309 and deep nesting (400, not 500).
    "DEFAULT_PARSER_CLASSES": [
        "mof.api.parsers.PortalJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MOF Portal API",
    "DESCRIPTION": "IT service management the way the Microsoft Operations Framework describes it.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RiskLevelEnum": "mof.choices.RiskLevel",
        "RiskProbabilityEnum": "mof.models.RiskAssessment.Probability",
        "RiskImpactEnum": "mof.models.RiskAssessment.Impact",
        "RelationshipTypeEnum": "mof.choices.RelationshipType",
        "ChangeTypeEnum": "changes.choices.ChangeType",
        "CIStatusEnum": "mof.choices.CIStatus",
        "ChangeStatusEnum": "changes.choices.ChangeStatus",
        "TemplateStatusEnum": "changes.choices.TemplateStatus",
        "ReleaseStatusEnum": "changes.choices.ReleaseStatus",
        "RoleClusterEnum": "mof.choices.RoleCluster",
        "IncidentScaleEnum": "incidents.choices.Scale",
        "IncidentStatusEnum": "incidents.choices.IncidentStatus",
        "ProblemStatusEnum": "incidents.choices.ProblemStatus",
        "ProposalStatusEnum": "incidents.choices.ProposalStatus",
        "InboundOutcomeEnum": "incidents.models_inbound.InboundOutcome",
        "OutcomeEnum": "changes.choices.Outcome",  # a change's outcome keeps its name beside the inbound mail's
        "AgreementKindEnum": "slas.models.AgreementKind",
        "SLATicketTypeEnum": "slas.models.TicketType",
        # Named here because each is used by a component and its Sparse twin (mof.api.schema).
        "SLAStatusEnum": "slas.models.SLAStatus",
        "MeetingStateEnum": "reviews.choices.MeetingState",
        "MeetingKindEnum": "mof.choices.ReviewKind",
        "AgendaItemStateEnum": "reviews.choices.ItemState",
        "FreezeWindowStatusEnum": "operations.models.FreezeStatus",
        "WarningStatusEnum": "slas.models_capacity.WarningStatus",
        "IncidentNoteKindEnum": "incidents.choices.NoteKind",
        "ClockStateEnum": "slas.models.ClockState",
        "AuditEntryActionEnum": "mof.choices.AuditAction",
        "ProblemProposalScopeEnum": [("ci", "CI"), ("service", "Service")],
        "ScheduleItemKindEnum": [
            ("change", "change"),
            ("release", "release"),
            ("maintenance", "maintenance"),
            ("freeze", "freeze"),
        ],
        "ThresholdDirectionEnum": "slas.models_capacity.ThresholdDirection",
        "ImpactDirectionEnum": [("downstream", "downstream"), ("upstream", "upstream")],
        "WebhookEventTypeEnum": "integrations.choices.EventType",
        "WebhookSubscriptionStatusEnum": "integrations.choices.SubscriptionStatus",
        "WebhookDeliveryStatusEnum": "integrations.choices.DeliveryStatus",
        "EventSeverityEnum": "operations.models_events.SEVERITY_NAMES",
        "ApiTokenScopeEnum": "mof.models_access.TokenScope",
        "ApiTokenStatusEnum": "mof.models_access.TokenStatus",
        "JobKindEnum": "operations.models_jobs.JobKind",
        "JobRunStatusEnum": "operations.models_jobs.RunStatus",
        "JobRunOutcomeEnum": "operations.models_jobs.RUN_OUTCOMES",
        "JobFlagKindEnum": "operations.models_jobs.FLAG_KINDS",
    },
}

# Security: strict unless DEBUG. Each switch can be relaxed from the environment
# (e.g. SECURE_SSL_REDIRECT=0 behind a proxy that already redirects).
# Sessions in the database (shared by every web process; never a local file or a process's
# memory): any request may reach any web process (tests/core/test_storage.py).
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the cookie-less meta tag; keep default
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy of every answer (mof.csp): no inline script, nothing from elsewhere.
# Replace it whole with MOF_CONTENT_SECURITY_POLICY (e.g. to add a report-uri); empty: none.
from mof.csp import DEFAULT_POLICY as _DEFAULT_CSP

MOF_CONTENT_SECURITY_POLICY = os.environ.get("MOF_CONTENT_SECURITY_POLICY", _DEFAULT_CSP)

# Single sign-on with OpenID Connect (mof.identity.oidc) when OIDC_RP_CLIENT_ID is set; the
# provider's origin joins the policy's form-action (signing out continues at the provider).
from mof.identity.config import oidc_settings  # noqa: E402

globals().update(oidc_settings(os.environ, csp=MOF_CONTENT_SECURITY_POLICY))
if MOF_OIDC_ENABLED:  # noqa: F821 - set by oidc_settings
    AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "mof.identity.oidc.PortalOIDCBackend"]
# Local passwords: "on" (everyone), or "break-glass" (only administrators listed as break-glass
# accounts in the admin; everyone else signs in through the directory or single sign-on).
MOF_LOCAL_LOGIN = os.environ.get("MOF_LOCAL_LOGIN", "on").strip().lower()
if MOF_LOCAL_LOGIN not in ("on", "break-glass"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("MOF_LOCAL_LOGIN must be on or break-glass")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Probes and scrapers call plain http on the process's own address (mof.probes).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("USE_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Logging: everything at WARNING or above (MOF_ROOT_LOG_LEVEL), the portal's own loggers at
# MOF_LOG_LEVEL, to the console (stderr) with the request it happened in: every unhandled
# exception is an ERROR line of django.request with its traceback, request id, method, path
# and user (mof.request_log), and is mailed to ADMINS when DEBUG is off.
# MOF_LOG_FORMAT: `json` (one JSON object per line: time, level, logger, message, request_id,
# method, path, user, task, task_id, exc; the default with DEBUG off) or `plain` (one text line,
# the default with DEBUG on). The worker and beat log the same way (mof.celery), each task's
# lines with the id of the request that queued it.
MOF_LOG_FORMAT = os.environ.get("MOF_LOG_FORMAT", "") or ("plain" if DEBUG else "json")
if MOF_LOG_FORMAT not in ("json", "plain"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"MOF_LOG_FORMAT {MOF_LOG_FORMAT!r}: use json or plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request": {"()": "mof.request_log.RequestContextFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(request_context)s%(message)s"},
        "json": {"()": "mof.request_log.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": MOF_LOG_FORMAT, "filters": ["request"]},
        "mail_admins": {
            "level": "ERROR",
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("MOF_ROOT_LOG_LEVEL", "WARNING")},
    "loggers": {
        # Replaces Django's own console handler (DEBUG only): its records reach the root's.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "mof": {"level": os.environ.get("MOF_LOG_LEVEL", "INFO")},
        "mof.security": {"level": "INFO"},
    },
}

# Error tracking (off by default): with SENTRY_DSN set, unhandled errors of the web processes
# and of Celery tasks go to Sentry (or a compatible service such as GlitchTip), tagged with the
# request id (mof.sentry). No personal data is sent; performance tracing only with a
# MOF_SENTRY_TRACES_SAMPLE_RATE above 0. SENTRY_ENVIRONMENT and SENTRY_RELEASE label events.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    from mof.sentry import init_sentry

    init_sentry(
        SENTRY_DSN,
        environment=os.environ.get("SENTRY_ENVIRONMENT") or ("development" if DEBUG else "production"),
        release=os.environ.get("SENTRY_RELEASE") or None,
        traces_sample_rate=float(os.environ.get("MOF_SENTRY_TRACES_SAMPLE_RATE", "0") or 0),
    )

# Demo data (seed_demo) may only be loaded with DEBUG on: never in production settings.
MOF_DEMO_PASSWORD = os.environ.get("MOF_DEMO_PASSWORD", "mof-demo-2026")
# Page counts: never count more rows than this; beyond it a list says "more than".
MOF_COUNT_LIMIT = int(os.environ.get("MOF_COUNT_LIMIT", "100000"))
# Job schedule (operations.jobs): minutes after a run's expected end before it counts as
# missed, and how many days ahead jobs are checked against business hours, freezes, changes.
MOF_JOB_GRACE_MINUTES = int(os.environ.get("MOF_JOB_GRACE_MINUTES", "15"))
MOF_JOB_FLAG_DAYS = int(os.environ.get("MOF_JOB_FLAG_DAYS", "14"))
# Change management: may the change manager alone approve a low-risk change? How many
# managers must vote for a critical change at the CAB, and for an emergency CAB?
MOF_CHANGE_MANAGER_APPROVES_LOW_RISK = env_bool("MOF_CHANGE_MANAGER_APPROVES_LOW_RISK", True)
MOF_CAB_QUORUM_MANAGERS = int(os.environ.get("MOF_CAB_QUORUM_MANAGERS", "3"))
# Incident management: resolved incidents close after this many days (and may be reopened
# by their caller until then); proactive problem management looks for this many incidents
# on one CI or service within this many days.
MOF_INCIDENT_AUTO_CLOSE_DAYS = int(os.environ.get("MOF_INCIDENT_AUTO_CLOSE_DAYS", "5"))
MOF_PROBLEM_CLUSTER_COUNT = int(os.environ.get("MOF_PROBLEM_CLUSTER_COUNT", "5"))
MOF_PROBLEM_CLUSTER_DAYS = int(os.environ.get("MOF_PROBLEM_CLUSTER_DAYS", "7"))
# Login lockout (mof.lockout), per (username, client address): after ATTEMPTS wrong passwords
# the pair waits DELAY_SECONDS before its next try, doubled with each further failure, at most
# SECONDS. ADDRESS_ATTEMPTS failures from one address for usernames it never signed in as
# (password spraying) give the address the same growing delays for those usernames. A count
# is forgotten after WINDOW seconds without a failure (after its delay). The client address
# comes from X-Forwarded-For only behind MOF_NUM_PROXIES proxies (REST_FRAMEWORK above).
# A record with no failure or sign-in for MOF_LOGIN_LOCKOUT_RETENTION_DAYS and no lock in
# force is pruned (daily task).
MOF_LOGIN_LOCKOUT_ATTEMPTS = int(os.environ.get("MOF_LOGIN_LOCKOUT_ATTEMPTS", "5"))
MOF_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS = int(os.environ.get("MOF_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS", "20"))
MOF_LOGIN_LOCKOUT_DELAY_SECONDS = int(os.environ.get("MOF_LOGIN_LOCKOUT_DELAY_SECONDS", "1"))
MOF_LOGIN_LOCKOUT_WINDOW = int(os.environ.get("MOF_LOGIN_LOCKOUT_WINDOW", "900"))
MOF_LOGIN_LOCKOUT_SECONDS = int(os.environ.get("MOF_LOGIN_LOCKOUT_SECONDS", "900"))
MOF_LOGIN_LOCKOUT_RETENTION_DAYS = int(os.environ.get("MOF_LOGIN_LOCKOUT_RETENTION_DAYS", "30"))
# Days a token from POST /api/v1/auth/token/ (a person's password exchanged) stays valid.
MOF_SIGN_IN_TOKEN_DAYS = int(os.environ.get("MOF_SIGN_IN_TOKEN_DAYS", "30"))
# Most live API tokens (active, or rotated and still in their grace period) one user may
# hold, service accounts included; issuing beyond it is refused (mof.tokens).
MOF_MAX_TOKENS_PER_USER = int(os.environ.get("MOF_MAX_TOKENS_PER_USER", "20"))
# CSV import of the CMDB (mof.cmdb_import) and CSV export of list pages (mof.csv_io):
# the largest file and the most rows one import may carry (the file stays below Django's
# 2.5 MB form limit, which the page's apply step posts it back under), and how many rows
# an export fetches per query.
# Attachments on incidents, problems and changes (mof.attachments): the largest file, the most
# files per ticket, and the content types accepted (detected from the content, not the name).
MOF_ATTACHMENT_MAX_BYTES = int(os.environ.get("MOF_ATTACHMENT_MAX_BYTES", str(10 * 1024 * 1024)))
MOF_ATTACHMENT_MAX_PER_TICKET = int(os.environ.get("MOF_ATTACHMENT_MAX_PER_TICKET", "20"))
MOF_ATTACHMENT_ALLOWED_TYPES = env_list(
    "MOF_ATTACHMENT_ALLOWED_TYPES",
    ",".join(
        [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "image/bmp",
            "image/tiff",
            "application/pdf",
            "text/plain",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation",
            "application/rtf",
            "application/zip",
        ]
    ),
)
MOF_IMPORT_MAX_BYTES = int(os.environ.get("MOF_IMPORT_MAX_BYTES", str(2_000_000)))
MOF_IMPORT_MAX_ROWS = int(os.environ.get("MOF_IMPORT_MAX_ROWS", "10000"))
MOF_EXPORT_CHUNK_SIZE = int(os.environ.get("MOF_EXPORT_CHUNK_SIZE", "2000"))
# Service monitoring: events at or above this severity (info, warning, minor, major,
# critical) open an incident; events naming an unknown CI are refused or parked for a
# person to map (refuse | park); a post holds at most this many events; raw events are
# kept this many days (alerts and their counts stay).
MOF_EVENTS_INCIDENT_SEVERITY = os.environ.get("MOF_EVENTS_INCIDENT_SEVERITY", "major").strip().lower()
MOF_EVENTS_UNKNOWN_CI = os.environ.get("MOF_EVENTS_UNKNOWN_CI", "refuse").strip().lower()
MOF_EVENTS_BATCH_LIMIT = int(os.environ.get("MOF_EVENTS_BATCH_LIMIT", "1000"))
MOF_EVENTS_RETENTION_DAYS = int(os.environ.get("MOF_EVENTS_RETENTION_DAYS", "30"))
if MOF_EVENTS_INCIDENT_SEVERITY not in (
    "info",
    "warning",
    "minor",
    "major",
    "critical",
) or MOF_EVENTS_UNKNOWN_CI not in ("refuse", "park"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "MOF_EVENTS_INCIDENT_SEVERITY is info, warning, minor, major or critical; MOF_EVENTS_UNKNOWN_CI is refuse or park."
    )

# Incidents from e-mail (incidents.mailbox): the service desk's mailbox read over IMAP
# (imaps://user:password@host:993/INBOX, or imap://... upgraded with STARTTLS; empty: not
# read), the folder processed mail is moved to (empty: it stays, flagged \Seen), the most
# messages one poll takes; mail from addresses no active person has: refuse (a polite reply),
# create (the caller, without a usable password) or park (for a person); the most mails one
# sender may send in an hour before the rest is parked; the largest message taken.
MOF_MAILBOX_IMAP_URL = os.environ.get("MOF_MAILBOX_IMAP_URL", "").strip()
MOF_MAILBOX_PROCESSED_FOLDER = os.environ.get("MOF_MAILBOX_PROCESSED_FOLDER", "").strip()
MOF_MAILBOX_BATCH = int(os.environ.get("MOF_MAILBOX_BATCH", "100"))
MOF_MAILBOX_TIMEOUT_SECONDS = float(os.environ.get("MOF_MAILBOX_TIMEOUT_SECONDS", "30"))
MOF_MAIL_UNKNOWN_SENDERS = os.environ.get("MOF_MAIL_UNKNOWN_SENDERS", "park").strip().lower()
MOF_MAIL_IN_RATE_PER_HOUR = int(os.environ.get("MOF_MAIL_IN_RATE_PER_HOUR", "20"))
MOF_MAIL_IN_MAX_BYTES = int(os.environ.get("MOF_MAIL_IN_MAX_BYTES", str(25_000_000)))
# Days the text and original of received mail are kept once dealt with (parked mail keeps
# them until a person decides); the record of what became of it stays.
MOF_MAIL_IN_RETENTION_DAYS = int(os.environ.get("MOF_MAIL_IN_RETENTION_DAYS", "30"))
if MOF_MAIL_UNKNOWN_SENDERS not in ("refuse", "create", "park"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("MOF_MAIL_UNKNOWN_SENDERS is refuse, create or park.")

# Outbound webhooks: seconds a receiver has to answer, attempts per delivery (retried after
# BACKOFF, 2xBACKOFF, 4xBACKOFF... seconds), and consecutive failed deliveries that disable a subscription.
MOF_WEBHOOK_TIMEOUT_SECONDS = int(os.environ.get("MOF_WEBHOOK_TIMEOUT_SECONDS", "5"))
MOF_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("MOF_WEBHOOK_MAX_ATTEMPTS", "6"))
MOF_WEBHOOK_BACKOFF_SECONDS = int(os.environ.get("MOF_WEBHOOK_BACKOFF_SECONDS", "30"))
MOF_WEBHOOK_DISABLE_AFTER = int(os.environ.get("MOF_WEBHOOK_DISABLE_AFTER", "5"))
# Days the outbox and the delivery log keep finished events.
MOF_WEBHOOK_RETENTION_DAYS = int(os.environ.get("MOF_WEBHOOK_RETENTION_DAYS", "30"))
# Internal targets webhooks may reach (integrations.egress): comma-separated CIDRs and/or
# host names, e.g. "10.20.0.0/16,bridge". Default empty: public addresses only (no loopback,
# private, link-local, CGNAT, multicast or reserved address, at subscription and at delivery).
MOF_WEBHOOK_ALLOWED_NETWORKS = env_list("MOF_WEBHOOK_ALLOWED_NETWORKS")
