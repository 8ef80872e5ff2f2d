"""Lazy sub-commands: the root knows each command's name, where it lives and its one-paragraph
summary; a command's module is imported and its click command built only when it is needed (run,
completed, or its own help asked for), never for the root's ``--help`` (issue 22)."""

import sys
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass

import typer
from typer._click.core import Command  # typer vendors its own click


@dataclass(frozen=True)
class CommandRef:
    """One sub-command of the root: ``target`` is ``"module:attribute"``, a command function or a
    sub-app's ``Typer``; ``summary`` is the first paragraph of its help, as the root's ``--help``
    lists it (tests/test_cli_lazy.py checks it against the built command)."""

    name: str
    target: str
    summary: str

    def register(self, app: typer.Typer) -> None:
        """Register it on ``app`` the way Typer registers any command (imports its module)."""
        module, _, attribute = self.target.partition(":")
        __import__(module)  # the import statement's path: `python -X importtime` shows it
        obj = getattr(sys.modules[module], attribute)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=self.name)
        else:
            app.command(self.name)(obj)


class LazyCommands(MutableMapping[str, Command]):
    """A group's ``commands``: the names are known up front (iteration, ``in``, ``len`` build
    nothing); a command is built by ``build(name)`` on first access and kept."""

    def __init__(self, names: Iterable[str], build: Callable[[str], Command]) -> None:
        self._names = list(names)
        self._build = build
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in self._names:
                raise KeyError(name)
            self._built[name] = self._build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._names:
            raise KeyError(name)
        self._names.remove(name)
        self._built.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)
