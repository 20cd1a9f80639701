"""The record types text messages live on: the one list that every list, form, query and SQL fragment derives from.

Adding a fifth record type touches: its model in ``crm/models.py`` (an ``OwnedRecord`` with ``record_type``) and its
admin page, its entry in :data:`RECORD_TYPES` below, its place in the seed's routing rule 4 (``domain/routing.py``,
``ENTITY_ORDER``), the foreign key of that name on every ``RecordLink`` model (``messaging.Conversation`` and
``sequences.SequenceConnection``) with their migrations, its own fields where code reads them (writable fields,
API schemas, import columns, the name search finds it by, template placeholders) and its translations: the list
is in docs/ARCHITECTURE.md. Everything else (record pages and lists, search, the API's record types, routing's
snapshot and SQL, imports, moves, visibility) reads this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from textdesk.domain.routing import ENTITY_ORDER


@dataclass(frozen=True)
class RecordTypeSpec:
    key: str  # also the name of the foreign key on RecordLink models, and "<key>:<id>" record keys
    label: Promise
    plural: Promise
    model_name: str
    phone_fields: tuple[str, ...]
    detail_fields: tuple[str, ...]  # shown on the record page, in order
    search_fields: tuple[str, ...]  # matched by the record search

    @property
    def model(self):
        return apps.get_model("crm", self.model_name)

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def routing_rank(self) -> int:
        return ENTITY_ORDER[self.key]

    @property
    def has_phones(self) -> bool:
        return bool(self.phone_fields)


_PHONES = ("business_phone", "mobile_phone")
_PHONE_SEARCH = ("business_phone", "mobile_phone", "business_phone_e164", "mobile_phone_e164")

# In the order of the seed's routing rule 4 (contact, account, opportunity, lead).
RECORD_TYPES: tuple[RecordTypeSpec, ...] = tuple(
    sorted(
        (
            RecordTypeSpec(
                key="account",
                label=_("Account"),
                plural=_("Accounts"),
                model_name="Account",
                phone_fields=_PHONES,
                detail_fields=(
                    "name",
                    "business_phone",
                    "mobile_phone",
                    "email",
                    "website",
                    "city",
                    "country",
                    "status_reason",
                ),
                search_fields=("name", *_PHONE_SEARCH),
            ),
            RecordTypeSpec(
                key="contact",
                label=_("Contact"),
                plural=_("Contacts"),
                model_name="Contact",
                phone_fields=_PHONES,
                detail_fields=(
                    "first_name",
                    "last_name",
                    "job_title",
                    "account",
                    "business_phone",
                    "mobile_phone",
                    "email",
                    "country",
                    "status_reason",
                ),
                search_fields=("first_name", "last_name", *_PHONE_SEARCH),
            ),
            RecordTypeSpec(
                key="lead",
                label=_("Lead"),
                plural=_("Leads"),
                model_name="Lead",
                phone_fields=_PHONES,
                detail_fields=(
                    "first_name",
                    "last_name",
                    "topic",
                    "company_name",
                    "business_phone",
                    "mobile_phone",
                    "email",
                    "source",
                    "status_reason",
                ),
                search_fields=("first_name", "last_name", "company_name", "topic", *_PHONE_SEARCH),
            ),
            RecordTypeSpec(
                key="opportunity",
                label=_("Opportunity"),
                plural=_("Opportunities"),
                model_name="Opportunity",
                phone_fields=(),
                detail_fields=(
                    "name",
                    "account",
                    "customer_contact",
                    "estimated_value",
                    "estimated_close_date",
                    "status_reason",
                ),
                search_fields=("name",),
            ),
        ),
        key=lambda spec: ENTITY_ORDER[spec.key],
    )
)

KEYS: tuple[str, ...] = tuple(spec.key for spec in RECORD_TYPES)
BY_KEY: dict[str, RecordTypeSpec] = {spec.key: spec for spec in RECORD_TYPES}
# Record types whose phone fields can hold a customer's number (routing candidates by phone).
PHONE_RECORD_TYPES: tuple[str, ...] = tuple(spec.key for spec in RECORD_TYPES if spec.has_phones)
# The foreign keys of a RecordLink model, one per record type.
LINK_FIELDS: tuple[str, ...] = KEYS


def spec(key: str) -> RecordTypeSpec:
    try:
        return BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown record type {key!r}") from None


def choices() -> list[tuple[str, Promise]]:
    """(key, plural label) of every type, for lists and forms."""
    return [(s.key, s.plural) for s in RECORD_TYPES]


class _Models:
    """Record type → model, read-only, resolved when first asked (the models may not be loaded at import)."""

    def __getitem__(self, key: str):
        return spec(key).model if key in BY_KEY else _missing(key)

    def get(self, key, default=None):
        return BY_KEY[key].model if key in BY_KEY else default

    def __contains__(self, key) -> bool:
        return key in BY_KEY

    def __iter__(self):
        return iter(KEYS)

    def __len__(self) -> int:
        return len(KEYS)

    def keys(self):
        return KEYS

    def values(self):
        return [s.model for s in RECORD_TYPES]

    def items(self):
        return [(s.key, s.model) for s in RECORD_TYPES]


def _missing(key):
    raise KeyError(key)


MODELS = _Models()
