"""Every docstring example in biomedai.metrics runs and gives the printed answer."""
from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import biomedai.metrics

MODULES = ["segmentation", "instance", "classification", "detection", "survival", "image_quality", "bootstrap", "agreement"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"biomedai.metrics.{name}")
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_public_functions_are_documented():
    for name in biomedai.metrics.__all__:
        obj = getattr(biomedai.metrics, name)
        if callable(obj) and not isinstance(obj, type):
            assert obj.__doc__ and len(obj.__doc__.strip()) > 20, name
