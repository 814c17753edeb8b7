"""The on-device fingerprint chain on synthetic impressions: templates, quality, streaming."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from finger_fixtures import analyzer, impression
from PIL import Image
from scipy import ndimage

from central import fingerprint_matcher as fpm
from firmware.biometrics.fingerprint import framing, leader, pipeline, quality
from firmware.biometrics.fingerprint.blocks import BandAccumulator
from firmware.biometrics.fingerprint.errors import FingerprintError
from firmware.biometrics.fingerprint.pipeline import MAX_MINUTIAE, FingerprintAnalyzer
from wire.iso19794_2 import MinutiaeRecord


def test_the_template_is_a_valid_iso_record_that_decodes_bit_exact() -> None:
    result = analyzer().analyse(impression(0, 0))
    assert 12 <= len(result.minutiae) <= MAX_MINUTIAE
    data = result.record(position=2).encode()
    assert len(data) == 30 + 6 * len(result.minutiae)
    decoded = MinutiaeRecord.decode(data)
    assert decoded.encode() == data
    view = decoded.views[0]
    assert view.position == 2 and view.quality == result.quality.score
    for m, original in zip(view.minutiae, result.minutiae, strict=True):
        assert (m.x, m.y, m.kind) == (original.x, original.y, original.kind)
        assert 0 <= m.x < result.width and 0 <= m.y < result.height
        assert 35 <= m.quality <= 100  # LEADER's reliability above its 0.35 threshold
        assert abs(fpm.wrap(np.array(m.angle - original.angle))) <= np.pi / 256 + 1e-9


def test_genuine_pairs_score_above_impostor_pairs() -> None:
    prepared = {
        (f, i): fpm.prepare(analyzer().analyse(impression(f, i)).minutiae)
        for f in range(4)
        for i in range(2)
    }
    genuine, impostor = [], []
    for (ka, a), (kb, b) in itertools.combinations(prepared.items(), 2):
        (genuine if ka[0] == kb[0] else impostor).append(fpm.match(a, b)[0])
    assert min(genuine) > 3 * max(impostor)


def test_the_minutiae_follow_the_finger_when_it_moves() -> None:
    image = impression(1, 0)
    shifted = np.roll(image, (12, -9), axis=(0, 1))
    shifted[:12, :] = shifted[-1, -1]
    shifted[:, -9:] = shifted[-1, -1]
    a = analyzer().analyse(image)
    b = analyzer().analyse(shifted)
    moved = {(m.x - 9, m.y + 12) for m in a.minutiae}
    found = sum(any(abs(m.x - x) <= 2 and abs(m.y - y) <= 2 for x, y in moved) for m in b.minutiae)
    assert found >= 0.8 * len(b.minutiae)


def test_quality_falls_and_says_why_for_degraded_captures() -> None:
    clean = analyzer().analyse(impression(2, 0, difficulty=0.0)).quality
    assert clean.score >= 50 and clean.acceptable
    image = impression(2, 0, difficulty=0.0).astype(np.float64)
    blurred = np.clip(ndimage.gaussian_filter(image, 3.0), 0, 255).astype(np.uint8)
    faint = np.clip(200 + (image - 200) * 0.12, 0, 255).astype(np.uint8)
    partial = impression(2, 0, difficulty=0.0).copy()
    partial[:, 90:] = 235
    for degraded, reason in ((blurred, None), (faint, "too_light"), (partial, "too_small")):
        quality = analyzer().analyse(degraded).quality
        assert quality.score < clean.score - 15, reason
        assert not quality.acceptable and quality.guidance
        if reason:
            assert reason in quality.failing
    assert (analyzer().analyse(partial).quality.blocks[:, 8:] == 0).all()


@pytest.mark.parametrize("finger", [0, 2, 5])
def test_quality_falls_with_pressure_faults(finger: int) -> None:
    """Pressed too hard (or wet), the valleys close and ridges merge; too dry or too light a
    touch, the ridges thin and break. Neither changes the print's contrast or area, so the
    score sees them through the ridges' clarity; the earlier score, built on LEADER's
    reliabilities, barely moved (72 to 68 for a pressed print)."""
    image = impression(finger, 0, difficulty=0.0)
    clean = analyzer().analyse(image).quality
    pressed = analyzer().analyse(ndimage.grey_erosion(image, size=5)).quality
    dry = analyzer().analyse(ndimage.grey_dilation(image, size=5)).quality
    assert pressed.score < clean.score - 15, (clean.score, pressed.score)
    assert dry.score < clean.score - 15, (clean.score, dry.score)
    assert pressed.measures["clear_share"] < clean.measures["clear_share"] - 0.15


def test_quality_falls_with_few_minutiae_on_clear_ridges() -> None:
    """A clear, large enough print with few minutiae gives a comparison little to hold on to
    (a fingertip placed high: 18-21 minutiae where its FVC set's median is 39)."""
    clear = {"clear": 0.9, "contrast": 40.0, "finger_mm2": 150.0}
    scores = [quality.unified(**clear, minutiae=n) for n in (8, 14, 18, 22, 30, 48)]
    assert scores == sorted(scores) and scores[0] < 5 and scores[-1] == 90
    assert scores[2] < 0.6 * scores[-1] < scores[3]
    # The chain scores a print from the minutiae its template keeps.
    result = analyzer().analyse(impression(4, 0, difficulty=0.0))
    assert result.quality.measures["minutiae"] == len(result.minutiae) >= 30


def test_local_clarity_is_high_on_clean_ridges_and_one_half_on_noise() -> None:
    """Clarity compares each pixel with its block's wave across the ridges: clean ridges at any
    angle or contrast agree with it, noise only by chance."""
    ys, xs = np.mgrid[0:256, 0:256]
    rng = np.random.default_rng(7)
    for angle in (0.0, 0.5, 1.2, 2.6):
        for amplitude in (10.0, 80.0):
            across = xs * np.cos(angle) + ys * np.sin(angle)
            wave = 128 + amplitude * np.sin(2 * np.pi * across / 9)
            blocks = _blocks(np.clip(wave, 0, 255).astype(np.uint8))
            assert np.median(blocks.clarity) > 0.9, (angle, amplitude)
    noise = _blocks(np.clip(rng.normal(128, 40, (256, 256)), 0, 255).astype(np.uint8))
    # A little above one half: with about ten pixels a bin, a bin's own mean leans its way.
    assert 0.45 < np.median(noise.clarity) < 0.65
    # Broken ridges (a dry finger): a third of each ridge lifted to the valleys' grey.
    wave = 128 + 60 * np.sin(2 * np.pi * xs / 9)
    broken = np.where((rng.random((256, 256)) < 0.33) & (wave < 128), 188, wave)
    assert np.median(_blocks(broken.astype(np.uint8)).clarity) < 0.8


def _blocks(image: np.ndarray):  # type: ignore[no-untyped-def]
    bands = BandAccumulator(image.shape[1], image.shape[0], 500)
    for index, row in enumerate(image):
        bands.feed(index, row)
    return bands.finish()[1]


def test_a_faint_print_still_gives_its_minutiae_and_is_called_too_light() -> None:
    # A dry finger or a light touch: ridges at an eighth of the contrast, all still visible.
    image = impression(2, 0, difficulty=0.0)
    clean = analyzer().analyse(image)
    faint = analyzer().analyse(np.clip(200 + (image - 200.0) * 0.12, 0, 255).astype(np.uint8))
    found = sum(
        any(abs(m.x - c.x) <= 4 and abs(m.y - c.y) <= 4 for c in clean.minutiae)
        for m in faint.minutiae
    )
    assert found >= 0.8 * len(clean.minutiae)
    assert faint.quality.failing == ("too_light",)
    assert faint.quality.score < clean.quality.score - 15


def test_a_finger_that_runs_off_the_sensor_keeps_its_edges() -> None:
    # The sensor's window cuts the finger: every edge block holds ridges and stays finger.
    window = impression(2, 0, difficulty=0.0)[48:-48, 40:-40]
    bands = BandAccumulator(window.shape[1], window.shape[0], 500)
    for index, row in enumerate(window):
        bands.feed(index, row)
    finger = bands.finish()[1].foreground()
    for edge in (finger[0], finger[-1], finger[:, 0], finger[:, -1]):
        assert edge.mean() >= 0.75
    near_edge = [
        m
        for m in analyzer().analyse(window).minutiae
        if min(m.x, m.y, window.shape[1] - m.x, window.shape[0] - m.y) < 24
    ]
    assert near_edge


@pytest.mark.parametrize(("noise", "grain"), [(0.0, 0.0), (6.0, 1.0), (10.0, 2.0)])
def test_an_empty_sensor_gives_no_minutiae_and_says_so(noise: float, grain: float) -> None:
    # Blank glass, also with sensor noise (grain: its correlation length in pixels), which
    # the mask takes in as faint as it must to keep faint prints.
    speckle = np.random.default_rng(7).normal(0.0, 1.0, (288, 256))
    if grain:
        speckle = ndimage.gaussian_filter(speckle, grain)
    speckle *= noise / max(float(speckle.std()), 1e-9)
    result = analyzer().analyse(np.clip(235 + speckle, 0, 255).astype(np.uint8))
    assert result.minutiae == () and result.quality.score == 0
    assert result.quality.failing == ("too_small",)
    assert "finger" in result.quality.guidance[0]


def test_the_network_runs_at_its_resolution_and_the_minutiae_come_back_at_500_ppi() -> None:
    # An image already at the network's resolution reaches it untouched, while the same
    # print at 500 ppi is resampled to exactly those pixels first: both runs see the same
    # input, so their minutiae must land on the same 500 ppi pixels, give or take the
    # window: the mask, measured on different pixels, frames the finger a little
    # differently, and the network's output moves by a pixel or two with the framing.
    image = impression(1, 0)
    h, w = image.shape
    small = pipeline.resample(image, pipeline.PPI, pipeline.NETWORK_PPI)
    assert small.shape == pipeline.at_ppi(image.shape, 500, pipeline.NETWORK_PPI) != image.shape
    direct = analyzer().analyse(image)
    given = analyzer().analyse(small, ppi=pipeline.NETWORK_PPI)
    assert (direct.width, direct.height) == (given.width, given.height) == (w, h)
    a = {(m.x, m.y) for m in direct.minutiae}
    b = np.array([(m.x, m.y) for m in given.minutiae])
    assert len(a) >= 12 and abs(len(a) - len(b)) <= 2
    assert np.mean([np.abs(b - p).max(axis=1).min() <= 2 for p in a]) >= 0.9
    assert all(0 <= x < w and 0 <= y < h for x, y in a)
    # Scaled back, not left at the network's pixels: each lies where the network, run on
    # the whole small image, put one (the window differs, so a pixel or two apart).
    raw = np.array(
        [(m.x, m.y) for m in analyzer().network.detect(small, np.ones(small.shape, bool))]
    )
    scale = pipeline.NETWORK_PPI / pipeline.PPI
    near = [np.abs(raw - (x * scale, y * scale)).max(axis=1).min() <= 2 for x, y in a]
    assert np.mean(near) >= 0.8


def test_other_resolutions_are_resampled_to_500_ppi() -> None:
    image = impression(3, 0)
    h, w = image.shape
    big = np.asarray(Image.fromarray(image).resize((round(w * 569 / 500), round(h * 569 / 500))))
    result = analyzer().analyse(big, ppi=569)
    assert (result.width, result.height) == (w, h)
    native = analyzer().analyse(image)
    matched = fpm.match(fpm.prepare(result.minutiae), fpm.prepare(native.minutiae))[0]
    assert matched > 0.3


@pytest.mark.parametrize(
    ("height", "width", "model"),
    [
        (288, 256, "256x288"),  # a family's own size may be filled to the edge
        (300, 300, "320x320"),
        (310, 300, "352x352"),  # 320x320 would leave less than PAD on a side
        (309, 218, "256x352"),  # the sizes for 425 ppi windows: 256x364 at 500 ppi
        (326, 245, "288x352"),  # 288x384
        (318, 329, "352x352"),  # 388x374
        (418, 221, "256x448"),  # 296x560 at 569 ppi
        (406, 381, "416x448"),  # 448x478
        (364, 256, "320x416"),
        (364, 328, "352x384"),
        (400, 300, "320x416"),
        (492, 260, "320x512"),
        (478, 400, "416x512"),
        (560, 296, "416x512"),  # larger than every model: the largest, cropped
    ],
)
def test_the_smallest_model_that_holds_the_finger_is_chosen(
    height: int, width: int, model: str
) -> None:
    assert leader.choose(height, width)[0] == model


def test_a_finger_larger_than_the_budget_runs_at_a_lower_resolution_cropped_around_it() -> None:
    image = np.full((700, 600), 235, np.uint8)
    image[100:600, 80:540] = np.tile(impression(0, 1), (2, 2))[:500, :460]
    result = analyzer().analyse(image)
    _, height, width = next(size for size in leader.SIZES if size[0] == result.model)
    assert height * width <= framing.BUDGET
    # 500x460 pixels of finger do not fit at any resolution down to the lowest: cropped there.
    assert result.network_ppi == framing.LOWEST_PPI
    assert len(result.minutiae) > 12
    xs = np.array([m.x for m in result.minutiae])
    ys = np.array([m.y for m in result.minutiae])
    assert xs.min() >= 80 and xs.max() < 540 and ys.min() >= 100 and ys.max() < 600
    # Centred on the finger: minutiae on both sides of its middle, both ways.
    assert (xs < 310).any() and (xs > 310).any() and (ys < 350).any() and (ys > 350).any()


def test_a_large_finger_falls_in_resolution_only_as_far_as_it_must() -> None:
    # 380x340 pixels of finger at 500 ppi: too large for the budget at 425 ppi even without
    # the margin; a little lower, its ridges fit 288x352.
    image = np.full((460, 420), 235, np.uint8)
    image[40:420, 40:380] = np.tile(impression(0, 1), (2, 2))[:380, :340]
    pixels, blocks = image, _blocks(image)
    finger = blocks.foreground()
    framed = framing.frame(blocks, finger, pixels.shape, 500, pipeline.NETWORK_PPI)
    assert framing.LOWEST_PPI < framed.ppi < pipeline.NETWORK_PPI
    assert framed.budget == framing.BUDGET and framing.fits(framed.window, framing.BUDGET)
    higher = framed.ppi + framing.PPI_STEP
    at = framing.at_ppi(pixels.shape, 500, higher)
    clear = framing.clear_region(blocks, finger)
    window = framing.extent(clear, blocks.size, at, 500 / higher / blocks.size)
    assert window is not None and not framing.fits(window, framing.BUDGET)


def test_a_finger_within_the_budget_is_framed_as_before() -> None:
    """Only large fingers change: the window is the finger's mask with the margin, at 425 ppi,
    any model."""
    pixels = impression(0, 1)
    blocks = _blocks(pixels)
    finger = blocks.foreground()
    framed = framing.frame(blocks, finger, pixels.shape, 500, pipeline.NETWORK_PPI)
    assert framed.ppi == pipeline.NETWORK_PPI and framed.budget is None
    mask = pipeline.pixel_mask(blocks, finger, framing.at_ppi(pixels.shape, 500, 425), 500, 425)
    ys, xs = np.nonzero(mask)
    m, (h, w) = leader.MARGIN, mask.shape
    assert framed.window == (
        max(0, ys.min() - m),
        min(h, ys.max() + 1 + m),
        max(0, xs.min() - m),
        min(w, xs.max() + 1 + m),
    )


@pytest.mark.parametrize("seed", range(6))
def test_the_window_is_computed_exactly_as_the_pixel_mask_would_give_it(seed: int) -> None:
    rng = np.random.default_rng(seed)
    blocks = np.zeros((int(rng.integers(10, 40)), int(rng.integers(10, 40))), bool)
    top, left = int(rng.integers(0, blocks.shape[0])), int(rng.integers(0, blocks.shape[1]))
    blocks[top : top + int(rng.integers(1, 20)), left : left + int(rng.integers(1, 20))] = True
    size, ppi, target = 12, int(rng.choice([500, 569, 512])), int(rng.integers(375, 426))
    shape = framing.at_ppi((blocks.shape[0] * size, blocks.shape[1] * size), ppi, target)

    class Grid:  # what pixel_mask reads of Blocks
        pass

    grid = Grid()
    grid.size = size  # type: ignore[attr-defined]
    mask = pipeline.pixel_mask(grid, blocks, shape, ppi, target)  # type: ignore[arg-type]
    ys, xs = np.nonzero(mask)
    expected = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
    assert framing.extent(blocks, size, shape, ppi / target / size) == expected


def test_residue_around_the_finger_is_left_out_of_a_large_window() -> None:
    """An optical sensor's platen residue has contrast but no clear ridges: it may enter the
    finger's mask, but the window a large finger is framed by is its clear ridges."""
    rng = np.random.default_rng(3)
    image = np.clip(rng.normal(200, 30, (478, 448)), 0, 255).astype(np.uint8)  # residue
    image[70:400, 80:380] = np.tile(impression(0, 1), (2, 2))[:330, :300]
    pixels, blocks = image, _blocks(image)
    finger = blocks.foreground()
    clear = framing.clear_region(blocks, finger)
    assert clear.sum() < finger.sum()
    scale = 500 / 425 / blocks.size
    at = framing.at_ppi(pixels.shape, 500, 425)
    whole, tight = (
        framing.extent(finger, blocks.size, at, scale),
        framing.extent(clear, blocks.size, at, scale),
    )
    assert whole is not None and tight is not None
    area = lambda w: (w[1] - w[0]) * (w[3] - w[2])  # noqa: E731
    assert area(tight) < 0.8 * area(whole)
    framed = framing.frame(blocks, finger, pixels.shape, 500, pipeline.NETWORK_PPI)
    assert framed.budget == framing.BUDGET


def test_a_budget_is_never_exceeded_and_the_model_holds_most_of_the_window() -> None:
    for height, width in [(500, 300), (300, 500), (700, 700), (330, 330), (240, 430)]:
        _, in_h, in_w = leader.choose(height, width, framing.BUDGET)
        assert in_h * in_w <= framing.BUDGET
    assert leader.choose(430, 240, framing.BUDGET)[0] == "256x352"  # the tallest within it
    assert leader.choose(700, 700)[0] == "416x512"  # no budget: the largest, as before


def test_rows_must_arrive_in_order_and_complete() -> None:
    stream = analyzer().stream(256, 288, 500)
    stream.feed(0, np.zeros(256, np.uint8))
    with pytest.raises(FingerprintError, match="row 2 arrived when row 1 was expected"):
        stream.feed(2, np.zeros(256, np.uint8))
    with pytest.raises(FingerprintError, match=r"has .* pixels, not 256"):
        stream.feed(1, np.zeros(200, np.uint8))
    with pytest.raises(FingerprintError, match="stopped at row 1 of 288"):
        stream.finish()


@pytest.mark.parametrize(
    ("pixels", "ppi", "message"),
    [
        (np.zeros((288, 256, 3), np.uint8), 500, "8-bit grey"),
        (np.zeros((288, 256), np.float32), 500, "8-bit grey"),
        (np.zeros((40, 256), np.uint8), 500, "too small"),
        (np.zeros((288, 256), np.uint8), 100, "outside 250-1200"),
    ],
)
def test_unusable_images_get_a_clear_error(pixels: np.ndarray, ppi: int, message: str) -> None:
    with pytest.raises(FingerprintError, match=message):
        analyzer().analyse(pixels, ppi)


def test_more_threads_give_the_same_template() -> None:
    # [fingerprint] threads: XNNPACK splits the work, not the arithmetic of each output.
    one = analyzer().analyse(impression(1, 0))
    two = FingerprintAnalyzer(threads=2).analyse(impression(1, 0))
    assert len(one.minutiae) >= 12
    assert two.minutiae == one.minutiae and two.quality.score == one.quality.score
    with pytest.raises(ValueError, match="threads must be 1 or more"):
        FingerprintAnalyzer(threads=0)
