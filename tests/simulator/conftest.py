# The simulator's tests use the same local servers as the provider tests.
from tests.providers.conftest import replay, simulator, sink  # noqa: F401
