"""@frozen against @dataclass(frozen=True): the same class in everything a caller can see."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from iodetect import catalog, model
from iodetect.recommend import idiom, limits, loop, plan, selector
from iodetect.record import frozen

# --- the same class body decorated both ways ---------------------------------------------------


def body() -> dict[str, Any]:
    """A class body with what the records use: required fields, defaults, a default factory,
    tuples, a property, a method, a field left out of repr and one left out of comparisons."""

    def label(self: Any) -> str:
        return f"{self.name}/{self.count}"

    return {
        "__annotations__": {
            "name": "str",
            "count": "int",
            "tags": "tuple[str, ...]",
            "note": "str | None",
            "extra": "tuple[int, ...]",
            "secret": "str",
            "weight": "float",
        },
        "tags": (),
        "note": None,
        "extra": dataclasses.field(default_factory=tuple),
        "secret": dataclasses.field(default="s", repr=False),
        "weight": dataclasses.field(default=1.0, compare=False),
        "label": property(label),
        "__module__": __name__,
    }


Ours = frozen(type("Sample", (), body()))
Theirs = dataclasses.dataclass(frozen=True)(type("Sample", (), body()))
Empty = frozen(type("Empty", (), {"__module__": __name__, "__annotations__": {}}))
EmptyTheirs = dataclasses.dataclass(frozen=True)(
    type("Empty", (), {"__module__": __name__, "__annotations__": {}})
)
globals()["Sample"] = Ours  # pickle finds the class by its name


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("a", 1), {}),
    (("a", 1, ("x", "y"), "n", (3,), "t", 2.0), {}),
    (("a",), {"count": 2, "extra": (1,)}),
    ((), {"name": "b", "count": 3, "weight": 5.0}),
    (("a", 1.0), {}),  # 1 == 1.0: equal, same hash
    (("a", float("nan")), {}),
]
BAD_CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    (("a",), {}),
    ((), {"count": 1}),
    (("a", 1, (), None, (), "s", 1.0, "extra"), {}),
    (("a", 1), {"name": "b"}),
    (("a", 1), {"colour": "red"}),
]


def outcome(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        obj = cls(*args, **kwargs)
    except TypeError as exc:
        return ("TypeError", str(exc).replace(cls.__qualname__, "C"))
    return obj


@pytest.mark.parametrize(("args", "kwargs"), CALLS + BAD_CALLS)
def test_construction_repr_and_errors_match(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    ours, theirs = outcome(Ours, args, kwargs), outcome(Theirs, args, kwargs)
    if isinstance(theirs, tuple):
        assert ours == theirs
        return
    assert repr(ours) == repr(theirs)
    assert vars(ours) == vars(theirs) and list(vars(ours)) == list(vars(theirs))
    assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
    assert dataclasses.astuple(ours) == dataclasses.astuple(theirs)
    assert ours.label == theirs.label


def test_equality_and_hash_match() -> None:
    ours = [Ours(*a, **k) for a, k in CALLS]
    theirs = [Theirs(*a, **k) for a, k in CALLS]
    for i in range(len(CALLS)):
        assert hash(ours[i]) == hash(theirs[i])
        for j in range(len(CALLS)):
            assert (ours[i] == ours[j]) == (theirs[i] == theirs[j]), (i, j)
            assert (ours[i] != ours[j]) == (theirs[i] != theirs[j]), (i, j)
    assert Ours("a", 1) != Theirs("a", 1)  # another class: never equal
    assert Ours("a", 1).__eq__(("a", 1)) is NotImplemented
    assert Ours("a", 1, weight=9.0) == Ours("a", 1)  # compare=False
    assert len({Ours("a", 1), Ours("a", 1), Ours("b", 1)}) == 2
    assert Empty() == Empty() and hash(Empty()) == hash(EmptyTheirs())
    assert repr(Empty()) == repr(EmptyTheirs())
    nan = float("nan")  # one NaN in two records: equal up to 3.12, not from 3.13, as dataclass
    assert (Ours("a", nan) == Ours("a", nan)) == (Theirs("a", nan) == Theirs("a", nan))
    assert (Ours("a", nan) != Ours("a", nan)) == (Theirs("a", nan) != Theirs("a", nan))


def test_a_dataclass_base_is_refused_in_words() -> None:
    with pytest.raises(TypeError, match="record Child: a dataclass base"):
        frozen(type("Child", (Ours,), {"__module__": __name__, "__annotations__": {"z": "int"}}))


def test_frozen_matches() -> None:
    for cls in (Ours, Theirs):
        obj = cls("a", 1)
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
            obj.name = "b"  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'other'"):
            obj.other = 1
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'count'"):
            del obj.count  # type: ignore[misc]
        assert obj.name == "a"


def test_dataclass_functions_and_class_attributes_match() -> None:
    assert dataclasses.is_dataclass(Ours) and dataclasses.is_dataclass(Ours("a", 1))
    ours, theirs = dataclasses.fields(Ours), dataclasses.fields(Theirs)
    assert [repr(f) for f in ours] == [repr(f) for f in theirs]
    for name in ("init", "repr", "eq", "order", "unsafe_hash", "frozen"):
        assert getattr(Ours.__dataclass_params__, name) == getattr(  # type: ignore[attr-defined]
            Theirs.__dataclass_params__,  # type: ignore[attr-defined]
            name,
        )
    assert Ours.__match_args__ == Theirs.__match_args__  # type: ignore[attr-defined]
    assert Ours.__doc__ == Theirs.__doc__
    assert Empty.__doc__ == EmptyTheirs.__doc__
    changed = dataclasses.replace(Ours("a", 1), count=2, note="n")
    assert changed == Ours("a", 2, note="n")
    assert repr(changed) == repr(dataclasses.replace(Theirs("a", 1), count=2, note="n"))
    with pytest.raises(TypeError):
        dataclasses.replace(Ours("a", 1), colour="red")
    for method in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"):
        assert getattr(Ours, method).__qualname__ == f"Sample.{method}"
    obj = Ours("a", 1, extra=(1, 2))
    assert pickle.loads(pickle.dumps(obj)) == obj
    assert copy.deepcopy(obj) == obj and copy.copy(obj) == obj


def test_a_class_that_defines_its_own_methods_keeps_them() -> None:
    def own_repr(self: Any) -> str:
        return "mine"

    def own_hash(self: Any) -> int:
        return 7

    ours = frozen(
        type(
            "Own", (), {"__annotations__": {"a": "int"}, "__repr__": own_repr, "__hash__": own_hash}
        )
    )
    theirs = dataclasses.dataclass(frozen=True)(
        type(
            "Own", (), {"__annotations__": {"a": "int"}, "__repr__": own_repr, "__hash__": own_hash}
        )
    )
    assert repr(ours(1)) == repr(theirs(1)) == "mine"
    assert hash(ours(1)) == hash(theirs(1)) == 7
    with pytest.raises(TypeError, match="Cannot overwrite attribute __setattr__"):
        frozen(type("Bad", (), {"__annotations__": {"a": "int"}, "__setattr__": own_repr}))


@pytest.mark.parametrize(
    "spec",
    [
        {"a": dataclasses.field(default=1, init=False)},
        {"a": dataclasses.field(default=1, kw_only=True)},
        {"__post_init__": lambda self: None},
    ],
    ids=["init=False", "kw_only", "__post_init__"],
)
def test_what_it_does_not_do_is_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="record Odd"):
        frozen(type("Odd", (), {"__annotations__": {"a": "int"}, **spec}))


# --- the project's records: each one as @dataclass(frozen=True) would make it -------------------


def records() -> list[type]:
    modules = (model, catalog.records, catalog.cpython, catalog.support)
    modules += (plan, idiom, limits, loop, selector)
    return [
        cls
        for module in modules
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__
        if dataclasses.is_dataclass(cls)
    ]


def twin(cls: type) -> type:
    """The class as @dataclass(frozen=True) makes it from the same fields and namespace."""
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    namespace = {k: v for k, v in vars(cls).items() if not k.startswith("__") and k not in names}
    spec = [(f.name, f.type, dataclasses.field(default=f.default)) for f in fields]
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True, namespace=namespace)


def test_the_records_are_frozen_dataclasses() -> None:
    found = records()
    assert len(found) >= 40  # the list is the real one
    for cls in found:
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen and params.eq and params.init and params.repr, cls
        assert cls.__doc__, cls


@pytest.mark.parametrize("record", catalog.all_records(), ids=lambda r: type(r).__name__)
def test_every_catalog_record_repr_eq_and_hash_as_a_dataclass(record: Any) -> None:
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    other = twin(type(record))(**values)
    assert repr(record) == repr(other)
    assert hash(record) == hash(other)
    assert record == type(record)(**values) and record != other
