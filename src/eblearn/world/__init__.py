"""World models: forward models with a latent variable, planning and policy learning.

A forward model ``s[t+1] = G(s[t], a[t], z[t])``, a cost ``C(s)``, actions found by minimizing
the summed cost through the model (gradient MPC, the Kelley-Bryson adjoint method, or sampling:
CEM, MPPI), and a policy ``a = P(s)`` learned by back-propagating the same cost through it.
"""

from eblearn.world.adjoint import adjoint_gradient
from eblearn.world.costs import Cost, GoalCost, MountainCarCost, PendulumCost, QuadraticCost
from eblearn.world.dynamics import (
    Dynamics,
    LinearDynamics,
    MountainCarDynamics,
    PendulumDynamics,
    angle_normalize,
)
from eblearn.world.envs import ENVIRONMENTS, Env, GymEnv, Step, make_env
from eblearn.world.rollout import rollout, trajectory_cost
from eblearn.world.two_rooms import TwoRooms, TwoRoomsDynamics, door_pairs, render_two_rooms

__all__ = [
    "ENVIRONMENTS",
    "Cost",
    "Dynamics",
    "Env",
    "GoalCost",
    "GymEnv",
    "LinearDynamics",
    "MountainCarCost",
    "MountainCarDynamics",
    "PendulumCost",
    "PendulumDynamics",
    "QuadraticCost",
    "Step",
    "TwoRooms",
    "TwoRoomsDynamics",
    "adjoint_gradient",
    "angle_normalize",
    "door_pairs",
    "make_env",
    "render_two_rooms",
    "rollout",
    "trajectory_cost",
]
