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
    return f"The request body is larger than the {limit:,} bytes allowed." if limit else "The request body is too large."


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
            {"detail": "Server error: it has been logged. Quote the request id if you report it.", "code": "server_error", "request_id": request_id},
            status=500,
        )
    # No request context: the context processors may need what just failed (the database).
    return HttpResponse(loader.get_template("500.html").render({"request_id": request_id}), status=500)
