"""Mechanic (`mechanize`) around several base optimizers against optax.contrib, step by step."""

import jax.numpy as jnp
import optax
import optax.contrib
import pytest

import jopt
from jopt._src.contrib.mechanic import mechanize
from parity import assert_trajectories_match

DRAWS = [
    (lambda m: m.adam(lambda c: 1.0 / (1.0 + c)), dict(weight_decay=0.1, num_betas=8)),
    (lambda m: m.sgd(1.0, momentum=0.9), dict(weight_decay=0.0, eps=1e-6, s_init=1e-4, num_betas=3)),
]


@pytest.mark.parametrize("base,kwargs", DRAWS)
def test_mechanize_matches_optax_jit(base, kwargs):
  assert_trajectories_match(mechanize(base(jopt), **kwargs),
                            optax.contrib.mechanize(base(optax), **kwargs), steps=15)


def test_mechanize_matches_optax_eager():
  base, kwargs = DRAWS[1]
  assert_trajectories_match(mechanize(base(jopt), **kwargs),
                            optax.contrib.mechanize(base(optax), **kwargs), steps=8, mode="eager")


def test_wraps_an_optax_base_optimizer():
  # The base optimizer is any GradientTransformation, optax's included.
  assert_trajectories_match(mechanize(optax.adam(1.0)), optax.contrib.mechanize(optax.adam(1.0)),
                            steps=10)


def test_first_update_is_the_scaled_base_update():
  # Step 1: Delta = 0, h = 0, so m = eps, v = 0, r = 0, s = (s_init/n) eps / eps = s_init / n each:
  # the update is sum(s) * u_base = s_init * u_base.
  tx = mechanize(jopt.sgd(1.0), s_init=1e-3, eps=1e-8)
  params, g = jnp.zeros(2), jnp.array([0.5, 0.25])  # zero params: no rounding in x0 + step - params
  u, _ = tx.update(g, tx.init(params), params)
  assert jnp.allclose(u, -1e-3 * g, rtol=1e-5)


def test_needs_params():
  tx = mechanize(jopt.sgd(1.0))
  with pytest.raises(ValueError, match="mechanize needs the current parameters"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize("kwargs,arg", [(dict(num_betas=0), "num_betas"), (dict(num_betas=2.5), "num_betas"),
                                        (dict(s_init=0.0), "s_init"), (dict(weight_decay=-1.0), "weight_decay")])
def test_bad_hyperparameters_raise_at_build(kwargs, arg):
  with pytest.raises((ValueError, TypeError), match=f"mechanize.*`{arg}`"):
    mechanize(jopt.sgd(1.0), **kwargs)
