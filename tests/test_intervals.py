"""The mean intervals over seeds (induction_ode.intervals) against tabled Student-t quantiles."""

import math

import pytest

from induction_ode.intervals import mean_interval

# t_{0.975, df} from the tables (Abramowitz & Stegun 26.7; R's qt(0.975, df)), and 1.959964 as df → ∞
TABLE = {1: 12.706205, 2: 4.302653, 4: 2.776445, 5: 2.570582, 9: 2.262157, 30: 2.042272, 1000: 1.962339}


@pytest.mark.parametrize("df, q", TABLE.items())
def test_interval_half_width_is_the_tabled_quantile(df, q):
    """``df + 1`` values alternating ±1: the half-width is ``t_{0.975, df} · s/√n``."""
    n = df + 1
    x = [1.0 if i % 2 else -1.0 for i in range(n)]
    iv = mean_interval(x)
    s = math.sqrt(sum((v - iv["mean"]) ** 2 for v in x) / df)
    assert iv["high"] - iv["mean"] == pytest.approx(q * s / math.sqrt(n), rel=1e-6)
    assert iv["mean"] - iv["low"] == pytest.approx(q * s / math.sqrt(n), rel=1e-6)


def test_mean_interval_known_case():
    # 1 … 5: mean 3, s = √2.5, half-width t_{0.975,4} · √2.5 / √5 = 2.776445 / √2
    iv = mean_interval([1, 2, 3, 4, 5])
    half = 2.7764451051977987 / math.sqrt(2)
    assert iv["mean"] == 3.0 and iv["n"] == 5
    assert iv["low"] == pytest.approx(3 - half, rel=1e-12) and iv["high"] == pytest.approx(
        3 + half, rel=1e-12
    )


def test_mean_interval_drops_non_finite_and_degenerate_cases():
    iv = mean_interval([2.0, float("nan"), 4.0, None])
    assert iv["n"] == 2 and iv["mean"] == 3.0 and len(iv["per_seed"]) == 4
    assert iv["high"] - iv["mean"] == pytest.approx(12.706204736174707, rel=1e-9)  # s/√2 = 1
    one = mean_interval([7.0])
    assert one["mean"] == 7.0 and math.isnan(one["low"]) and math.isnan(one["high"])
    assert math.isnan(mean_interval([float("nan")])["mean"])
    same = mean_interval([0.5, 0.5, 0.5])
    assert same["low"] == same["high"] == 0.5
