"""Where the migration environment and the test suite find every model."""

import importlib

MODEL_MODULES = ("accounts.models", "ipam.models", "importers.models", "filing.models")


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
