"""Power-law fits and local exponents (``induction_ode.scaling``) on laws whose exponent is known."""

import numpy as np
import pytest
from scipy import stats

from induction_ode.scaling import fit_power_law, local_exponents

SEQ = np.array([5.0, 9.0, 17.0, 33.0, 65.0, 129.0])


def test_exact_power_law():
    """Six float64 logs and a least-squares line: p and c to ~1e-15 relative (measured 5.8e-16
    and 3.3e-15), p_err at the residuals' roundoff (measured 5.1e-16)."""
    fit = fit_power_law(SEQ, 0.7 * SEQ**2.3)
    assert fit.p == pytest.approx(2.3, rel=1e-14)
    assert fit.c == pytest.approx(0.7, rel=1e-14)
    assert 0 <= fit.p_err < 5e-15
    assert fit.used == (0, 1, 2, 3, 4, 5)
    np.testing.assert_allclose(local_exponents(SEQ, 0.7 * SEQ**2.3), 2.3, rtol=4e-15)  # measured 3.9e-16


def test_local_exponents_of_a_broken_power_law():
    """T¹ up to T = 17, T² beyond: each neighbouring pair gives its own exponent; a fit over the
    ``last`` 3 lengths sees the T² law alone, over all of them something in between."""
    t_star = np.where(SEQ <= 17, SEQ, SEQ**2 / 17)
    np.testing.assert_allclose(local_exponents(SEQ, t_star), [1, 1, 2, 2, 2], rtol=1e-13)
    tail = fit_power_law(SEQ, t_star, last=3)
    assert tail.used == (3, 4, 5)
    assert tail.p == pytest.approx(2.0, rel=1e-13) and tail.c == pytest.approx(1 / 17, rel=1e-13)
    two = fit_power_law(SEQ, t_star, last=2)
    assert two.used == (4, 5) and np.isnan(two.p_err) and two.p == pytest.approx(2.0, rel=1e-13)
    assert 1.2 < fit_power_law(SEQ, t_star).p < 1.9


def test_noisy_power_law_recovers_the_slope():
    """t* = 3 T^1.7 with 2% log-normal noise at 200 lengths: p within 3 standard errors of 1.7,
    p_err within 20% of the noise's true standard error σ/√Σ(x−x̄)² (measured: p off by 1.25
    of it, p_err 0.87 of it; an estimate from 198 degrees of freedom spreads by 1/√(2·198) =
    5%, so 20% is four of its standard deviations), and p, p_err and c equal to SciPy's
    linregress to 1e-12."""
    rng = np.random.default_rng(7)
    seq = np.geomspace(5, 5000, 200)
    sigma = 0.02
    t_star = 3.0 * seq**1.7 * np.exp(rng.normal(0, sigma, seq.size))
    fit = fit_power_law(seq, t_star)
    x = np.log(seq)
    true_err = sigma / np.sqrt(np.sum((x - x.mean()) ** 2))
    assert abs(fit.p - 1.7) < 3 * true_err
    assert fit.p_err == pytest.approx(true_err, rel=0.2)
    ref = stats.linregress(x, np.log(t_star))
    assert fit.p == pytest.approx(ref.slope, rel=1e-12)
    assert fit.p_err == pytest.approx(ref.stderr, rel=1e-12)
    assert fit.c == pytest.approx(np.exp(ref.intercept), rel=1e-12)


def test_fit_skips_lengths_without_a_head_and_sorts():
    """Missing (nan), zero and negative t* are left out; ``used`` indexes the input as given
    (shuffled here), largest lengths last."""
    order = np.array([3, 0, 5, 1, 4, 2])
    t_star = 2.0 * SEQ**1.5
    t_star[[1, 4]] = [np.nan, 0.0]
    fit = fit_power_law(SEQ[order], t_star[order], last=3)
    assert [SEQ[order][i] for i in fit.used] == [17.0, 33.0, 129.0]
    assert fit.p == pytest.approx(1.5, rel=1e-13) and fit.c == pytest.approx(2.0, rel=1e-13)


@pytest.mark.parametrize("last", [-1, 0, 1, 2.5, True, "3"])
def test_bad_last_is_rejected(last):
    """``last = -1`` once dropped the shortest length (``ok[1:]``) and ``0`` used every point."""
    with pytest.raises(ValueError, match="last must be an integer >= 2"):
        fit_power_law(SEQ, SEQ**2, last=last)


def test_fit_needs_two_points():
    with pytest.raises(ValueError, match="at least two"):
        fit_power_law(SEQ[:3], [np.nan, 4.0, -1.0])
