from django.urls import path

from incidents import views, views_mail

urlpatterns = [
    path("", views.landing, name="supporting"),
    path("self-service/", views.self_service, name="self_service"),
    path("search/", views.support_search, name="support_search"),
    # The service desk.
    path("incidents/", views.incident_queue, name="incident_queue"),
    path("incidents/new/", views.incident_create, name="incident_create"),
    path("incidents/bulk/", views.incident_bulk, name="incident_bulk"),
    path("incidents/known-error-suggestions/", views.known_error_suggestions, name="known_error_suggestions"),
    path("incidents/cmdb-context/", views.incident_cmdb_context, name="incident_cmdb_context"),
    path("incidents/assignee-options/", views.assignee_options, name="assignee_options"),
    path("incidents/filters/", views.saved_filter_create, name="saved_filter_create"),
    path("incidents/filters/<int:pk>/delete/", views.saved_filter_delete, name="saved_filter_delete"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident_detail"),
    path("incidents/<int:pk>/edit/", views.incident_edit, name="incident_edit"),
    path("incidents/<int:pk>/notes/", views.incident_note, name="incident_note"),
    path("incidents/<int:pk>/attachments/", views.incident_attach, name="incident_attach"),
    path("incidents/<int:pk>/assign/", views.incident_assign, name="incident_assign"),
    path("incidents/<int:pk>/take/", views.incident_take, name="incident_take"),
    path("incidents/<int:pk>/escalate/", views.incident_escalate, name="incident_escalate"),
    path("incidents/<int:pk>/major/", views.incident_declare_major, name="incident_declare_major"),
    path("incidents/<int:pk>/communications/", views.incident_communicate, name="incident_communicate"),
    path("incidents/<int:pk>/children/", views.incident_link_child, name="incident_link_child"),
    path("incidents/<int:pk>/known-error/", views.incident_link_known_error, name="incident_link_known_error"),
    path("incidents/<int:pk>/transitions/<str:name>/", views.incident_transition, name="incident_transition"),
    # Problem management.
    path("problems/", views.problem_list, name="problem_list"),
    path("problems/new/", views.problem_create, name="problem_create"),
    path("problems/<int:pk>/", views.problem_detail, name="problem_detail"),
    path("problems/<int:pk>/edit/", views.problem_edit, name="problem_edit"),
    path("problems/<int:pk>/attachments/", views.problem_attach, name="problem_attach"),
    path("problems/<int:pk>/transitions/<str:name>/", views.problem_transition, name="problem_transition"),
    path("problem-proposals/", views.proposal_list, name="proposal_list"),
    path("problem-proposals/<int:pk>/accept/", views.proposal_accept, name="proposal_accept"),
    path("problem-proposals/<int:pk>/dismiss/", views.proposal_dismiss, name="proposal_dismiss"),
    path("known-errors/", views.known_error_list, name="known_error_list"),
    path("priority-matrix/", views.priority_matrix, name="priority_matrix"),
    # Mail into the service desk (incidents.mailbox).
    path("inbound-mail/", views_mail.inbound_mail, name="inbound_mail"),
    path("inbound-mail/<int:pk>/open/", views_mail.inbound_mail_open, name="inbound_mail_open"),
    path("inbound-mail/<int:pk>/drop/", views_mail.inbound_mail_drop, name="inbound_mail_drop"),
    path("inbound-mail/<int:pk>/original.eml", views_mail.inbound_mail_raw, name="inbound_mail_raw"),
]
