from django.urls import path

from textdesk.sequences import views

app_name = "sequences"

urlpatterns = [
    path("", views.work_list, name="work_list"),
    path("records/<str:record_key>/", views.record_page, name="record"),
    path("records/<str:record_key>/up-next/", views.up_next_fragment, name="up_next"),
    path("connect/", views.connect, name="connect"),
    path("connections/<int:connection_id>/complete/", views.complete, name="complete"),
    path("connections/<int:connection_id>/skip/", views.skip, name="skip"),
    path("connections/<int:connection_id>/retry/", views.retry, name="retry"),
    path("connections/<int:connection_id>/disconnect/", views.disconnect, name="disconnect"),
    path("connections/<int:connection_id>/send/", views.send, name="send"),
    path("connections/<int:connection_id>/draft/", views.draft, name="draft"),
    path("connections/<int:connection_id>/pane-send/", views.pane_send, name="pane_send"),
]
