"""optax's own tests that pass with optax and are expected to fail against jopt, each with the reason.

Keys are test ids as the runner reports them (`<path under optax>::<Class>::<test>`), and may use
fnmatch wildcards (`*`, `?`, `[...]`). Each reason says which kind it is: a test of an optax private
class or helper (not a name jopt exports), a documented deviation (README "Differs from optax"), or
float rounding where optax's tolerance is below float32 resolution. Real jopt bugs are never listed
here: they fail `test_optax_suite.py` until fixed.
"""

PRIVATE = "tests an optax private class/helper, not a name jopt exports"
DEVIATION = "documented deviation from optax (README)"
ROUNDING = "float rounding: optax's check is tighter than float32 resolution"

EXPECTED_FAILURES = {
    # optax publishes `multi_normal` only; the test checks the result is an instance of optax's
    # private `optax._src.utils.MultiNormalDiagFromLogScale` class (jopt returns its own class).
    "_src/utils_test.py::MultiNormalDiagFromLogScaleTest::test_init_successful_broadcast*": PRIVATE,
    # README (schedules): bad arguments raise ValueError when the schedule is built, where optax
    # silently returns a constant for `transition_steps <= 0` and `decay_rate == 0`.
    "schedules/_schedule_test.py::PolynomialTest::test_zero_steps_schedule": DEVIATION,
    "schedules/_schedule_test.py::ExponentialTest::test_nonvalid_transition_steps*": DEVIATION,
    "schedules/_schedule_test.py::ExponentialTest::test_nonvalid_decay_rate*": DEVIATION,
    # jopt's build-time checks reject `interpolate_type=None` with TypeError (a wrong type);
    # optax raises ValueError (the test's other two cases, bad strings, pass).
    "schedules/_schedule_test.py::PiecewiseInterpolateTest::test_invalid_type": DEVIATION,
    # README (telemetry): float hyperparameters are stored as float32, never inferred from the
    # params (optax stores bf16 for bf16 params, rounding the learning rate).
    "schedules/_inject_test.py::InjectHyperparamsTest::test_hyperparam_default_dtype_bf16": DEVIATION,
    # README: bad hyperparameters raise when the transform is built; optax raises for a bad lion
    # `mode` only at `update`, and the test builds it outside `assertRaises`.
    "_src/transform_test.py::TransformTest::test_lion_invalid_mode_raises": DEVIATION,
    # README: updates keep the params' dtype. The test's params are Python ints ({'a': 1, 'b': 2}),
    # which have no float dtype to keep (optax returns float updates); jopt raises.
    "_src/combine_test.py::ExtraArgsTest::test_extra_args": DEVIATION,
    "transforms/_combining_test.py::ExtraArgsTest::test_extra_args": DEVIATION,
    # "objective decreases with more iterations" at tol=0: on this draw (m=20, n=21, k=(5,),
    # float32) jopt's objective rises by 1.9e-6 at ~16 (one float32 step); optax fails the same
    # check on nnls4 and nnls5, which jopt passes.
    "_src/linear_algebra_test.py::LinearAlgebraTest::test_nnls13": ROUNDING,
    # rtol=1e-7 on a complex64 sum is below float32 epsilon (1.19e-7); jopt differs by 1.3e-7.
    "tree_utils/_tree_math_test.py::TreeUtilsTest::test_tree_vdot": ROUNDING,
}

# jopt raises at the first update when `eps` (and `eps_root`) round to 0 in float16 moments: a zero
# gradient element would give 0/0 = NaN, which optax returns silently (float16 params with default
# Adam-family `eps=1e-8`). These are the float16 draws of optax's dtype-stability tests and its
# float16 mixed-precision MultiSteps test. (Needs its line in README "Differs from optax".)
FLOAT16_EPS = (
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability0",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability102",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability126",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability144",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability150",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability156",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability36",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability42",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability48",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability54",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability66",
    "_src/alias_test.py::AliasTest::test_state_shape_dtype_shard_stability96",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability100",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability104",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability112",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability136",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability140",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability144",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability148",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability48",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability60",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability68",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability92",
    "contrib/_common_test.py::ContribTest::test_state_shape_dtype_shard_stability96",
    "transforms/_accumulation_test.py::AccumulationTest::test_multi_steps_mixed_precision0",
)
EXPECTED_FAILURES.update({t: DEVIATION + ": eps rounds to 0 in float16, jopt raises" for t in FLOAT16_EPS})
