"""What other parts of TextDesk may listen to, without messaging knowing them.

``text_not_delivered`` is sent, inside the transaction that records it, when an
outbound message becomes failed or undelivered: refused at sending, or reported
by the provider later. Receivers get ``message`` (the updated row). The sales
accelerator uses it to reopen an automated text step whose text did not arrive.
"""

from django.dispatch import Signal

text_not_delivered = Signal()
