"""Why an inbound message landed on its record, in words (Message.routing_rule → sentence)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# The inbound router records which rule of the seed's priority list decided; keys are matched loosely
# (lower case, hyphens and spaces as underscores) so small naming differences still read well.
EXPLANATIONS = {
    "recent_conversation": _("This record holds the most recent conversation between us and this number."),
    "most_recent_conversation": _("This record holds the most recent conversation between us and this number."),
    "number_owner": _("This record is owned by the seller who owns the number the customer wrote to."),
    "owner": _("This record is owned by the seller who owns the number the customer wrote to."),
    "team_member": _("This record is owned by a member of the team that owns the number the customer wrote to."),
    "team": _("This record is owned by a member of the team that owns the number the customer wrote to."),
    "record_type": _("Several records have this number; contacts come first, then accounts, opportunities and leads."),
    "active": _("Several records have this number; active records come before inactive ones."),
    "active_record": _("Several records have this number; active records come before inactive ones."),
    "recently_modified": _("Several records have this number; this one was updated most recently."),
    "most_recently_modified": _("Several records have this number; this one was updated most recently."),
    "only_match": _("This is the only record with this phone number."),
    "single_match": _("This is the only record with this phone number."),
    "new_lead": _("No record had this number, so a new lead was created for it."),
    "created_lead": _("No record had this number, so a new lead was created for it."),
    "only_candidate": _("This is the only record with this phone number."),
    "owned_by_number_owner": _("This record is owned by the seller who owns the number the customer wrote to."),
    "owned_by_team_member": _(
        "This record is owned by a member of the team that owns the number the customer wrote to."
    ),
    "entity_type": _("Several records have this number; contacts come first, then accounts, opportunities and leads."),
    "most_recently_updated": _("Several records have this number; this one was updated most recently."),
    "lowest_id": _("Several records tie on every rule; the oldest record was chosen."),
    "moved": _("A user moved this conversation to this record."),
}


def explain(rule: str) -> str:
    key = (rule or "").strip().lower().replace("-", "_").replace(" ", "_")
    if not key:
        return str(_("No routing rule was recorded for this message."))
    found = EXPLANATIONS.get(key)
    if found is None:
        return str(_("Routed by the rule “%(rule)s”.") % {"rule": rule})
    return str(found)
