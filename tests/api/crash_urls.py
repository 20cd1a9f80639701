"""TextDesk's own URLs plus operations that crash, or find the database out of reach: their answers are what the
tests look at."""

from django.db import OperationalError
from django.urls import path

from textdesk.urls import *  # noqa: F403  (the handlers handler400 … handler500 come along)
from textdesk.urls import urlpatterns as textdesk_urlpatterns


def crash(request):
    raise RuntimeError("an unexpected failure")


def database_out_of_reach(request):
    # What Django raises when no pooled connection came within the pool's timeout (psycopg_pool's PoolTimeout).
    raise OperationalError("couldn't get a connection after 5.00 sec")


urlpatterns = [
    path("api/v1/crash", crash),
    path("records/crash/", crash),
    path("api/v1/database-out-of-reach", database_out_of_reach),
    path("records/database-out-of-reach/", database_out_of_reach),
    *textdesk_urlpatterns,
]
