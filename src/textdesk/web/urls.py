from django.contrib.auth import views as auth_views
from django.urls import path

from textdesk.web.views import activities, imports, notifications, pane, records, settings, signin

RECORD_TYPE = "<str:record_type>"

urlpatterns = [
    path("login/", signin.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", activities.my_text_messages, name="home"),
    path("messages/", activities.my_text_messages, name="my_text_messages"),
    path("conversations/<int:conversation_id>/", activities.my_text_messages, name="conversation"),
    path("conversations/<int:conversation_id>/pane/", pane.conversation_pane, name="conversation_pane"),
    path("conversations/<int:conversation_id>/history/", pane.conversation_history, name="conversation_history"),
    path("conversations/move/", pane.move, name="move_conversations"),
    path("records/search/", records.record_search, name="record_search"),
    path(f"records/{RECORD_TYPE}/", records.record_list, name="record_list"),
    path(f"records/{RECORD_TYPE}/<int:pk>/", records.record_detail, name="record_detail"),
    path(f"records/{RECORD_TYPE}/<int:pk>/pane/", pane.record_pane, name="record_pane"),
    path(f"records/{RECORD_TYPE}/<int:pk>/send/", pane.send, name="send"),
    path(f"records/{RECORD_TYPE}/<int:pk>/templates/<int:template_id>/", pane.template_fill, name="template_fill"),
    path("notifications/", notifications.notification_list, name="notification_list"),
    path("notifications/<int:notification_id>/open/", notifications.notification_open, name="notification_open"),
    path("settings/language/", settings.language, name="set_user_language"),
    path("settings/templates/", settings.template_list, name="template_list"),
    path("settings/templates/new/", settings.template_edit, name="template_new"),
    path("settings/templates/placeholders/", settings.template_placeholders, name="template_placeholders"),
    path("settings/templates/<int:template_id>/", settings.template_edit, name="template_edit"),
    path("settings/templates/<int:template_id>/delete/", settings.template_delete, name="template_delete"),
    path("settings/import/", imports.import_start, name="import_start"),
    path("settings/import/<int:run_id>/", imports.import_detail, name="import_detail"),
    path("settings/import/<int:run_id>/rejected.csv", imports.import_rejected, name="import_rejected"),
]
