"""World models: forward models with a latent variable, planning and policy learning.

A forward model ``s[t+1] = G(s[t], a[t], z[t])``, a cost ``C(s)``, actions found by minimizing
the summed cost through the model (gradient MPC, the Kelley-Bryson adjoint method, or sampling:
CEM, MPPI), and a policy ``a = P(s)`` learned by back-propagating the same cost through it;
from states (Pendulum, MountainCar) or pixels (two rooms, a JEPA world model).
"""

from eblearn.registry import Registry
from eblearn.world.adjoint import adjoint_gradient
from eblearn.world.cem import CEM, MPPI
from eblearn.world.control import Episode, PlannerController, run_episodes
from eblearn.world.costs import Cost, GoalCost, MountainCarCost, PendulumCost, QuadraticCost
from eblearn.world.critic import Critic, QuadraticCritic, fit_cost_to_go, fit_critic
from eblearn.world.dynamics import (
    Dynamics,
    LinearDynamics,
    MountainCarDynamics,
    PendulumDynamics,
    angle_normalize,
)
from eblearn.world.envs import Env, GymEnv, Step, make_env
from eblearn.world.fit import fit_forward_model, model_error_report
from eblearn.world.gradient_mpc import GradientMPC
from eblearn.world.hybrid import CEMGradient
from eblearn.world.io import load_module, save_module
from eblearn.world.models import ForwardModel
from eblearn.world.pixel import (
    LatentPredictor,
    PixelEncoder,
    PixelWorldModel,
    fit_pixel_world_model,
)
from eblearn.world.planner import Plan, Planner
from eblearn.world.planners import PLANNERS, build_planner
from eblearn.world.policy import Policy, PolicyController, fit_policy
from eblearn.world.random_door import RandomDoorDynamics, RandomDoorRooms
from eblearn.world.rollout import rollout, trajectory_cost
from eblearn.world.tasks import ENVIRONMENTS, TASKS, Task
from eblearn.world.transitions import RandomController, Transitions, collect
from eblearn.world.two_rooms import TwoRooms, TwoRoomsDynamics, door_pairs, render_two_rooms

WORLD_MODELS: Registry[type] = Registry("world model")
"""The learned world models by name; each exposes ``energy(y, x)`` (:mod:`eblearn.energy`)."""
WORLD_MODELS.register("forward-model", ForwardModel)
WORLD_MODELS.register("pixel-world-model", PixelWorldModel)

__all__ = [
    "CEM",
    "ENVIRONMENTS",
    "MPPI",
    "PLANNERS",
    "TASKS",
    "WORLD_MODELS",
    "CEMGradient",
    "Cost",
    "Critic",
    "Dynamics",
    "Env",
    "Episode",
    "ForwardModel",
    "GoalCost",
    "GradientMPC",
    "GymEnv",
    "LatentPredictor",
    "LinearDynamics",
    "MountainCarCost",
    "MountainCarDynamics",
    "PendulumCost",
    "PendulumDynamics",
    "PixelEncoder",
    "PixelWorldModel",
    "Plan",
    "Planner",
    "PlannerController",
    "Policy",
    "PolicyController",
    "QuadraticCost",
    "QuadraticCritic",
    "RandomController",
    "RandomDoorDynamics",
    "RandomDoorRooms",
    "Step",
    "Task",
    "Transitions",
    "TwoRooms",
    "TwoRoomsDynamics",
    "adjoint_gradient",
    "angle_normalize",
    "build_planner",
    "collect",
    "door_pairs",
    "fit_cost_to_go",
    "fit_critic",
    "fit_forward_model",
    "fit_pixel_world_model",
    "fit_policy",
    "load_module",
    "make_env",
    "model_error_report",
    "render_two_rooms",
    "rollout",
    "run_episodes",
    "save_module",
    "trajectory_cost",
]
