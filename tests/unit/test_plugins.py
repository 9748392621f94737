from __future__ import annotations

from dataclasses import dataclass

import pytest

from conveyor.errors import UserError
from conveyor.plugins import Registry


@dataclass(frozen=True)
class Thing:
    name: str
    size: int = 0


def test_a_registry_gives_back_what_was_added_by_name_and_in_order() -> None:
    things = Registry[Thing]("thing")
    big, small = Thing("big", 2), Thing("small", 1)
    things.register(small)
    things.register(big)
    assert things.get("big") is big
    assert things.names() == ["big", "small"]
    assert list(things) == [small, big]  # the order they were added, not sorted


def test_a_second_plugin_of_a_name_is_refused_and_the_first_kept() -> None:
    things = Registry[Thing]("thing")
    first = Thing("a", 1)
    things.register(first)
    with pytest.raises(ValueError, match="a thing named 'a' is registered already"):
        things.register(Thing("a", 2))
    assert things.get("a") is first
    assert list(things) == [first]


def test_an_unknown_name_is_the_users_error_and_lists_the_valid_names() -> None:
    things = Registry[Thing]("thing")
    for name in ("b", "a"):
        things.register(Thing(name))
    with pytest.raises(UserError, match=r"^unknown thing 'c'; use one of a, b$"):
        things.get("c")


def test_registries_share_nothing() -> None:
    one, two = Registry[Thing]("thing"), Registry[Thing]("thing")
    one.register(Thing("a"))
    assert two.names() == []
