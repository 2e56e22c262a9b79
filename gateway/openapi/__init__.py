"""The OpenAPI 3.1 document of every route the gateway serves, generated from the code.

Paths and methods come from the dialects' own route tables (the ones their mounts are built
from); each operation's summary is its handler's docstring; its parameters, statuses and
(native) answer fields are read off the handler (handlers.py; answer types: shared/answers.py).
So a new parameter is documented by the line that reads it, and
tests/integration/test_openapi.py checks the document against the app's real routes and
fuzzes the real stack from it.
"""

from gateway.openapi.document import document, operations_of_app

__all__ = ["document", "operations_of_app"]
