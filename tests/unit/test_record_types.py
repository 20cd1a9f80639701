"""The record-type registry is the one list: models, choices, routing order and links all agree with it."""

from __future__ import annotations

from textdesk.crm import record_types
from textdesk.crm.models import RECORD_MODELS, OwnedRecord, RecordType
from textdesk.domain.routing import ENTITY_ORDER


def test_every_registered_type_has_its_model_choice_and_routing_rank():
    assert [value for value, _label in RecordType.choices] == list(record_types.KEYS)
    assert set(ENTITY_ORDER) == set(record_types.KEYS)
    assert list(record_types.KEYS) == sorted(record_types.KEYS, key=ENTITY_ORDER.get)  # rule 4's order
    for spec in record_types.RECORD_TYPES:
        model = RECORD_MODELS[spec.key]
        assert issubclass(model, OwnedRecord) and model.record_type == spec.key
        for field in spec.phone_fields:
            model._meta.get_field(field)
            model._meta.get_field(f"{field}_e164")
        for field in spec.detail_fields + spec.search_fields:
            model._meta.get_field(field)


def test_every_record_link_model_has_a_key_per_type():
    from textdesk.messaging.models import Conversation
    from textdesk.sequences.models import SequenceConnection

    for model in (Conversation, SequenceConnection):
        for key in record_types.LINK_FIELDS:
            assert model._meta.get_field(key).related_model is RECORD_MODELS[key]


def test_unknown_types_are_refused():
    assert "invoice" not in RECORD_MODELS and RECORD_MODELS.get("invoice") is None
    try:
        record_types.spec("invoice")
    except ValueError as exc:
        assert "invoice" in str(exc)
    else:
        raise AssertionError("an unknown record type was accepted")
