"""Content-Security-Policy on every answer (Django 5.2 has none of its own).

Scripts only from the portal's own files: no inline script, no event-handler
attributes, no eval (templates ask for behaviour with data- attributes that
static/mof/portal.js implements). Styles also allow 'unsafe-inline': the portal
renders <style> blocks whose rules depend on the data (which decision buttons fit an
agenda item, in fragments htmx swaps in, where a per-answer nonce cannot work) and
style attributes with computed positions (the SLA clock timelines). Inline styles
cannot run script, and with img-src, font-src and connect-src limited to the portal
they cannot send anything elsewhere either.

MOF_CONTENT_SECURITY_POLICY replaces the policy (e.g. to add report-uri); empty
sends none. A view may set its own header; it is then left alone.
"""

from django.conf import settings

DEFAULT_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.MOF_CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
