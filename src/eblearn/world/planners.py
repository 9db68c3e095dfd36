"""Planners by name, for the command line and benchmarks: ``build_planner("cem", ...)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import Tensor

from eblearn.registry import Registry
from eblearn.world.cem import CEM, MPPI
from eblearn.world.costs import Cost
from eblearn.world.dynamics import Dynamics
from eblearn.world.gradient_mpc import GradientMPC
from eblearn.world.hybrid import CEMGradient
from eblearn.world.planner import Planner

PLANNERS: Registry[Callable[..., Planner]] = Registry("planner")
PLANNERS.register("gradient", GradientMPC)
PLANNERS.register("cem", CEM)
PLANNERS.register("mppi", MPPI)


@PLANNERS.register("hybrid")
def cem_gradient(
    model: Dynamics,
    cost: Cost,
    horizon: int,
    action_low: Tensor | float,
    action_high: Tensor | float,
    population: int = 100,
    elites: int = 10,
    cem_iterations: int = 2,
    iterations: int = 5,
    lr: float = 0.05,
    refine: int = 4,
    latent_mode: str = "mean",
    latent_samples: int = 8,
    latent_weight: float = 1.0,
    seed: int = 0,
    terminal_cost: Callable[[Tensor], Tensor] | None = None,
) -> CEMGradient:
    """CEM → gradient: a short CEM search refined by gradient descent from its best elites."""
    cem = CEM(
        model,
        cost,
        horizon,
        action_low,
        action_high,
        population=population,
        elites=elites,
        iterations=cem_iterations,
        seed=seed,
        latent_mode=latent_mode,
        latent_samples=latent_samples,
        terminal_cost=terminal_cost,
    )
    gradient = GradientMPC(
        model,
        cost,
        horizon,
        action_low,
        action_high,
        iterations=iterations,
        lr=lr,
        latent_mode=latent_mode,
        latent_samples=latent_samples,
        latent_weight=latent_weight,
        terminal_cost=terminal_cost,
    )
    return CEMGradient(cem, gradient, refine=refine)


PROBLEM_ARGUMENTS = ("model", "cost", "horizon", "action_low", "action_high", "terminal_cost")
"""The arguments every planner takes: what is planned, not how (``terminal_cost`` by keyword)."""


def planner_options(name: str) -> tuple[str, ...]:
    """The keyword options of the planner ``name`` (its settings), sorted.

    Raises:
        ValueError: If the name is unknown.

    Example:
        >>> planner_options("mppi")[:4]
        ('init_std', 'iterations', 'latent_mode', 'latent_samples')
    """
    parameters = inspect.signature(PLANNERS.get(name)).parameters
    return tuple(sorted(p for p in parameters if p not in PROBLEM_ARGUMENTS))


def check_planner_options(name: str, options: dict[str, Any]) -> None:
    """Refuses options the planner ``name`` does not have, naming the ones it has.

    Raises:
        ValueError: On an unknown planner or option.
    """
    valid = planner_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"of planner {name!r}; valid options: {', '.join(valid)}"
        )


def build_planner(
    name: str,
    model: Dynamics,
    cost: Cost,
    horizon: int,
    action_low: Tensor | float,
    action_high: Tensor | float,
    terminal_cost: Callable[[Tensor], Tensor] | None = None,
    **options: Any,
) -> Planner:
    """The planner called ``name`` (``gradient``, ``cem``, ``mppi``, ``hybrid``), reset.

    ``terminal_cost`` is a cost-to-go added at the last planned state (a critic, see
    :mod:`eblearn.world.critic`); ``options`` are the planner's settings (see each class).

    Raises:
        ValueError: If the name is unknown, an option does not exist (the message names the
            valid ones), or a value is invalid.

    Example:
        >>> from eblearn.world.dynamics import PendulumDynamics
        >>> from eblearn.world.costs import PendulumCost
        >>> planner = build_planner("cem", PendulumDynamics(), PendulumCost(), 10, -2.0, 2.0,
        ...                         population=50, elites=5)
        >>> type(planner).__name__, planner.population
        ('CEM', 50)
    """
    factory = PLANNERS.get(name)
    check_planner_options(name, options)
    try:
        planner = factory(
            model, cost, horizon, action_low, action_high, terminal_cost=terminal_cost, **options
        )
    except TypeError as error:
        raise ValueError(f"planner {name!r}: {error}") from None
    return planner.reset()
