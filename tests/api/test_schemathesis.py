"""Property-based run of schemathesis over the whole REST API: no input gets a 5xx, every answer matches the
OpenAPI document (status listed, content type, schema). Seeded and bounded (examples per operation), so a
failure replays the same way; logged in as the demo's administrator, who sees every kind of data."""

from __future__ import annotations

import time

import hypothesis
import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def connection_kept():
    """Like Django's test client: the requests share the test's transaction, so nothing closes the connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(db, connection_kept):
    from textdesk.demo.organisation import seed_demo
    from textdesk.demo.sequences import seed_sequences_demo
    from textdesk.org.models import ApiToken, User

    seed_demo()
    seed_sequences_demo()
    return ApiToken.issue(User.objects.get(username="admin"))[1]


def test_no_input_gets_a_server_error_or_breaks_the_schema(admin_token):
    headers = {"Authorization": f"Bearer {admin_token}"}
    failures: list[str] = []
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    for operation in operations:
        # Inputs that fit the schema, and inputs that break it (wrong types, out-of-range numbers, missing fields).
        strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)

        @hypothesis.given(case=strategy)
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as failure:  # noted, and every failing operation is reported
            failures.append(f"{operation.method.upper()} {operation.path}: {str(failure)[:1500]}")
    print(f"schemathesis: {len(operations)} operations in {time.monotonic() - started:.1f} s")
    assert not failures, "\n\n".join(failures)
