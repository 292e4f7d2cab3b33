"""optimistic_adam's deprecation and schedule rule (`optimizers/optimistic` rows of `cases.PARITY`: parity)."""

import pytest

from cases import DECAYING
from jopt._src.optimizers import optimistic as joptimistic


def test_optimistic_adam_warns_and_rejects_schedules():
  with pytest.warns(DeprecationWarning, match="optimistic_adam_v2"):
    joptimistic.optimistic_adam(0.01)
  with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="optimistic_adam_v2"):
    joptimistic.optimistic_adam(DECAYING)
