"""Optional error tracking with Sentry (or a compatible service such as GlitchTip): initialised
by mof.settings only when SENTRY_DSN is set, so the web processes, the worker and beat all
report. Unhandled errors of views and tasks (and ERROR log lines) become events tagged with
the request id (mof.request_log), the one the user sees on the 500 page and the log lines
carry. No personal data (send_default_pii off); no performance tracing unless a sample rate
above 0 is given."""

from __future__ import annotations


def _tag_request_id(event, hint):
    from mof.request_log import current_request_id

    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def init_sentry(dsn: str, *, environment: str, release: str | None = None, traces_sample_rate: float = 0.0) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate if traces_sample_rate > 0 else None,
        before_send=_tag_request_id,
    )
