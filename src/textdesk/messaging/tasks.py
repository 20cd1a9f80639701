"""Worker registrations of text messaging (imported by the worker's autodiscovery)."""

from textdesk.jobs import worker
from textdesk.messaging.actions.inbound import route_pending

worker.poller(route_pending)
