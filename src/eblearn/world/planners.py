"""Planners by name, for the command line and benchmarks: ``build_planner("cem", ...)``."""

from __future__ import annotations

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
    seed: int = 0,
    **latent: Any,
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
        latent_mode=latent.get("latent_mode", "mean"),
        latent_samples=latent.get("latent_samples", 8),
    )
    gradient = GradientMPC(
        model, cost, horizon, action_low, action_high, iterations=iterations, lr=lr, **latent
    )
    return CEMGradient(cem, gradient, refine=refine)


def build_planner(
    name: str,
    model: Dynamics,
    cost: Cost,
    horizon: int,
    action_low: Tensor | float,
    action_high: Tensor | float,
    **options: Any,
) -> Planner:
    """The planner called ``name`` (``gradient``, ``cem``, ``mppi``, ``hybrid``), reset.

    ``options`` are its keyword arguments (see each class).

    Raises:
        ValueError: If the name is unknown, an option does not exist, or a value is invalid.

    Example:
        >>> from eblearn.world.dynamics import PendulumDynamics
        >>> from eblearn.world.costs import PendulumCost
        >>> planner = build_planner("cem", PendulumDynamics(), PendulumCost(), 10, -2.0, 2.0,
        ...                         population=50, elites=5)
        >>> type(planner).__name__, planner.population
        ('CEM', 50)
    """
    factory = PLANNERS.get(name)
    try:
        planner = factory(model, cost, horizon, action_low, action_high, **options)
    except TypeError as error:
        raise ValueError(f"planner {name!r}: {error}") from None
    return planner.reset()
