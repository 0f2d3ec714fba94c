from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("mof.api.urls")),
    path("", include("mof.web_urls")),
]

handler403 = "mof.views.permission_denied"
handler404 = "mof.views.page_not_found"
handler400 = "mof.views_errors.bad_request"
handler500 = "mof.views_errors.server_error"
