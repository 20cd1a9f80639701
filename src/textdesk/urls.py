from django.contrib import admin
from django.urls import include, path

from textdesk.api.router import api
from textdesk.web import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("sequences/", include("textdesk.sequences.urls")),
    path("compliance/", include("textdesk.compliance.urls")),
    path("", include("textdesk.web.urls")),
]

# Errors answered by Django itself: JSON in the API's one error shape under /api/, else a page in the app's layout.
handler400 = "textdesk.web.views.errors.bad_request"
handler403 = "textdesk.web.views.errors.forbidden"
handler404 = "textdesk.web.views.errors.not_found"
handler500 = "textdesk.web.views.errors.server_error"
