"""Pages. Each quadrant's app adds its own under its landing page."""

from django.urls import include, path

from mof import views, views_attachments, views_csv, views_notifications
from mof.identity import oidc
from mof.identity import views as identity_views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", identity_views.PortalLoginView.as_view(), name="login"),
    path("logout/", oidc.sign_out, name="logout"),
    # Single sign-on (OpenID Connect; 404 unless configured) and local password reset by mail.
    path("oidc/authenticate/", oidc.sign_in, name="oidc_authentication_init"),
    path("oidc/callback/", oidc.callback, name="oidc_authentication_callback"),
    path("password-reset/", identity_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", identity_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/done/", identity_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("attachments/<int:pk>/", views_attachments.attachment_download, name="attachment_download"),
    path(
        "password-reset/<uidb64>/<token>/",
        identity_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    # The quadrants and the reviews.
    path("notifications/", views_notifications.notification_list, name="notification_list"),
    path("notifications/read/", views_notifications.notification_read_all, name="notification_read_all"),
    path("notifications/<int:pk>/read/", views_notifications.notification_read, name="notification_read"),
    path("notifications/preferences/", views_notifications.notification_preferences, name="notification_preferences"),
    path("changing/", include("changes.urls")),
    path("operating/security/", include("mof.accounts_urls")),  # service accounts, API tokens, lockouts
    path("operating/", include("operations.urls")),
    path("supporting/", include("incidents.urls")),
    path("optimizing/", include("slas.urls")),
    path("reviews/", include("reviews.urls")),
    # Integrations: outbound webhooks (managers).
    path("integrations/", include("integrations.urls")),
    # The change calendar as an iCalendar feed (per-user secret address, revocable).
    path("calendar/", include("operations.feed_urls")),
    # CMDB (configuration management, in the Changing quadrant).
    path("cmdb/cis/", views.ci_list, name="ci_list"),
    path("cmdb/cis/new/", views.ci_create, name="ci_create"),
    path("cmdb/import/<slug:kind>/", views_csv.csv_import, name="csv_import"),
    path("cmdb/import/<slug:kind>/template.csv", views_csv.csv_import_template, name="csv_import_template"),
    path("cmdb/relationships/export.csv", views_csv.relationship_export, name="relationship_export"),
    path("cmdb/cis/<int:pk>/", views.ci_detail, name="ci_detail"),
    path("cmdb/cis/<int:pk>/edit/", views.ci_edit, name="ci_edit"),
    path("cmdb/cis/<int:pk>/delete/", views.ci_delete, name="ci_delete"),
    path("cmdb/cis/<int:pk>/transitions/<str:name>/", views.ci_transition, name="ci_transition"),
    path("cmdb/cis/<int:pk>/relationships/", views.relationship_create, name="relationship_create"),
    path("cmdb/relationships/<int:pk>/delete/", views.relationship_delete, name="relationship_delete"),
    path("cmdb/classes/", views.ci_class_list, name="ci_class_list"),
    # IT services.
    path("cmdb/services/", views.service_list, name="service_list"),
    path("cmdb/services/new/", views.service_create, name="service_create"),
    path("cmdb/services/<int:pk>/", views.service_detail, name="service_detail"),
    path("cmdb/services/<int:pk>/edit/", views.service_edit, name="service_edit"),
    # Risk Model.
    path("risk/", views.risk_matrix, name="risk_matrix"),
]
