"""Synthetic fingerprints and face frames: the properties the rest of the project relies on."""

from __future__ import annotations

import numpy as np
import pytest

from hal.phantoms import face
from hal.phantoms import fingerprint as fp


def ridge_period(image: np.ndarray) -> float:
    """Dominant period (pixels) of a central patch, from its 2-D spectrum."""
    h, w = image.shape
    patch = image[h // 2 - 48 : h // 2 + 48, w // 2 - 48 : w // 2 + 48].astype(float)
    patch = (patch - patch.mean()) * np.hanning(96)[:, None] * np.hanning(96)[None, :]
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(patch, s=(256, 256))))
    spectrum[120:137, 120:137] = 0  # drop the lowest frequencies
    y, x = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    radius = np.hypot(y - 128, x - 128)
    return 256 / radius


def test_ridge_period_is_about_nine_pixels() -> None:
    periods = [ridge_period(fp.impression(fp.identity(i), 0, difficulty=0.0)) for i in range(4)]
    assert all(7.0 < p < 11.5 for p in periods), periods


def test_generation_is_deterministic() -> None:
    a = fp.impression(fp.identity(3, seed=7), 2)
    b = fp.impression(fp.identity(3, seed=7), 2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, fp.impression(fp.identity(3, seed=7), 3))


def test_impressions_of_one_finger_resemble_each_other_more_than_other_fingers() -> None:
    still = fp.ImpressionParams(0, 0, 0, 2.0, 0.0, 0.03, 0.5, 1.0)

    def centre(finger: int, seed: int) -> np.ndarray:
        img = fp.impression(fp.identity(finger), seed, params=still).astype(float)
        patch = img[80:208, 64:192]
        return (patch - patch.mean()) / patch.std()

    same = float(np.mean(centre(0, 1) * centre(0, 2)))
    other = max(abs(float(np.mean(centre(0, 1) * centre(k, 2)))) for k in (1, 2, 3))
    assert same > 0.5 and other < 0.3


def test_difficulty_changes_the_capture() -> None:
    ident = fp.identity(1)
    easy = [fp.impression(ident, s, difficulty=0.0) for s in range(6)]
    hard = [fp.impression(ident, s, difficulty=1.0) for s in range(6)]
    coverage = lambda imgs: np.mean([(i < 128).mean() for i in imgs])  # noqa: E731
    assert coverage(hard) < coverage(easy)


def test_pattern_classes_are_all_reachable() -> None:
    classes = {fp.identity(i).pattern for i in range(200)}
    assert classes == set(fp.PatternClass)


def test_source_serves_known_fingers_in_any_size() -> None:
    source = fp.PhantomFingerSource(fingers=2, size=(500, 400))
    first = source.next_image()
    assert first.shape == (500, 400) and first.dtype == np.uint8
    assert source.last_finger == 0
    source.next_image()
    assert source.last_finger == 1
    with pytest.raises(ValueError):
        fp.PhantomFingerSource(fingers=0)


def test_face_frames_follow_their_variation() -> None:
    base = face.render()
    assert base.shape == (480, 640, 3) and base.dtype == np.uint8
    dark = face.render(face.FrameVariation(exposure=0.3))
    assert dark.mean() < base.mean() * 0.5
    blurred = face.render(face.FrameVariation(blur_sigma=3.0))
    assert (
        np.abs(np.diff(blurred.astype(float), axis=1)).mean()
        < np.abs(np.diff(base.astype(float), axis=1)).mean()
    )
    small = face.render(face.FrameVariation(scale=0.4), size=(240, 320))
    assert small.shape == (240, 320, 3)
    frames = face.PhantomFaceSource(seed=1)
    assert not np.array_equal(frames.next_frame(), frames.next_frame())
