"""RMS-family building blocks (scale_by_rss, scale_by_rms, scale_by_stddev, scale_by_adadelta) against
closed forms; step-by-step parity with optax: the `transforms/rms` rows of `cases.PARITY`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt


@pytest.mark.parametrize("eps_in_sqrt,initial_scale", [(True, 0.0), (False, 0.0), (True, 2.0), (False, 2.0)])
def test_centered_bias_corrected_first_step_is_exact(eps_in_sqrt, initial_scale):
  """Step 1 of scale_by_stddev(bias_correction=True): variance decay*s0/(1-decay), never rounding noise."""
  decay, eps = 0.9, 1e-2
  tx = jopt.scale_by_stddev(decay=decay, eps=eps, initial_scale=initial_scale, eps_in_sqrt=eps_in_sqrt,
                            bias_correction=True)
  g = jnp.array([1.0, -3.0, 0.1, 1e3, 7.7])
  updates, _ = jax.jit(tx.update)(g, tx.init(g))
  var = decay * initial_scale / (1 - decay)
  expected = g / np.sqrt(var + eps) if eps_in_sqrt else g / (np.sqrt(var) + eps)
  np.testing.assert_allclose(updates, expected, rtol=1e-6)
