"""Pages of Security administration, under /operating/security/."""

from django.urls import path

from mof import views_accounts as v

urlpatterns = [
    path("service-accounts/", v.service_account_list, name="service_account_list"),
    path("service-accounts/new/", v.service_account_create, name="service_account_create"),
    path("service-accounts/<int:pk>/", v.service_account_detail, name="service_account_detail"),
    path("service-accounts/<int:pk>/edit/", v.service_account_edit, name="service_account_edit"),
    path("tokens/", v.my_tokens, name="my_tokens"),
    path("tokens/<int:pk>/rotate/", v.token_rotate, name="token_rotate"),
    path("tokens/<int:pk>/revoke/", v.token_revoke, name="token_revoke"),
    path("lockouts/", v.lockout_list, name="lockout_list"),
    path("lockouts/<int:pk>/clear/", v.lockout_clear, name="lockout_clear"),
]
