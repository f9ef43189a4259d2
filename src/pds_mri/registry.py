"""Name -> member registries for the open sets of the tool: maps, samplers, classifiers.

Like MONAI's ComponentStore, a registry lists its members in every error and in the CLI help, so a new
member is known everywhere once its file registers it; `import_members` imports a package's modules, so
that file is the only one to add. Light on purpose (standard library only): the config and the CLI read the
names, and a member module keeps its heavy imports (torch, scikit-learn, dipy) inside its functions.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pds_mri.errors import PdsError

T = TypeVar("T")


class UnknownName(PdsError, ValueError):
    """A name that is not a member; a ValueError too, so pydantic validators report it as a field error."""


class Registry(Generic[T]):
    """Members by name, in registration order with the default first.

    `kind` names the members in messages ("sampler", "fMRI map"); `default` is the member used when none is
    chosen (the config's and the CLI's default).
    """

    def __init__(self, kind: str, default: str | None = None) -> None:
        self.kind = kind
        self._default = default
        self._members: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        """Decorator: `@SAMPLERS.register("ddim", help="...")` above a class (or function) adds it as `name`."""

        def add(member: T) -> T:
            self.add(name, member, help)
            return member

        return add

    def add(self, name: str, member: T, help: str = "") -> None:
        if name in self._members:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._members[name] = member
        self._help[name] = help

    def remove(self, name: str) -> None:
        """Take a member out again (a test that registered one for its own duration)."""
        self.check(name)
        del self._members[name], self._help[name]

    @property
    def default(self) -> str:
        if self._default is None or self._default not in self._members:
            raise ValueError(f"the {self.kind} registry has no default member (members: {', '.join(self._members)})")
        return self._default

    def names(self) -> tuple[str, ...]:
        first = [self._default] if self._default in self._members else []
        return (*first, *(n for n in self._members if n != self._default))

    def check(self, name: str, where: str | None = None) -> str:
        """`name` itself when it is a member; else an UnknownName listing the members (`where`: the option)."""
        if name not in self._members:
            prefix = f"{where}: " if where else ""
            raise UnknownName(f"{prefix}unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}")
        return name

    def get(self, name: str, where: str | None = None) -> T:
        return self._members[self.check(name, where)]

    def help(self, name: str) -> str:
        return self._help[self.check(name)]

    def describe(self) -> str:
        """Every member with its help, for the CLI: `a (what a is), b (what b is)`."""
        return ", ".join(f"{n} ({self._help[n]})" if self._help[n] else n for n in self.names())

    def items(self) -> Iterator[tuple[str, T]]:
        for name in self.names():
            yield name, self._members[name]

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._members)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"


def import_members(package: str, path: list[str] | tuple[str, ...]) -> None:
    """Import every public module of a package (sorted, so registration order is stable): each file that
    registers a member is then found without being listed anywhere. Call it from the package's __init__."""
    for module in sorted(m.name for m in pkgutil.iter_modules(path)):
        if not module.startswith("_"):
            importlib.import_module(f"{package}.{module}")
