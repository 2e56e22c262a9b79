"""The in-memory gallery (tests/fakes) on the shared gallery cases, which PostgreSQL passes too
(tests/integration/test_gallery_port.py), and both galleries held to the port's signatures."""

from __future__ import annotations

import asyncio

import pytest

from services.gallery.database import Gallery
from services.recognition.gallery_port import GalleryPort, IdentitiesPort
from tests.fakes.gallery import FakeGallery
from tests.support.gallery_cases import CASES, OPTIONS, Case, mismatches


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_fake_gallery(case: Case):
    asyncio.run(case(FakeGallery(**OPTIONS)))


@pytest.mark.parametrize("implementation", [Gallery, FakeGallery],
                         ids=lambda cls: cls.__name__)
def test_implements_the_port(implementation: type):
    assert mismatches(GalleryPort, implementation) == []


def test_a_signature_that_drifted_is_named():
    class Drifted:
        async def put(self, app: int, id_card_number: str, name: str, vector, model: int
                      ) -> bool: ...

        def get(self, app: int, id_card_number: str): ...

    assert mismatches(IdentitiesPort, Drifted) == [
        "Drifted.put(self, app: 'int', id_card_number: 'str', name: 'str', vector, "
        "model: 'int') -> 'bool' is not the port's (self, app: 'int', id_card_number: 'str', "
        "name: 'str', vector: 'np.ndarray', model: 'int') -> 'bool'",
        "Drifted.get: async in one, not in the other",
        "Drifted.delete is missing"]
