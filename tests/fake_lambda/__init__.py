"""A local Lambda Cloud API that follows the published OpenAPI document.

``FakeLambda`` serves the endpoints Hearth uses on 127.0.0.1 (random port) and checks every
request it receives and every response it sends against the document's schemas; each
mismatch is recorded in ``FakeLambda.violations`` and the pytest fixture fails the test.
"""
from .contract import Contract, load_contract
from .server import FakeLambda

__all__ = ["Contract", "FakeLambda", "load_contract"]
