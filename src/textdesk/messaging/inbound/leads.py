"""The lead an unknown number becomes (the seed's last routing rule)."""

from __future__ import annotations

from textdesk.crm.models import Lead
from textdesk.domain import phones


def new_lead(customer: str, number) -> Lead:
    """The lead an unknown number becomes, owned by the owner of our ``number`` (anything with ``owner_user_id``
    and ``owner_team_id``); not saved yet, its derived fields set, as a bulk insert needs."""
    lead = Lead(
        last_name=phones.display(customer)[:100],
        mobile_phone=customer,
        source=Lead.Source.INBOUND_TEXT,
        country=phones.region_of(customer) or "",
        owner_user_id=number.owner_user_id,
        owner_team_id=number.owner_team_id,
    )
    lead.derive_fields()
    return lead
