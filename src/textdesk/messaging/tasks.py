"""Job handlers and pollers of text messaging (discovered by the worker)."""

from textdesk.jobs import queue
from textdesk.messaging import sending

queue.handler("send_message")(sending.handle_send_job)
