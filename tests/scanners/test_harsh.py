"""The harsh phone-photo corpus: deterministic, labelled, and every damage present."""

from __future__ import annotations

import cv2
import numpy as np

from rxtrace.scanners.harsh import DAMAGES, damage_counts, harsh_photo, harsh_set


def test_same_seed_same_bytes_other_seed_other_photo() -> None:
    assert harsh_photo(3).jpeg == harsh_photo(3).jpeg
    assert harsh_photo(3).jpeg != harsh_photo(3, seed=16).jpeg


def test_photos_are_jpegs_of_their_size_with_codes_inside() -> None:
    for photo in harsh_set(6):
        pixels = photo.pixels()
        assert pixels.shape == (photo.size[1], photo.size[0], 3)
        assert photo.codes
        for code in photo.codes:
            pts = np.asarray(code.polygon, dtype=np.float32)
            assert pts.min() >= -2
            assert pts[:, 0].max() <= photo.size[0] + 2 and pts[:, 1].max() <= photo.size[1] + 2
            assert set(code.damages) <= set(DAMAGES)
            # The module recorded is what landed: "small" exactly when it is 2 px or less.
            assert ("small" in code.damages) == (code.module_px <= 2.0)
            assert code.module_px >= 1.1 or "perspective" in code.damages


def test_every_damage_occurs_and_most_codes_carry_several() -> None:
    photos = harsh_set(40)
    counts = damage_counts(photos)
    assert all(counts[d] > 0 for d in DAMAGES), counts
    per_code = [len(c.damages) for p in photos for c in p.codes]
    assert sum(2 <= k <= 4 for k in per_code) > len(per_code) / 2


def test_jpeg_damage_is_the_file_quality() -> None:
    for photo in harsh_set(20):
        damaged = any("jpeg" in c.damages for c in photo.codes)
        assert damaged == (photo.quality < 50)
        decoded = cv2.imdecode(np.frombuffer(photo.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None


def test_motion_kernel_recorded_exactly_for_shaken_photos() -> None:
    for photo in harsh_set(20):
        shaken = any("motion" in c.damages for c in photo.codes)
        assert (photo.motion is not None) == shaken
        if photo.motion is not None:
            assert 3 <= photo.motion[0] <= 9 and 0 <= photo.motion[1] < 180
