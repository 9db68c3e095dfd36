"""Two rooms joined by a door: a navigation task written in torch, observed as states or pixels.

The arena is the unit square, split by a vertical wall (the slab ``|x - ½| ≤ w/2``) with a door
``y ∈ [door_low, door_high]``. The agent is a point; an action is a displacement in the box
``[-max_step, max_step]²``. Moves are clipped to the arena; a move that would enter the wall
outside the door stops at the wall's face (keeping its vertical motion, so the agent slides);
inside the doorway the agent is kept between the door posts. The episode ends with success when
the agent is within ``success_radius`` of the goal. Start/goal pairs in different rooms force a
path through the door, which a straight line toward the goal does not find.

Observations are either the position ``(2,)`` or a ``(1, P, P)`` gray image: the wall drawn at
0.5 and the agent a Gaussian blob. The goal is shown to a pixel agent as the image of the agent
standing at the goal (:meth:`TwoRooms.goal_observation`).

Everything is batched torch, so :class:`TwoRoomsDynamics` doubles as the true model for
planning, and :func:`render_two_rooms` draws thousands of frames per call for training.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from eblearn._validate import check_positive
from eblearn.world.costs import Cost, GoalCost
from eblearn.world.dynamics import Dynamics, check_state_action
from eblearn.world.envs import Env, Step


class TwoRoomsDynamics(Dynamics):
    """The two-rooms motion rule on positions ``(..., 2)`` (see the module docstring).

    Args:
        wall_width: Width ``w`` of the wall slab centered at ``x = ½``.
        door_low: Lower end of the door.
        door_high: Upper end of the door.
        max_step: Largest displacement per step along each axis.

    Example:
        >>> model = TwoRoomsDynamics()
        >>> model(torch.tensor([0.3, 0.1]), torch.tensor([0.1, 0.0]))  # free move
        tensor([0.4000, 0.1000])
        >>> model(torch.tensor([0.45, 0.1]), torch.tensor([0.1, 0.05]))  # blocked, slides
        tensor([0.4800, 0.1500])
        >>> model(torch.tensor([0.45, 0.5]), torch.tensor([0.1, 0.0]))  # through the door
        tensor([0.5500, 0.5000])
    """

    state_dim, action_dim = 2, 2

    def __init__(
        self,
        wall_width: float = 0.04,
        door_low: float = 0.4,
        door_high: float = 0.6,
        max_step: float = 0.1,
    ) -> None:
        super().__init__()
        check_positive(wall_width, "wall_width")
        check_positive(max_step, "max_step")
        if not 0.0 <= door_low < door_high <= 1.0:
            raise ValueError(
                f"the door must satisfy 0 <= door_low < door_high <= 1, got "
                f"{door_low} and {door_high}"
            )
        self.wall_width, self.door_low, self.door_high = wall_width, door_low, door_high
        self.max_step = max_step

    @property
    def left_face(self) -> float:
        return 0.5 - self.wall_width / 2

    @property
    def right_face(self) -> float:
        return 0.5 + self.wall_width / 2

    def in_door(self, y: Tensor) -> Tensor:
        return (y >= self.door_low) & (y <= self.door_high)

    def in_wall(self, x: Tensor) -> Tensor:
        return (x > self.left_face) & (x < self.right_face)

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        check_state_action(self, state, action)
        x, y = state.unbind(-1)
        step = action.clamp(-self.max_step, self.max_step)
        new_x = (x + step[..., 0]).clamp(0.0, 1.0)
        new_y = (y + step[..., 1]).clamp(0.0, 1.0)
        # A move that enters the slab from a room passes if it stays inside the door from the
        # face it enters by to the point it leaves the slab (or stops in it): y is linear along
        # the move, so checking both ends suffices.
        from_left, from_right = x <= self.left_face, x >= self.right_face
        face = torch.where(from_left, torch.full_like(x, self.left_face), self.right_face)
        far_face = torch.where(from_left, torch.full_like(x, self.right_face), self.left_face)
        enters = (from_left & (new_x > self.left_face)) | (from_right & (new_x < self.right_face))
        leaves = (from_left & (new_x >= self.right_face)) | (from_right & (new_x <= self.left_face))
        dx = new_x - x
        safe_dx = torch.where(dx.abs() > 1e-12, dx, torch.ones_like(dx))
        y_at_face = y + (face - x) / safe_dx * (new_y - y)
        y_at_exit = torch.where(leaves, y + (far_face - x) / safe_dx * (new_y - y), new_y)
        blocked = enters & ~(self.in_door(y_at_face) & self.in_door(y_at_exit))
        new_x = torch.where(blocked, face, new_x)
        # Inside the doorway, the door posts bound y.
        in_doorway = self.in_wall(new_x)
        new_y = torch.where(
            in_doorway & ~blocked, new_y.clamp(self.door_low, self.door_high), new_y
        )
        return torch.stack((new_x, new_y), -1)


def render_two_rooms(
    positions: Tensor, dynamics: TwoRoomsDynamics, pixels: int = 32, blob: float = 1.2
) -> Tensor:
    """Gray images of the agent at ``positions (..., 2)``: shape ``(..., 1, P, P)`` in ``[0, 1]``.

    Row 0 of the image is ``y = 1`` (up is up). The wall (outside the door) is 0.5; the agent
    is ``exp(-d² / 2σ²)`` with ``d`` the distance in pixels and ``σ = blob``.

    Example:
        >>> image = render_two_rooms(torch.tensor([4.5, 8.5]) / 16, TwoRoomsDynamics(), pixels=16)
        >>> image.shape, float(image.max())
        (torch.Size([1, 16, 16]), 1.0)
    """
    centers = (torch.arange(pixels, dtype=torch.float32, device=positions.device) + 0.5) / pixels
    xs = centers.view(1, pixels)  # columns
    ys = centers.flip(0).view(pixels, 1)  # rows, top is y = 1
    wall = (dynamics.in_wall(xs) & ~dynamics.in_door(ys)).float() * 0.5  # (P, P)
    # A pixel is wall if its center lies in the slab; widen thin walls to at least one column.
    if not bool(wall.any()):
        column = int(0.5 * pixels)
        wall[:, column] = (~dynamics.in_door(ys[:, 0])).float() * 0.5
    px = positions[..., 0, None, None] * pixels  # (..., 1, 1) in pixel units
    py = positions[..., 1, None, None] * pixels
    distance2 = (xs * pixels - px).pow(2) + (ys * pixels - py).pow(2)  # (..., P, P)
    agent = torch.exp(-distance2 / (2 * blob**2))
    return torch.maximum(agent, wall).unsqueeze(-3)


def door_pairs(count: int, seed: int = 0, margin: float = 0.08) -> tuple[Tensor, Tensor]:
    """``count`` fixed (start, goal) pairs in opposite rooms, so every path passes the door.

    Starts and goals are uniform in their rooms at least ``margin`` from every wall; the start
    room is left or right with equal chance.

    Returns:
        Starts and goals, each of shape ``(count, 2)``.

    Example:
        >>> starts, goals = door_pairs(4)
        >>> bool(((starts[:, 0] - 0.5) * (goals[:, 0] - 0.5) < 0).all())
        True
    """
    generator = torch.Generator().manual_seed(seed)

    def room_points(left: Tensor) -> Tensor:
        u = torch.rand(count, 2, generator=generator)
        low = margin
        high = 0.5 - 0.02 - margin  # room width minus the half wall
        x = low + u[:, 0] * (high - low)
        x = torch.where(left, x, 1.0 - x)
        y = margin + u[:, 1] * (1 - 2 * margin)
        return torch.stack((x, y), -1)

    left = torch.rand(count, generator=generator) < 0.5
    return room_points(left), room_points(~left)


class TwoRooms(Env):
    """Two-rooms navigation (see the module docstring); observations are states or pixels.

    Reward: ``-||p - goal||`` per step. Terminates with ``info["success"] = True`` within
    ``success_radius`` of the goal; truncates after ``max_steps``.

    Args:
        pixels: Side P of image observations; ``0`` observes the position ``(2,)``.
        max_steps: Steps per episode.
        success_radius: Distance to the goal that counts as reached.
        max_step: Largest displacement per step along each axis (the action box).

    Example:
        >>> env = TwoRooms(pixels=16)
        >>> env.reset(start=torch.tensor([0.2, 0.5]), goal=torch.tensor([0.8, 0.5])).shape
        torch.Size([1, 16, 16])
        >>> step = env.step(torch.tensor([0.1, 0.0]))
        >>> env.state, round(step.reward, 3)
        (tensor([0.3000, 0.5000]), -0.5)
    """

    name = "two-rooms"
    state_dim, action_dim = 2, 2

    def __init__(
        self,
        pixels: int = 0,
        max_steps: int = 50,
        success_radius: float = 0.1,
        max_step: float = 0.1,
    ) -> None:
        if pixels < 0 or (0 < pixels < 8):
            raise ValueError(f"pixels must be 0 (state observations) or >= 8, got {pixels}")
        check_positive(success_radius, "success_radius")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.pixels, self.max_steps, self.success_radius = pixels, max_steps, success_radius
        self._dynamics = TwoRoomsDynamics(max_step=max_step)
        self.action_low = torch.full((2,), -max_step)
        self.action_high = torch.full((2,), max_step)
        self._position: Tensor | None = None
        self._goal = torch.zeros(2)
        self._steps = 0

    def reset(
        self, seed: int | None = None, start: Tensor | None = None, goal: Tensor | None = None
    ) -> Tensor:
        """Starts an episode at ``start`` toward ``goal`` (drawn from ``seed`` when omitted).

        Drawn pairs lie in opposite rooms (see :func:`door_pairs`).
        """
        if start is None or goal is None:
            seed = int(torch.randint(2**31 - 1, ()).item()) if seed is None else seed
            starts, goals = door_pairs(1, seed=seed)
            start = starts[0] if start is None else start
            goal = goals[0] if goal is None else goal
        for value, what in ((start, "start"), (goal, "goal")):
            if value.shape != (2,) or bool((value < 0).any() | (value > 1).any()):
                raise ValueError(f"{what} must be a position (2,) in [0, 1]², got {value}")
            if bool(self._dynamics.in_wall(value[0])) and not bool(
                self._dynamics.in_door(value[1])
            ):
                raise ValueError(f"{what} {value.tolist()} lies inside the wall")
        self._position = start.float().clone()
        self._goal = goal.float().clone()
        self._steps = 0
        return self.observe(self._position)

    def observe(self, position: Tensor) -> Tensor:
        """The observation of ``position``: itself, or its image ``(1, P, P)``."""
        if self.pixels == 0:
            return position.clone()
        return render_two_rooms(position, self._dynamics, self.pixels)

    def goal_observation(self) -> Tensor:
        """The observation of the agent standing at the goal (the goal image for pixels)."""
        return self.observe(self._goal)

    @property
    def goal(self) -> Tensor:
        return self._goal.clone()

    def step(self, action: Tensor) -> Step:
        if self._position is None:
            raise ValueError("two-rooms: call reset() before step()")
        action = self.check_action(action)
        self._position = self._dynamics(self._position, action)
        self._steps += 1
        distance = float(torch.linalg.vector_norm(self._position - self._goal))
        success = distance < self.success_radius
        truncated = self._steps >= self.max_steps and not success
        return Step(
            self.observe(self._position), -distance, success, truncated, {"success": success}
        )

    @property
    def state(self) -> Tensor:
        if self._position is None:
            raise ValueError("two-rooms: call reset() first")
        return self._position.clone()

    def dynamics(self) -> TwoRoomsDynamics:
        return self._dynamics

    def cost(self) -> Cost:
        """Squared distance to the goal at the end of the horizon (set by the controller)."""
        return GoalCost(step_weight=0.0, terminal_weight=1.0).set_goal(self._goal)


def make_two_rooms(pixels: int = 0, **options: float) -> TwoRooms:
    """eblearn's two-rooms navigation: pass the door to reach a goal (states or pixels)."""
    return TwoRooms(pixels=pixels, **options)  # type: ignore[arg-type]


def straight_line_blocked(start: Tensor, goal: Tensor, dynamics: TwoRoomsDynamics) -> bool:
    """Whether the segment from ``start`` to ``goal`` meets the wall outside the door."""
    dx = float(goal[0] - start[0])
    if abs(dx) < 1e-12:
        return False
    t = (0.5 - float(start[0])) / dx
    if not 0.0 <= t <= 1.0:
        return False
    y = float(start[1]) + t * float(goal[1] - start[1])
    return not (dynamics.door_low <= y <= dynamics.door_high) or math.isnan(y)
