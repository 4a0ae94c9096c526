"""The light table of built-in names equals the registries once the families are imported."""
import pytest

import gankit.data  # noqa: F401  (registers the datasets)
import gankit.losses  # noqa: F401  (registers the losses)
import gankit.models  # noqa: F401  (registers the model families)
from gankit import catalog
from gankit.errors import GankitError
from gankit.registry import DATASETS, LOSSES, MODELS, Registry


def test_model_table_matches_the_registered_families():
    assert {name: MODELS.get(name).summary for name in MODELS} == catalog.MODEL_SUMMARIES


def test_loss_table_matches_the_registered_losses():
    assert {name: LOSSES.get(name).summary for name in LOSSES} == catalog.LOSS_SUMMARIES


def test_dataset_names_match_the_registered_datasets():
    assert sorted(catalog.DATASET_NAMES) == DATASETS.names()


def test_check_lists_the_valid_names():
    with pytest.raises(GankitError, match="unknown loss 'nope'; valid: bce, hinge, lsgan, minimax, nonsaturating, rpgan, wasserstein$"):
        catalog.check("loss", "nope")
    catalog.check("model", "stylegan3")


def test_a_name_registered_at_run_time_counts(monkeypatch):
    registry: Registry = Registry("model")
    registry.register("mine")(object())
    monkeypatch.setitem(catalog._TABLES, "model", (registry, ("dcgan",)))
    assert catalog.names("model") == ["dcgan", "mine"]
    catalog.check("model", "mine")
