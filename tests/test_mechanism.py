"""Mechanism tools: clamp parsing, removal studies and the induction-head criterion."""

import numpy as np
import pytest

from induction_ode import (
    PARAM_NAMES,
    Clamp,
    emergence_time,
    is_induction_head,
    minimal_free_set,
    removal_study,
)
from induction_ode.mechanism import HEAD_ATTENTION, HEAD_CONTRAST


def test_parse_clamp_specs():
    c = Clamp.parse("alpha3=0.5+match", t_on=3.0)
    assert c.patterns == ("match",) and c.values == (("alpha3", 0.5),) and c.t_on == 3.0
    assert Clamp.parse("none").empty and Clamp.parse("").empty
    assert Clamp.parse("previous_token+copy").label() == "previous_token+copy"
    assert Clamp.parse("copy", t_on=2.5).label() == "copy (t>=2.5)"
    assert Clamp.parse("none", t_on=2.5).label() == "none"  # holds nothing at any time


@pytest.mark.parametrize(
    "spec, message",
    [
        ("induction", "unknown clamp"),
        ("zeta=1", "zeta"),
        ("alpha3=one", "not a number"),
        ("alpha3=inf", "finite"),
    ],
)
def test_parse_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        Clamp.parse(spec)


def test_removing_the_readout_freezes_everything():
    """With every γ frozen at 0 the readout is 0, so ∇_α,β L = 0 at θ = 0: nothing moves and
    no head can form. With β2 frozen instead, γ3 alone learns to copy the uniformly attended
    average: it moves, but no head forms."""
    study = removal_study(2, base=("beta2", "gamma3"), t_max=400.0)
    assert set(study) == {"beta2", "gamma3"}
    no_readout = study["gamma3"]
    assert not no_readout.emerged and np.isnan(no_readout.t_star)
    assert not is_induction_head(no_readout)
    np.testing.assert_array_equal(no_readout.theta_end, 0.0)
    no_match = study["beta2"]
    assert not no_match.emerged and np.isnan(no_match.t_star) and not is_induction_head(no_match)
    gamma3 = PARAM_NAMES.index("gamma3")
    np.testing.assert_array_equal(np.delete(no_match.theta_end, gamma3), 0.0)
    assert no_match.theta_end[gamma3] > 0.5  # measured 0.714


def test_minimal_free_set_at_n2():
    """The greedy pass from four names at N = 2 (the program of the test above): β1 and β10
    go, β2 and γ3 stay, and the second pass finds no single removal that keeps a head."""
    tries = []
    start = ("beta1", "beta2", "beta10", "gamma3")
    found = minimal_free_set(2, start, lambda free, head: tries.append((free, head)), t_max=400.0)
    assert found == ("beta2", "gamma3")
    assert tries == [
        (start, True),
        (("beta2", "beta10", "gamma3"), True),
        (("beta10", "gamma3"), False),
        (("beta2", "gamma3"), True),
        (("beta2",), False),
        (("gamma3",), False),
        (("beta2",), False),
    ]
    with pytest.raises(ValueError, match="forms no induction head"):
        minimal_free_set(2, ("beta2",), t_max=400.0)


def test_full_run_is_an_induction_head():
    e = emergence_time(4)
    assert is_induction_head(e) and e.label_attention > HEAD_ATTENTION and e.label_contrast > 1


def test_criterion_needs_a_share_or_a_lead():
    """The same run with its layer-2 statistics replaced: a minority share with a weak lead is not
    a head (the β2, γ3 route: 0.465 and 2.05), a majority share or a strong lead is."""
    e = emergence_time(4)
    weak = e._replace(label_attention=0.465, label_contrast=2.05)
    assert not is_induction_head(weak)
    assert not is_induction_head(weak._replace(label_contrast=0.99 * HEAD_CONTRAST))
    assert is_induction_head(weak._replace(label_contrast=HEAD_CONTRAST))
    assert is_induction_head(weak._replace(label_attention=HEAD_ATTENTION))
    assert not is_induction_head(e._replace(emerged=False))
