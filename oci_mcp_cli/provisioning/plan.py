"""Plan objects shared by init, trust and teardown: steps with an action, a reason and an apply."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.core.envfile import EnvFile, save_env

if TYPE_CHECKING:
    from oci_mcp_cli.core.interrupts import InterruptGuard


class Action(StrEnum):
    """What a step does (plan) or did (result)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    DELETED = "deleted"

    @property
    def is_change(self) -> bool:
        return self in (Action.CREATED, Action.UPDATED, Action.DELETED)

    @property
    def verb(self) -> str:
        """The plan-table wording (future tense)."""
        return {
            Action.CREATED: "create",
            Action.UPDATED: "update",
            Action.UNCHANGED: "unchanged",
            Action.SKIPPED: "skip",
            Action.DELETED: "delete",
        }[self]


@dataclass
class Step:
    """One step of a plan. ``apply`` re-checks state and returns the action actually taken."""

    name: str
    action: Action
    reason: str
    changes: list[str] = field(default_factory=list)
    apply: Callable[[], Action] | None = None
    result: Action | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            # Planned (not applied, e.g. --dry-run): the future form, never "deleted".
            "action": self.result.value if self.result else self.action.verb,
            "reason": self.reason,
        }
        if self.changes:
            data["changes"] = list(self.changes)
        return data


@dataclass
class Plan:
    """Ordered steps plus a title; ``has_changes`` decides whether confirmation is needed."""

    title: str
    steps: list[Step] = field(default_factory=list)

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    @property
    def has_changes(self) -> bool:
        return any(step.action.is_change for step in self.steps)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


StepHook = Callable[[Step], Any]
"""Called around each applied step; returns a context manager (e.g. a spinner)."""


def apply_plan(plan: Plan, around_step: StepHook | None = None) -> Plan:
    """Run every step's ``apply`` in order; a step without ``apply`` keeps its planned action."""
    for step in plan.steps:
        if step.apply is None:
            step.result = step.action
            continue
        with around_step(step) if around_step else nullcontext():
            step.result = step.apply()
    return plan


def stop_between_steps(
    around_step: StepHook | None, guard: InterruptGuard, recorded_in: str, hint: str
) -> StepHook:
    """``around_step`` (the spinner) plus a stop before/after a step when Ctrl-C/SIGTERM arrived
    (:func:`~oci_mcp_cli.core.interrupts.deferred_interrupts`): the step in flight finishes."""

    @contextmanager
    def hook(step: Step) -> Iterator[None]:
        guard.check(f"before step {step.name!r}: nothing was changed by it", hint)
        with around_step(step) if around_step else nullcontext():
            yield
        guard.check(
            f"after step {step.name!r}: what the finished steps did is recorded in {recorded_in}",
            hint,
        )

    return hook


def record_env(
    env: EnvFile, updates: Mapping[str, str], remove: Iterable[str] = (), *, backup: bool = True
) -> Action:
    """The ``env`` step's apply: save ``updates``/``remove`` to ``env.path`` unless already so."""
    remove = list(remove)
    same = all(env.values.get(k) == v for k, v in updates.items())
    if env.exists and same and not any(k in env.values for k in remove):
        return Action.UNCHANGED
    save_env(env.path, updates, remove=remove, backup=backup)
    return Action.UPDATED if env.exists else Action.CREATED
