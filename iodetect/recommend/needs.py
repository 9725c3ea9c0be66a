"""Needs: parsing what the user asks for, and deriving what installed libraries ask for."""

from __future__ import annotations

from iodetect.catalog import cpython, libraries
from iodetect.catalog.records import LibraryRule, LibReq, version_tuple
from iodetect.model import (
    LOOP_CHOICES,
    NEED_NAMES,
    SELECTOR_NAMES,
    Facts,
    NeedName,
    parse_name,
)
from iodetect.recommend.plan import (
    Conflict,
    DerivedNeed,
    Needs,
    NeedsError,
    Note,
    PythonRange,
)


class Notes:
    """What the steps of a recommendation say: reasons, warnings and conflicts, each coded."""

    def __init__(self) -> None:
        self.reasons: list[Note] = []
        self.warnings: list[Note] = []
        self.conflicts: list[Conflict] = []

    def reason(self, text: str, source: str, code: str = "") -> None:
        self.reasons.append(Note(text, source, code))

    def warn(self, text: str, source: str, code: str = "") -> None:
        if all(w.text != text for w in self.warnings):
            self.warnings.append(Note(text, source, code))

    def conflict(self, message: str, remedy: str, source: str, code: str) -> None:
        self.conflicts.append(Conflict(message, remedy, source, code))


def parse_python(text: str) -> PythonRange:
    """The versions a generated module runs on, from --target-python (the catalog's parser,
    shared with `scan`): '3.12', '3.9+', '3.9-3.12'; a release such as '3.11.7' stands for its
    minor, and a list ('3.9,3.12') for the one range that holds every item."""
    try:
        low, high = cpython.hull(cpython.parse_versions(text))
    except cpython.VersionError as exc:
        raise NeedsError(str(exc)) from None
    return PythonRange(low, high)


def parse_needs(text: str | None) -> frozenset[NeedName]:
    """'add_reader,subprocess' -> frozenset; unknown names are an error naming the valid ones."""
    if not text:
        return frozenset()
    names = sorted({part.strip() for part in text.split(",") if part.strip()})
    try:
        return frozenset(parse_name(NeedName, n, "need") for n in names)
    except ValueError as exc:
        raise NeedsError(str(exc)) from None


def validate(needs: Needs) -> None:
    """Every name in `needs` is one the vocabularies know; connections are positive."""
    checks: list[tuple[object, tuple[str, ...], str]] = [
        *((n, NEED_NAMES, "need") for n in sorted(needs.needs)),
        (needs.loop, LOOP_CHOICES, "loop"),
    ]
    if needs.selector is not None:
        checks.append((needs.selector, SELECTOR_NAMES, "selector"))
    for value, allowed, what in checks:
        if value not in allowed:
            raise NeedsError(f"unknown {what} {value!r} (choose from {', '.join(allowed)})")
    if needs.connections is not None and needs.connections < 1:
        raise NeedsError("--connections must be a positive number")


# --- needs installed libraries imply ---------------------------------------------------------


def installed(facts: Facts) -> dict[str, str]:
    """Installed libraries of the facts, by normalized distribution name -> version text."""
    return {libraries.normalize(lib.name): lib.version for lib in facts.libraries}


def _holds(req: LibReq, have: dict[str, str]) -> bool | None:
    """Is `req` met? None: a dependency the facts do not list, so unknown."""
    text = have.get(req.dist)
    if text is None:
        return None if req.dependency else False
    version = version_tuple(text)
    return version is not None and version in req.versions


def _applies(rule: LibraryRule, have: dict[str, str], family: str) -> bool | None:
    """Does the rule apply to these facts? None: it depends on what the facts cannot say."""
    text = have.get(rule.dist)
    if text is None or (rule.families is not None and family not in rule.families):
        return False
    version = version_tuple(text)
    bounded = rule.versions.low is not None or rule.versions.high is not None
    if version is None and bounded:
        return None  # installed, but its version says nothing the rule can compare
    if version is not None and version not in rule.versions:
        return False
    when = _holds(rule.when, have) if rule.when is not None else True
    unless = _holds(rule.unless, have) if rule.unless is not None else False
    if when is False or unless is True:
        return False
    if when is None or unless is None:
        return None
    return True


def derive(facts: Facts, family: str, notes: Notes) -> tuple[DerivedNeed, ...]:
    """Needs implied by installed libraries, each naming the library; warnings for the rest."""
    have = installed(facts)
    found: list[DerivedNeed] = []
    for rule in libraries.RULES:
        applies = _applies(rule, have, family)
        if applies is False:
            continue
        who = f"{rule.dist} {have[rule.dist]}"
        if applies is None or rule.effect == "warns":
            unsure = " (the facts do not list its dependencies, so iodetect cannot tell)"
            notes.warn(
                f"{who}: {rule.why}" + (unsure if applies is None else ""),
                rule.source,
                f"library.{rule.dist}",
            )
        elif rule.effect == "none":
            notes.reason(f"{who}: {rule.why}", rule.source, f"library.{rule.dist}")
        elif rule.need is not None:
            strict = rule.effect == "needs"
            found.append(DerivedNeed(rule.need, who, rule.why, rule.source, strict))
    return tuple(found)


def who(derived: tuple[DerivedNeed, ...], need: str, asked: frozenset[str]) -> str:
    """Who asks for `need`: --needs and the libraries that strictly need it."""
    names = [d.library for d in derived if d.need == need and d.strict]
    if need in asked:
        names.insert(0, "--needs")
    return ", ".join(names) or "--needs"
