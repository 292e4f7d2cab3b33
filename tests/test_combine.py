"""Combinators (`jopt._src.combine`): with_extra_args_support against optax."""

import optax

import jopt
from cases import SMALL
from jopt._src import combine
from parity import assert_trees_close, gradient_sequence


def test_with_extra_args_support():
  inner = jopt.trace(0.9)
  assert not isinstance(inner, optax.GradientTransformationExtraArgs)
  wrapped = combine.with_extra_args_support(inner)
  assert isinstance(wrapped, optax.GradientTransformationExtraArgs)
  assert combine.with_extra_args_support(wrapped) is wrapped
  params = SMALL
  g = gradient_sequence(params, 1)[0]
  u1, s1 = wrapped.update(g, wrapped.init(params), params, value=3.0, other="x")
  u2, s2 = optax.trace(0.9).update(g, optax.trace(0.9).init(params), params)
  assert_trees_close(u1, u2, 1e-6, 1e-7)
  assert_trees_close(tuple(s1), tuple(s2), 1e-6, 1e-7)
