"""The positional codes (MODEL.md, "Positions: two codes"): the explicit codes give the stated
Gram matrices, the sampler's random symmetry keeps them, and the closed form's structured forms
equal the dense ``a C + b S``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from induction_ode.positions import POSITIONS, codes, gram, random_symmetry, rotation, width
from induction_ode.task import sample_batch


def stated_grams(positions, n):
    """MODEL.md's (C, S), written out from the page (not from the code under test)."""
    t = np.arange(2 * n + 1)
    if positions == "sinusoidal":
        omega = np.pi / (2 * n + 1)
        diff = t[:, None] - t[None, :]
        return np.cos(omega * diff), np.sin(omega * diff)
    c, s = np.eye(2 * n + 1), np.zeros((2 * n + 1, 2 * n + 1))
    for i in range(n):
        s[2 * i + 1, 2 * i], s[2 * i, 2 * i + 1] = 1.0, -1.0
    return c, s


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("n", [1, 2, 5])
def test_codes_give_the_stated_grams(positions, n):
    c = np.asarray(codes(positions, n))
    m = rotation(width(positions, n))
    assert c.shape == (2 * n + 1, width(positions, n))
    np.testing.assert_allclose(m.T @ m, np.eye(m.shape[0]), atol=0)
    np.testing.assert_allclose(m @ m, -np.eye(m.shape[0]), atol=0)
    want_c, want_s = stated_grams(positions, n)
    np.testing.assert_allclose(c @ c.T, want_c, atol=1e-15)
    np.testing.assert_allclose(c @ m @ c.T, want_s, atol=1e-15)


@pytest.mark.parametrize("positions", POSITIONS)
def test_random_symmetry_is_orthogonal_and_keeps_the_grams(positions):
    n = 3
    r = np.asarray(random_symmetry(jax.random.PRNGKey(0), positions, n, 16))
    m = rotation(width(positions, n))
    eye = np.eye(m.shape[0])
    np.testing.assert_allclose(np.einsum("bij,bik->bjk", r, r), np.broadcast_to(eye, r.shape), atol=1e-13)
    np.testing.assert_allclose(r @ m, m @ r, atol=1e-13)  # commutes with M
    batch = sample_batch(jax.random.PRNGKey(1), 16, n, 6, positions=positions)
    pos = np.asarray(batch.positions)
    want_c, want_s = stated_grams(positions, n)
    np.testing.assert_allclose(
        pos @ pos.transpose(0, 2, 1), np.broadcast_to(want_c, (16, *want_c.shape)), atol=1e-13
    )
    np.testing.assert_allclose(
        pos @ m @ pos.transpose(0, 2, 1), np.broadcast_to(want_s, (16, *want_s.shape)), atol=1e-13
    )
    assert np.std(pos[:, 0, 0]) > 0.1  # the codes really turn


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("n, n_pad", [(2, 2), (3, 5)])
def test_structured_gram_equals_dense(positions, n, n_pad):
    """The closed form's ``a C + b S`` on the real positions of a left-padded sequence."""
    idx = jnp.arange(2 * n_pad + 1)
    off = 2 * (n_pad - n)
    got = np.asarray(gram(positions, idx, off, jnp.asarray(n), jnp.asarray(0.7), jnp.asarray(-1.3)))
    want_c, want_s = stated_grams(positions, n)
    np.testing.assert_allclose(got[off:, off:], 0.7 * want_c - 1.3 * want_s, atol=1e-14)


def test_rotation_needs_an_even_width():
    with pytest.raises(ValueError, match="even"):
        rotation(3)
