"""``kmimg._records.frozen`` behaves as ``dataclasses.dataclass(frozen=True)`` does."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmimg._records import frozen


@frozen
class Shared:
    """A record of the shared methods (module level: pickle finds it)."""

    name: str
    size: int = 3
    tags: tuple[str, ...] = ()
    data: bytes | None = field(default=None, repr=False, compare=False)
    extra: list[int] = field(default_factory=list, hash=False)


@dataclass(frozen=True)
class Generated:
    name: str
    size: int = 3
    tags: tuple[str, ...] = ()
    data: bytes | None = field(default=None, repr=False, compare=False)
    extra: list[int] = field(default_factory=list, hash=False)


@frozen
class Child(Shared):
    colour: str = "red"


values = st.tuples(
    st.text(max_size=5),
    st.integers(-3, 3),
    st.lists(st.sampled_from("ab"), max_size=2).map(tuple),
    st.none() | st.binary(max_size=3),
)


@given(values, values)
def test_equality_and_hash_follow_the_generated_methods(a: tuple, b: tuple) -> None:  # type: ignore[type-arg]
    shared_a, shared_b = Shared(*a), Shared(*b)
    generated_a, generated_b = Generated(*a), Generated(*b)
    assert (shared_a == shared_b) == (generated_a == generated_b)
    assert (shared_a != shared_b) == (generated_a != generated_b)
    assert hash(shared_a) == hash(generated_a)
    assert repr(shared_a) == repr(generated_a).replace("Generated(", "Shared(", 1)


def test_another_class_is_not_equal() -> None:
    assert Shared("a") != Generated("a")
    assert Shared("a") != Child("a")
    assert Shared("a") != ("a", 3, (), None, [])
    assert Child("a", colour="blue") != Child("a")
    assert Child("a") == Child("a", data=b"ignored")


def test_fields_cannot_be_assigned_added_or_deleted() -> None:
    item = Shared("a", extra=[1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.size = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.other = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del item.name  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        object.__getattribute__(item, "__setattr__")("extra", [])
    assert item == Shared("a", extra=[1])


def test_replace_copy_and_pickle_keep_the_record() -> None:
    item = Child("a", 4, ("b",), b"x", [2], colour="blue")
    assert dataclasses.replace(item, size=5) == Child("a", 5, ("b",), b"x", [2], colour="blue")
    for twin in (copy.copy(item), copy.deepcopy(item), pickle.loads(pickle.dumps(item))):
        assert twin == item and twin.data == b"x" and type(twin) is Child
        with pytest.raises(dataclasses.FrozenInstanceError):
            twin.size = 1  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(item)] == ["name", "size", "tags", "data", "extra", "colour"]


def test_unhashable_field_values_make_the_hash_fail_as_generated() -> None:
    with pytest.raises(TypeError):
        hash(Shared("a", tags=([1],)))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hash(Generated("a", tags=([1],)))  # type: ignore[arg-type]


def test_a_method_of_the_class_itself_is_kept() -> None:
    @frozen
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert repr(Named("x")) == "<x>"
    assert Named("x") == Named("x")


def test_a_field_outside_init_is_refused() -> None:
    with pytest.raises(TypeError, match="__init__ argument"):

        @frozen
        class Late:
            name: str
            size: int = field(default=0, init=False)


def test_a_post_init_may_set_fields_with_object_setattr() -> None:
    @frozen
    class Derived:
        side: int
        area: int = 0

        def __post_init__(self) -> None:
            object.__setattr__(self, "area", self.side * self.side)

    assert Derived(3).area == 9
