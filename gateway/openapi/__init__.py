"""The OpenAPI 3.1 document of every route the gateway serves, generated from the code.

Paths and methods come from the one list of dialect routes the app mounts (gateway/routes.py,
gathered from each dialect's own table); each operation's summary is its handler's docstring;
its parameters (with their constraints), success statuses and answers come from its declared
contract (gateway/contract.py: the model the frame validates with; answer types in
shared/answers.py and each dialect's answers.py). So the document cannot drift from what is
checked, and tests/integration/test_openapi.py checks it against the app's real routes and
fuzzes the real stack from it.
"""

from gateway.openapi.document import document, operations_of_app

__all__ = ["document", "operations_of_app"]
