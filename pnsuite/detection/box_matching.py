"""Comparing two sets of detections: per-class greedy IoU matching with named tolerances.

Used for goldens (expected boxes recorded from a trusted run) and for consistency checks
(a batch against single requests). A failed comparison says, box by box, what was
expected and what came back, and draws both onto the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pnsuite.detection import detectnet
from pnsuite.detection.detectnet import Detection

#: Two boxes of one class are candidates for "the same person" from this IoU on.
IOU_MATCH_THRESHOLD = 0.5
#: A matched box's edges may each move this fraction of the expected box's width
#: (left/right edges) or height (top/bottom edges)...
BOX_EDGE_TOLERANCE = 0.05
#: ...but never less than this many pixels (JPEG decoders and resizers differ by a pixel).
BOX_EDGE_TOLERANCE_MIN_PX = 3.0
#: A matched box's score may differ by this much.
SCORE_TOLERANCE = 0.05
#: Counts must agree, except for boxes whose score is within SCORE_TOLERANCE of the
#: decoder's coverage threshold: those may fairly come and go with tiny numeric changes.
BORDERLINE_SCORE = detectnet.COVERAGE_THRESHOLD + SCORE_TOLERANCE

EXPECTED_COLOUR = (255, 96, 0)  # BGR: blue
GOT_COLOUR = (0, 220, 0)  # BGR: green


@dataclass(frozen=True)
class Tolerances:
    """The named tolerances of one comparison (the defaults are the module's)."""

    iou: float = IOU_MATCH_THRESHOLD
    edge_fraction: float = BOX_EDGE_TOLERANCE
    edge_min_px: float = BOX_EDGE_TOLERANCE_MIN_PX
    score: float = SCORE_TOLERANCE
    borderline_score: float = BORDERLINE_SCORE

    def describe(self) -> str:
        return (
            f"IoU >= {self.iou}, edges within max({self.edge_min_px:g} px, "
            f"{self.edge_fraction:.0%} of the box), score within {self.score}, "
            f"unmatched boxes allowed only below score {self.borderline_score:.2f}"
        )


#: For results that should be the same numbers (same server, same input).
EXACT = Tolerances(edge_fraction=0.0, edge_min_px=1e-3, score=1e-6, borderline_score=0.0)


@dataclass(frozen=True)
class Pair:
    """An expected box and the box it was matched with."""

    expected: Detection
    got: Detection
    iou: float
    edge_error_px: float
    edge_limit_px: float
    score_error: float

    def within(self, tol: Tolerances) -> bool:
        return self.edge_error_px <= self.edge_limit_px and self.score_error <= tol.score


@dataclass
class MatchReport:
    """The outcome of matching expected against got detections for one image."""

    tolerances: Tolerances
    pairs: list[Pair] = field(default_factory=list)
    missing: list[Detection] = field(default_factory=list)  # expected, not found
    extra: list[Detection] = field(default_factory=list)  # found, not expected

    def _counts(self, det: Detection) -> bool:
        return det.score >= self.tolerances.borderline_score

    @property
    def off_pairs(self) -> list[Pair]:
        return [p for p in self.pairs if not p.within(self.tolerances)]

    @property
    def ok(self) -> bool:
        return not (
            self.off_pairs
            or any(map(self._counts, self.missing))
            or any(map(self._counts, self.extra))
        )

    def summary(self) -> str:
        """One line: how many matched, were off, missing, extra."""
        return (
            f"{len(self.pairs)} matched ({len(self.off_pairs)} out of tolerance), "
            f"{len(self.missing)} missing, {len(self.extra)} extra"
        )

    def describe(self) -> str:
        """Every box, expected against got, with what is wrong with it."""
        lines = [
            f"tolerances: {self.tolerances.describe()}",
            f"result: {self.summary()}",
            f"{'':5}{'expected':<34}{'got':<34}note",
        ]
        for p in sorted(self.pairs, key=lambda p: (p.expected.label, p.expected.x1)):
            note = (
                f"IoU {p.iou:.2f}, edge off {p.edge_error_px:.1f}/{p.edge_limit_px:.1f} px, "
                f"score off {p.score_error:.3f}"
            )
            flag = "ok" if p.within(self.tolerances) else "OFF"
            lines.append(f"{flag:<5}{str(p.expected):<34}{str(p.got):<34}{note}")
        for det in self.missing:
            flag = "MISS" if self._counts(det) else "~"
            lines.append(
                f"{flag:<5}{str(det):<34}{'-':<34}"
                f"not found{'' if self._counts(det) else ' (borderline score)'}"
            )
        for det in self.extra:
            flag = "XTRA" if self._counts(det) else "~"
            lines.append(
                f"{flag:<5}{'-':<34}{str(det):<34}"
                f"not expected{'' if self._counts(det) else ' (borderline score)'}"
            )
        return "\n".join(lines)


def _edge_error(expected: Detection, got: Detection, tol: Tolerances) -> tuple[float, float]:
    """Largest edge deviation and the limit for this box (the tighter of the two axes)."""
    w, h = expected.x2 - expected.x1, expected.y2 - expected.y1
    limit_x = max(tol.edge_min_px, tol.edge_fraction * w)
    limit_y = max(tol.edge_min_px, tol.edge_fraction * h)
    dx = max(abs(expected.x1 - got.x1), abs(expected.x2 - got.x2))
    dy = max(abs(expected.y1 - got.y1), abs(expected.y2 - got.y2))
    # Report the edge that is furthest out of its own axis' limit.
    if dx / limit_x >= dy / limit_y:
        return dx, limit_x
    return dy, limit_y


def match(
    expected: Sequence[Detection], got: Sequence[Detection], tolerances: Tolerances = Tolerances()
) -> MatchReport:
    """Greedy IoU matching per class: the pair with the highest IoU is taken first, then
    the next among boxes still free, down to the IoU threshold."""
    report = MatchReport(tolerances)
    for label in sorted({d.label for d in expected} | {d.label for d in got}):
        exp = [d for d in expected if d.label == label]
        found = [d for d in got if d.label == label]
        candidates = sorted(
            (
                (detectnet.iou(e.box, g.box), i, j)
                for i, e in enumerate(exp)
                for j, g in enumerate(found)
            ),
            reverse=True,
        )
        used_e: set[int] = set()
        used_g: set[int] = set()
        for overlap, i, j in candidates:
            if overlap < tolerances.iou:
                break
            if i in used_e or j in used_g:
                continue
            used_e.add(i)
            used_g.add(j)
            err, limit = _edge_error(exp[i], found[j], tolerances)
            report.pairs.append(
                Pair(exp[i], found[j], overlap, err, limit, abs(exp[i].score - found[j].score))
            )
        report.missing += [d for i, d in enumerate(exp) if i not in used_e]
        report.extra += [d for j, d in enumerate(found) if j not in used_g]
    return report


def write_overlay(image: np.ndarray, report: MatchReport, path: Path) -> Path:
    """Draw expected boxes (blue, thick) and got boxes (green, thin) onto a PNG."""
    expected = [p.expected for p in report.pairs] + report.missing
    got = [p.got for p in report.pairs] + report.extra
    canvas = image.copy()
    # Small images get scaled up so that labels stay readable.
    zoom = max(1, int(np.ceil(480 / max(1, min(canvas.shape[:2])))))
    if zoom > 1:
        canvas = cv2.resize(canvas, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        expected = [_scaled(d, zoom) for d in expected]
        got = [_scaled(d, zoom) for d in got]
    canvas = detectnet.draw(canvas, expected, EXPECTED_COLOUR, thickness=4)
    canvas = detectnet.draw(canvas, got, GOT_COLOUR, thickness=1)
    legend = f"expected: blue   got: green   ({report.summary()})"
    # The legend goes at the bottom: boxes near the top keep their labels visible.
    h = canvas.shape[0]
    cv2.rectangle(canvas, (0, h - 22), (canvas.shape[1], h), (0, 0, 0), -1)
    cv2.putText(
        canvas, legend, (4, h - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), canvas):
        raise OSError(f"could not write overlay {path}")
    return path


def _scaled(det: Detection, zoom: int) -> Detection:
    return Detection(
        det.label, det.score, det.x1 * zoom, det.y1 * zoom, det.x2 * zoom, det.y2 * zoom
    )


def assert_same_detections(
    expected: Sequence[Detection],
    got: Sequence[Detection],
    image: np.ndarray,
    overlay_path: Path,
    what: str,
    tolerances: Tolerances = Tolerances(),
) -> MatchReport:
    """Match and raise AssertionError (listing every box, with an overlay PNG) on a
    mismatch; return the report when the detections agree."""
    report = match(expected, got, tolerances)
    if report.ok:
        return report
    written = write_overlay(image, report, overlay_path)
    raise AssertionError(
        f"{what}: detections differ\n{report.describe()}\n"
        f"overlay (expected blue, got green): {written}"
    )
