"""Signum: sign descent on an exponential moving average of the gradient."""

from typing import Any, Optional

import jax

from jopt._src import base
from jopt._src import checks
from jopt._src import combine
from jopt._src.transforms import ema as ema_lib
from jopt._src.transforms import scaling
from jopt._src.transforms import sign


@checks.public
def signum(
    learning_rate: base.ScalarOrSchedule,
    beta: jax.typing.ArrayLike = 0.9,
    accumulator_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  """Signum: `w_{t+1} = w_t - lr_t * sign(m_t)`, `m_t = beta m_{t-1} + (1 - beta) g_t`.

  `chain(ema(beta, debias=False, accumulator_dtype), scale_by_sign(),
  scale_by_learning_rate(learning_rate))`: the EMA is not debiased since only its
  sign is used. Bernstein et al., 2018 (https://arxiv.org/abs/1802.04434);
  Zhao et al., 2024 (https://arxiv.org/abs/2407.07972).

  Args:
    learning_rate: a non-negative float, scalar array or schedule.
    beta: the EMA decay, in [0, 1).
    accumulator_dtype: dtype of the EMA (default: each param's).

  Returns:
    A `GradientTransformationExtraArgs`.

  Example:
    >>> import jax.numpy as jnp, jopt
    >>> tx = jopt.signum(0.1)
    >>> state = tx.init(jnp.zeros(2))
    >>> tx.update(jnp.array([0.3, -2.0]), state)[0]
    Array([-0.1,  0.1], dtype=float32)
  """
  checks.check_decay("signum", "beta", beta)
  return combine.chain(
      ema_lib.ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
      sign.scale_by_sign(),
      scaling.scale_by_learning_rate(learning_rate),
  )
