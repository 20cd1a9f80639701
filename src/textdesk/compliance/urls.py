from django.urls import path

from textdesk.compliance import views

urlpatterns = [
    path("optout-requests/<int:flag_id>/record", views.record_flag, name="compliance_flag_record"),
    path("optout-requests/<int:flag_id>/dismiss", views.dismiss_flag, name="compliance_flag_dismiss"),
    path("dashboard/", views.dashboard, name="compliance_dashboard"),
    path("dashboard/<str:chart>.csv", views.dashboard_csv, name="compliance_dashboard_csv"),
]
