"""The renderer is deterministic and its ground truth is where the symbols are."""

from __future__ import annotations

import numpy as np
import pytest

from rxtrace.scanners.decode import decode_frame
from rxtrace.scanners.render import random_codes, render_label, render_pile


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    codes = random_codes(np.random.default_rng(1), 4)
    a, ta = render_pile(codes, seed=7, damage="harsh", size=(960, 540))
    b, tb = render_pile(codes, seed=7, damage="harsh", size=(960, 540))
    c, _ = render_pile(codes, seed=8, damage="harsh", size=(960, 540))
    assert np.array_equal(a, b)
    assert ta == tb
    assert not np.array_equal(a, c)
    assert a.shape == (540, 960, 3)


def test_ground_truth_polygons_match_decoded_positions() -> None:
    codes = random_codes(np.random.default_rng(2), 4, ("code128", "datamatrix"))
    image, truths = render_pile(codes, seed=3, damage="none", size=(1280, 720))
    found = {s.code: s for s in decode_frame(image).sightings}
    for t in truths:
        assert t.code in found
        centre_truth = np.asarray(t.polygon, float).mean(axis=0)
        centre_read = np.asarray(found[t.code].polygon, float).mean(axis=0)
        assert np.hypot(*(centre_truth - centre_read)) < 40


def test_label_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="check digit"):
        render_label("6901234567891", "ean13")
    with pytest.raises(ValueError, match="cannot render"):
        render_label("x", "aztec")
    with pytest.raises(ValueError, match="damage"):
        render_pile([], seed=1, damage="apocalyptic")  # type: ignore[arg-type]
