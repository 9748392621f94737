"""The public surface: a curated, sorted ``__all__`` whose names all resolve, loaded lazily."""

from __future__ import annotations

import conveyor
from tests.unit.test_import_light import HEAVY, heavy_in, imported_modules


def test_all_is_sorted_and_complete() -> None:
    assert conveyor.__all__ == sorted(conveyor.__all__)
    for name in conveyor.__all__:
        assert getattr(conveyor, name) is not None


def test_unknown_names_are_attribute_errors() -> None:
    try:
        conveyor.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("conveyor.nope resolved")


def test_reaching_the_api_stays_light() -> None:
    code = "import conveyor; conveyor.Project; conveyor.serve; conveyor.Registry"
    assert heavy_in(imported_modules(code), HEAVY) == []
