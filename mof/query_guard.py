"""Refuse a page address whose parameters hold a NUL character: PostgreSQL takes no NUL in a
text value, so each view that filters on a typed-in parameter (a search box) answered 500.
Django's form fields refuse NUL already; this covers the views that read request.GET
themselves, in one place. The API is left to its own validation (its 400s are JSON)."""

from django.http import HttpResponseBadRequest


class NulInQueryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/") and any(
            "\x00" in key + "".join(values) for key, values in request.GET.lists()
        ):
            return HttpResponseBadRequest(
                "A parameter of this address holds a NUL character (%00): remove it.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
