"""A DQN agent in the shape of CleanRL's `dqn_jax.py`, with target networks, on a tiny corridor environment.

Two target-network conventions, as published: CleanRL's soft/hard copy with
`optax.incremental_update(params, target_params, tau)` every `target_network_frequency` steps, and
rlax/Acme's `optax.periodic_update(params, target_params, steps, update_period)` inside the jitted
learner step. `tests/programs/test_programs.py` runs this source with `import optax` and with
`import jopt as optax` and compares.
"""

from dataclasses import dataclass

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState


@dataclass
class Args:
  seed: int = 1
  total_timesteps: int = 600
  learning_rate: float = 2.5e-3
  buffer_size: int = 1000
  gamma: float = 0.9
  tau: float = 0.5
  target_network_frequency: int = 20
  batch_size: int = 32
  start_e: float = 1.0
  end_e: float = 0.05
  exploration_fraction: float = 0.5
  learning_starts: int = 64
  train_frequency: int = 2
  target_update: str = "incremental"  # "incremental" (CleanRL) or "periodic" (rlax).


class Corridor:
  """A corridor of `n` cells: actions left/right, reward 1 on reaching the right end, 0.01 penalty a step."""

  def __init__(self, n=6, max_steps=20, seed=0):
    self.n, self.max_steps = n, max_steps
    self.rng = np.random.default_rng(seed)

  def _obs(self):
    obs = np.zeros(self.n, np.float32)
    obs[self.pos] = 1.0
    return obs

  def reset(self):
    self.pos, self.t = int(self.rng.integers(0, self.n - 1)), 0
    return self._obs()

  def step(self, action):
    self.pos = int(np.clip(self.pos + (1 if action == 1 else -1), 0, self.n - 1))
    self.t += 1
    done = self.pos == self.n - 1
    reward = 1.0 if done else -0.01
    truncated = self.t >= self.max_steps
    return self._obs(), reward, done, truncated


class QNetwork(nn.Module):
  action_dim: int

  @nn.compact
  def __call__(self, x: jnp.ndarray):
    x = nn.Dense(32)(x)
    x = nn.relu(x)
    x = nn.Dense(32)(x)
    x = nn.relu(x)
    x = nn.Dense(self.action_dim)(x)
    return x


class TargetTrainState(TrainState):
  target_params: flax.core.FrozenDict


def linear_schedule(start_e: float, end_e: float, duration: int, t: int):
  slope = (end_e - start_e) / duration
  return max(slope * t + start_e, end_e)


class ReplayBuffer:
  def __init__(self, size, obs_dim, seed):
    self.obs = np.zeros((size, obs_dim), np.float32)
    self.next_obs = np.zeros((size, obs_dim), np.float32)
    self.actions = np.zeros(size, np.int32)
    self.rewards = np.zeros(size, np.float32)
    self.dones = np.zeros(size, np.float32)
    self.size, self.ptr, self.full = size, 0, False
    self.rng = np.random.default_rng(seed)

  def add(self, obs, next_obs, action, reward, done):
    self.obs[self.ptr], self.next_obs[self.ptr] = obs, next_obs
    self.actions[self.ptr], self.rewards[self.ptr], self.dones[self.ptr] = action, reward, done
    self.ptr = (self.ptr + 1) % self.size
    self.full = self.full or self.ptr == 0

  def sample(self, batch_size):
    idx = self.rng.integers(0, self.size if self.full else self.ptr, batch_size)
    return self.obs[idx], self.actions[idx], self.next_obs[idx], self.rewards[idx], self.dones[idx]


def main(args: Args = Args()):
  """Trains the agent; returns the TD losses, episode returns and final online/target parameters."""
  np.random.seed(args.seed)
  key = jax.random.PRNGKey(args.seed)
  key, q_key = jax.random.split(key, 2)
  env = Corridor(seed=args.seed)
  obs = env.reset()
  q_network = QNetwork(action_dim=2)
  q_state = TargetTrainState.create(
      apply_fn=q_network.apply,
      params=q_network.init(q_key, obs),
      target_params=q_network.init(q_key, obs),
      tx=optax.adam(learning_rate=args.learning_rate),
  )
  q_network.apply = jax.jit(q_network.apply)
  # This step is not necessary as init called on same observation and key will always lead to same initializations.
  q_state = q_state.replace(target_params=optax.incremental_update(q_state.params, q_state.target_params, 1))
  rb = ReplayBuffer(args.buffer_size, env.n, args.seed)

  @jax.jit
  def update(q_state, observations, actions, next_observations, rewards, dones):
    q_next_target = q_network.apply(q_state.target_params, next_observations)  # (batch_size, num_actions)
    q_next_target = jnp.max(q_next_target, axis=-1)  # (batch_size,)
    next_q_value = rewards + (1 - dones) * args.gamma * q_next_target

    def mse_loss(params):
      q_pred = q_network.apply(params, observations)  # (batch_size, num_actions)
      q_pred = q_pred[jnp.arange(q_pred.shape[0]), actions.squeeze()]  # (batch_size,)
      return ((q_pred - next_q_value) ** 2).mean(), q_pred

    (loss_value, q_pred), grads = jax.value_and_grad(mse_loss, has_aux=True)(q_state.params)
    q_state = q_state.apply_gradients(grads=grads)
    if args.target_update == "periodic":
      q_state = q_state.replace(target_params=optax.periodic_update(
          q_state.params, q_state.target_params, q_state.step, args.target_network_frequency))
    return loss_value, q_pred, q_state

  losses, returns, episode_return = [], [], 0.0
  for global_step in range(args.total_timesteps):
    epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_fraction * args.total_timesteps, global_step)
    if np.random.random() < epsilon:
      action = np.random.randint(2)
    else:
      q_values = q_network.apply(q_state.params, obs)
      action = int(jax.device_get(q_values.argmax(axis=-1)))
    next_obs, reward, done, truncated = env.step(action)
    episode_return += reward
    rb.add(obs, next_obs, action, reward, float(done))
    obs = next_obs
    if done or truncated:
      returns.append(episode_return)
      episode_return, obs = 0.0, env.reset()

    if global_step > args.learning_starts:
      if global_step % args.train_frequency == 0:
        b_obs, b_actions, b_next_obs, b_rewards, b_dones = rb.sample(args.batch_size)
        loss, old_val, q_state = update(q_state, b_obs, b_actions, b_next_obs, b_rewards, b_dones)
        losses.append(float(loss))
      # update target network (CleanRL's convention)
      if args.target_update == "incremental" and global_step % args.target_network_frequency == 0:
        q_state = q_state.replace(
            target_params=optax.incremental_update(q_state.params, q_state.target_params, args.tau)
        )
  return {"losses": np.array(losses), "returns": np.array(returns), "params": q_state.params,
          "target_params": q_state.target_params}


if __name__ == "__main__":
  for mode in ("incremental", "periodic"):
    out = main(Args(target_update=mode))
    print(mode, "mean TD loss (last 20):", out["losses"][-20:].mean(), "episodes:", len(out["returns"]),
          "mean return (last 10):", out["returns"][-10:].mean())
