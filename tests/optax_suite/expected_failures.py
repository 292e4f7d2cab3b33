"""optax's own tests that pass with optax and are expected to fail against jopt, each with the reason.

Keys are test ids as the runner reports them (`<path under optax>::<Class>::<test>`), and may use
fnmatch wildcards (`*`, `?`, `[...]`; a literal `[` is `[[]`). Reasons say which kind each is: a test of an optax
private helper or internal detail (not a name jopt exports), or a documented deviation where optax is
wrong (see README "Differs from optax").
"""

PRIVATE = "inspects an optax private helper / internal detail, not a name jopt exports"
DEVIATION = "documented deviation from optax (README 'Differs from optax')"

EXPECTED_FAILURES = {
}
