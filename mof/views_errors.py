"""The 400/413 and 500 answers (handler400, handler500 in mof.urls): JSON under /api/,
a page elsewhere, each with the request id a user can quote (mof.request_log)."""

from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

from mof.request_log import request_id_of


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def too_big_message() -> str:
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return (
        f"The request body is larger than the {limit:,} bytes allowed." if limit else "The request body is too large."
    )


def bad_request(request, exception=None):
    """Django's SuspiciousOperation and BadRequest answers: a body over the upload limit
    is 413, too many fields or files 400; never Django's bare HTML page from the API."""
    if isinstance(exception, RequestDataTooBig):
        status, code, message = 413, "request_too_large", too_big_message()
    elif isinstance(exception, (TooManyFieldsSent, TooManyFilesSent)):
        status, code, message = 400, "too_many_fields", "The request carries too many fields or files."
    else:
        status, code, message = 400, "bad_request", "The request could not be understood."
    request_id = request_id_of(request)
    if _is_api(request):
        return JsonResponse({"detail": message, "code": code, "request_id": request_id}, status=status)
    return render(request, "400.html", {"status": status, "message": message, "request_id": request_id}, status=status)


def server_error(request):
    """An unhandled exception (logged by django.request with the same request id)."""
    request_id = request_id_of(request)
    if _is_api(request):
        return JsonResponse(
            {
                "detail": "Server error: it has been logged. Quote the request id if you report it.",
                "code": "server_error",
                "request_id": request_id,
            },
            status=500,
        )
    # No request context: the context processors may need what just failed (the database).
    return HttpResponse(loader.get_template("500.html").render({"request_id": request_id}), status=500)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the portal's styled 403 page (JSON under /api/), not Django's bare one."""
    message = (
        "The form was out of date or your session changed (signed in or out elsewhere). Reload the page and try again."
    )
    if _is_api(request):
        return JsonResponse({"detail": f"CSRF check failed: {reason}", "code": "csrf_failed"}, status=403)
    return render(request, "403.html", {"message": message}, status=403)


class StyledErrorPagesMiddleware:
    """With DEBUG on, Django answers a 404 and a 500 with its own technical pages, not the
    handlers'. This renders the portal's 404 and 500 pages for them too (the 500 page shows
    the traceback folded under the message, since DEBUG is on); with DEBUG off it does nothing,
    the handlers already answer. The API keeps its JSON errors."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings
        from django.http import HttpResponseNotFound

        response = self.get_response(request)
        if not settings.DEBUG or _is_api(request) or not response.get("Content-Type", "").startswith("text/html"):
            return response
        if response.status_code == 404 and isinstance(response, HttpResponseNotFound):
            from mof.views import page_not_found

            styled = page_not_found(request)
        elif response.status_code == 500 and getattr(request, "_mof_exception", None) is not None:
            styled = HttpResponse(
                loader.get_template("500.html").render(
                    {"request_id": request_id_of(request), "traceback": request._mof_traceback}
                ),
                status=500,
            )
        else:
            return response
        for header in ("X-Request-ID", "Content-Security-Policy"):
            if header in response:
                styled[header] = response[header]
        return styled

    def process_exception(self, request, exception):
        """Remember a view's exception for the page; Django still logs it and answers."""
        import traceback

        from django.conf import settings

        if settings.DEBUG:
            request._mof_exception = exception
            request._mof_traceback = "".join(traceback.format_exception(exception))
