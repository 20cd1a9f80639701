"""The OpenAPI document is public, valid and describes every resource."""

from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

RESOURCES = ["users", "teams", "accounts", "contacts", "leads", "opportunities", "sender-numbers", "provider-accounts"]


def test_openapi_document_is_served_without_a_token():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = json.loads(response.content)
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "TextDesk API"
    for resource in RESOURCES:
        assert f"/api/v1/{resource}" in doc["paths"], resource
        assert "post" in doc["paths"][f"/api/v1/{resource}"]
    assert "put" in doc["paths"]["/api/v1/contacts/by-external-id/{external_id}"]
    schemes = doc["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


def test_openapi_document_is_internally_consistent():
    """Every operation id is unique and every $ref points at a defined schema."""
    doc = json.loads(Client().get("/api/v1/openapi.json").content)
    operation_ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))
    defined = set(doc["components"]["schemas"])
    refs: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"].rsplit("/", 1)[-1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs and set(refs) <= defined
    provider_out = doc["components"]["schemas"]["ProviderAccountOut"]["properties"]
    assert "credentials" not in provider_out and "inbound_url" in provider_out


def test_openapi_document_validates_against_the_specification():
    from openapi_spec_validator import validate

    validate(json.loads(Client().get("/api/v1/openapi.json").content))


def test_docs_page_is_served_from_our_own_static_files():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert "/api/v1/openapi.json" in page
