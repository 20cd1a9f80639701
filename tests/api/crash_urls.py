"""TextDesk's own URLs plus one operation that crashes: the 500 answer is what the tests look at."""

from django.urls import path

from textdesk.urls import *  # noqa: F403  (the handlers handler400 … handler500 come along)
from textdesk.urls import urlpatterns as textdesk_urlpatterns


def crash(request):
    raise RuntimeError("an unexpected failure")


urlpatterns = [path("api/v1/crash", crash), path("records/crash/", crash), *textdesk_urlpatterns]
