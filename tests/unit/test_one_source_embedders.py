"""The embedders are declared once, in shared/models.py (MODELS): FACEGATE_EMBEDDER's choices,
default and description, and the embedders the workers load, are all read from it."""

from typing import get_args

from shared.models import DEFAULT_EMBEDDER, EMBEDDER_NAMES, MODELS, embedder_choices
from shared.settings import Settings


def test_the_setting_offers_exactly_the_models():
    field = Settings.model_fields["embedder"]
    assert get_args(field.annotation) == EMBEDDER_NAMES
    assert set(EMBEDDER_NAMES) == set(MODELS)
    assert field.default == DEFAULT_EMBEDDER and DEFAULT_EMBEDDER in MODELS
    # the order FACEGATE_EMBEDDER's error lists them in: the default, then by name
    assert EMBEDDER_NAMES == ("facenet", "arcface", "facenet-m14")


def test_the_description_names_every_model_with_its_summary():
    text = Settings.model_fields["embedder"].description
    assert text == embedder_choices()
    for name, spec in MODELS.items():
        assert f"`{name}` ({spec.summary}" in text
    assert f"`{DEFAULT_EMBEDDER}` ({MODELS[DEFAULT_EMBEDDER].summary}, the default)" in text


def test_the_workers_load_exactly_the_models():
    from services.vision.embedders import EMBEDDERS

    assert set(EMBEDDERS) == set(MODELS)
    for name, embedder in EMBEDDERS.items():
        assert embedder.spec is MODELS[name], name
