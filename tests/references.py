"""Independent reference values of t* (strict mask unless named), and their comparison.

The sinusoidal code's values are MODEL.md's table "Why the strict mask is the default": SciPy's
BDF (rtol 1e-8) on the *explicit network* of ``transformer.py`` evaluated on
``canonical_batch``, an integrator and a loss evaluation that share no code with the closed
form and diffrax. The paired code's are MODEL.md's "Checks" table: an explicit network written
from MODEL.md alone, SciPy's BDF at rtol 1e-8. ``examples/reference_t_star.py`` regenerates
every value here from the package's explicit network (``population_loss_direct``, its JAX
gradient and Hessian) and SciPy's BDF, without the closed form or the package's solvers.
Two integrations at rtol 1e-8 agree on t* to ~1e-8 relative; 1e-6 leaves room for both
solvers' error control and still fails on any change of the model (a wrong mask or code moves
t* by ×1.1 or more).
"""

T_STAR_RTOL = 1e-6
PAIRED_19 = {2: 18.8543, 4: 59.1791}
PAIRED_3 = {2: 45.8340, 4: 72.2571}
STRICT_19 = {4: 69.2330, 16: 674.3888}
STRICT_3 = {4: 110.9605, 8: 260.6091, 16: 754.1959}
INCLUSIVE_19 = {2: 41.3996, 4: 122.4813, 8: 347.2266, 16: 1048.8556}


def assert_t_star(runs, reference: dict) -> None:
    """Each run of ``runs`` (an :class:`~induction_ode.Emergence`, or a sweep record's row as a
    dict) whose N is in ``reference`` emerged at the reference t*, and at least one is. The
    references carry 4 decimals (6–7 significant digits): the tolerance is the larger of
    ``T_STAR_RTOL`` and half a unit of the last printed digit."""
    rows = [e if isinstance(e, dict) else e._asdict() for e in runs]
    checked = [r for r in rows if r["n_pairs"] in reference]
    assert checked, f"no length of {[r['n_pairs'] for r in rows]} has a reference ({sorted(reference)})"
    for r in checked:
        ref = reference[r["n_pairs"]]
        assert r["emerged"]
        assert abs(r["t_star"] - ref) <= max(T_STAR_RTOL * ref, 0.5e-4), (r["n_pairs"], r["t_star"], ref)
