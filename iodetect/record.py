"""Frozen records: frozen dataclasses whose methods are shared, not compiled per class.

`@dataclass(frozen=True)` writes __init__, __repr__, __eq__, __hash__, __setattr__ and
__delattr__ of each class as source text and compiles it: about a millisecond a class, and the
model, the catalog and the recommender define tens of them, which every `iodetect report` and
`iodetect snippet` paid at start-up. `@frozen` makes the same frozen dataclass (is_dataclass,
fields, replace and asdict work on it, __dataclass_params__ says frozen, type checkers read it
as one through dataclass_transform) with methods that read the class's field list when called.
tests/test_record.py holds it to what `@dataclass(frozen=True)` does.
"""

from __future__ import annotations

import dataclasses
import inspect  # dataclasses imports it anyway
import reprlib
import sys
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: object) -> Callable[[Any], Any]:
        return lambda decorator: decorator


C = TypeVar("C", bound=type)

_MISSING = dataclasses.MISSING
_set = object.__setattr__


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def frozen(cls: C) -> C:
    """The class as a frozen dataclass: `@frozen` stands for `@dataclass(frozen=True)`.

    Field options beyond a default, a default_factory, repr, compare and hash (init=False,
    kw_only, InitVar, __post_init__) and dataclass bases are refused: use @dataclass for those.
    """
    made: C = _make(cls)
    return made


def _make(cls: Any) -> Any:
    if any(hasattr(base, "__dataclass_fields__") for base in cls.__mro__[1:]):
        raise TypeError(f"record {cls.__qualname__}: a dataclass base; use @dataclass for it")
    undocumented = not cls.__doc__
    if undocumented:
        cls.__doc__ = cls.__name__  # spares dataclass() its inspect.signature(); set below
    # Fields only: with init, repr and eq off and not frozen, dataclass() compiles nothing.
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    fields = dataclasses.fields(cls)
    for f in fields:
        if not f.init or f.kw_only is True:
            raise TypeError(f"record {cls.__qualname__}: field {f.name!r} is not a plain field")
    if hasattr(cls, "__post_init__") or len(fields) != len(cls.__annotations__):
        raise TypeError(f"record {cls.__qualname__}: __post_init__, ClassVar or InitVar")
    if undocumented:
        cls.__doc__ = cls.__name__ + "(" + ", ".join(map(_shown, fields)) + ")"

    own = cls.__dict__
    for name in ("__setattr__", "__delattr__"):
        if name in own:  # as dataclass(frozen=True) says it
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    methods: dict[str, Any] = {
        "__init__": _init(cls, fields),
        "__repr__": _repr(tuple(f.name for f in fields if f.repr)),
        "__eq__": _eq(tuple(f.name for f in fields if f.compare)),
        "__setattr__": _setattr(cls, frozenset(f.name for f in fields)),
        "__delattr__": _delattr(cls, frozenset(f.name for f in fields)),
    }
    own_hash = own.get("__hash__", _MISSING)
    if own_hash is _MISSING or (own_hash is None and "__eq__" in own):  # no explicit __hash__
        hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        methods["__hash__"] = _hash(_getter(hashed))
    for name, method in methods.items():
        if name not in own or name in ("__setattr__", "__delattr__", "__hash__"):
            method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
    params = cls.__dataclass_params__
    params.init = params.repr = params.eq = params.frozen = True  # what the class now has
    return cls


def _shown(f: dataclasses.Field[Any]) -> str:
    """A field as inspect.signature() shows a parameter of the __init__ dataclass() writes."""
    shown = repr(f.type) if isinstance(f.type, str) else inspect.formatannotation(f.type)
    text = f"{f.name}: {shown}"
    if f.default is not _MISSING:
        return f"{text} = {f.default!r}"
    if f.default_factory is not _MISSING:
        return f"{text} = <factory>"
    return text


def _getter(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """The values of the fields `names` as a tuple, as the generated methods compare them."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    return lambda obj: ()


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    names = tuple(f.name for f in fields)
    index = {name: i for i, name in enumerate(names)}
    defaults = {f.name: f.default for f in fields if f.default is not _MISSING}
    factories = {f.name: f.default_factory for f in fields if f.default_factory is not _MISSING}
    where = f"{cls.__qualname__}.__init__()"
    least = sum(1 for f in fields if f.default is _MISSING and f.default_factory is _MISSING)

    def __init__(self: object, *args: Any, **kwargs: Any) -> None:
        given = len(args)
        if given == len(names) and not kwargs:  # every field given in order: most records
            for name, value in zip(names, args):
                _set(self, name, value)
            return
        if given > len(names):
            takes = (
                f"{len(names) + 1}"
                if least == len(names)
                else f"from {least + 1} to {len(names) + 1}"
            )
            raise TypeError(
                f"{where} takes {takes} positional arguments but {given + 1} were given"
            )
        for name in kwargs:
            at = index.get(name)
            if at is None:
                raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
            if at < given:
                raise TypeError(f"{where} got multiple values for argument {name!r}")
        missing = []
        for i, name in enumerate(names):
            if i < given:
                value = args[i]
            elif name in kwargs:
                value = kwargs[name]
            elif name in defaults:
                value = defaults[name]
            elif name in factories:
                value = factories[name]()
            else:
                missing.append(repr(name))
                continue
            _set(self, name, value)
        if missing:
            listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1])
            if len(missing) > 1:
                listed += ("," if len(missing) > 2 else "") + f" and {missing[-1]}"
            plural = "argument" if len(missing) == 1 else "arguments"
            raise TypeError(
                f"{where} missing {len(missing)} required positional {plural}: {listed}"
            )

    return __init__


def _repr(names: tuple[str, ...]) -> Callable[[object], str]:
    @reprlib.recursive_repr()
    def __repr__(self: object) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def _eq(names: tuple[str, ...]) -> Callable[[object, object], Any]:
    """dataclass()'s __eq__ of this Python: up to 3.12 the field tuples compared (a NaN held by
    both is equal, by identity); from 3.13 `self is other`, then field by field with `and`."""
    if sys.version_info < (3, 13):
        values = _getter(names)

        def __eq__(self: object, other: object) -> Any:
            if other.__class__ is self.__class__:
                return values(self) == values(other)
            return NotImplemented

        return __eq__

    def __eq__313(self: object, other: object) -> Any:
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        result: Any = True
        for name in names:
            result = getattr(self, name) == getattr(other, name)
            if not result:
                return result
        return result

    return __eq__313


def _hash(values: Callable[[object], tuple[Any, ...]]) -> Callable[[object], int]:
    def __hash__(self: object) -> int:
        return hash(values(self))

    return __hash__


def _setattr(cls: type, names: frozenset[str]) -> Callable[[object, str, Any], None]:
    def __setattr__(self: object, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]

    return __setattr__


def _delattr(cls: type, names: frozenset[str]) -> Callable[[object, str], None]:
    def __delattr__(self: object, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[arg-type]

    return __delattr__
