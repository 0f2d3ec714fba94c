"""/healthz, /readyz and /metrics, answered by a middleware before the host check.

Probes and scrapers often call a process by its address (a container's or pod's IP), which
ALLOWED_HOSTS does not list: CommonMiddleware would refuse them with a 400. So this middleware
sits before it (after the request id, the security headers and the Content-Security-Policy
middleware, which still mark every answer) and answers these three paths itself: no session,
no login, no CSRF, no rate limit. The answers carry no URL, so the Host header does not matter
to them. SECURE_REDIRECT_EXEMPT spares them the redirect to https (mof.settings).

* GET /healthz - 200 {"status": "ok"}: the process answers; touches no database.
* GET /readyz  - 200 or 503 {"status": "ready" | "not ready", "checks": {name: "ok" | "failed"}}
  (mof.health). Nothing else: no host, no error text, no version.
* GET /metrics - Prometheus text (mof.metrics), for a Bearer MOF_METRICS_TOKEN or a client in
  MOF_METRICS_ALLOWED_NETWORKS (403 otherwise); with neither set, not served (404 like any
  unknown path).
"""

from __future__ import annotations

import json

from django.http import HttpResponse, HttpResponseNotAllowed

PROBES = {"/healthz": "healthz", "/readyz": "readyz", "/metrics": "metrics"}


def _json(payload: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(payload), status=status, content_type="application/json")


def healthz(request) -> HttpResponse:
    return _json({"status": "ok"})


def readyz(request) -> HttpResponse:
    from mof import health

    results = health.readiness()
    ready = all(results.values())
    return _json(
        {
            "status": "ready" if ready else "not ready",
            "checks": {name: "ok" if ok else "failed" for name, ok in results.items()},
        },
        200 if ready else 503,
    )


def metrics(request) -> HttpResponse:
    from mof import metrics as m

    if not m.allowed(request):
        return _json({"detail": "Not allowed."}, 403)
    return HttpResponse(m.exposition(), content_type=m.CONTENT_TYPE)


VIEWS = {"healthz": healthz, "readyz": readyz, "metrics": metrics}


class ProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = PROBES.get(request.path_info)
        if name is None:
            return self.get_response(request)
        if name == "metrics":
            from mof.metrics import enabled

            if not enabled():
                return self.get_response(request)  # off: whatever an unknown path gets
        request.metrics_route = name
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        response = VIEWS[name](request)
        response["Cache-Control"] = "no-store"
        # XFrameOptionsMiddleware comes later in MIDDLEWARE and never sees this answer.
        response.setdefault("X-Frame-Options", "DENY")
        return response
