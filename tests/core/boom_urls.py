"""The portal's URLs plus two views that raise: an unhandled error on a page and in the API."""

from django.contrib.auth.decorators import login_required
from django.urls import path
from rest_framework.views import APIView

from mof.urls import handler400, handler403, handler404, handler500  # noqa: F401
from mof.urls import urlpatterns as portal_urls


@login_required
def boom_page(request):
    raise RuntimeError("the page broke")


class BoomAPI(APIView):
    def get(self, request):
        raise RuntimeError("the API broke")


urlpatterns = [path("boom/", boom_page), path("api/v1/boom/", BoomAPI.as_view()), *portal_urls]
