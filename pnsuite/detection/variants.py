"""Variants of an image for a load of distinct images: horizontal flips, whose answers
follow from the original's, and a centre crop at full resolution.

A flip is exact on the network input (the pre-processed tensor's columns reversed, no
resampling), so a load can send it beside its original as a distinct request, and the
boxes a model should find on it are the original's, mirrored about the input's centre
line. Boxes are in network-input pixels, where the flip is exact; the letterbox's odd
padding pixel moves to the other side with it, so image pixels would not mirror exactly.

What a real model finds on a flip is close to the mirrored boxes, not equal (HOG's
people detector, the CPU stand-in's, is not mirror-symmetric): the check under load
compares a flip's answers with the same server's answer for the flip alone, not with
the mirror.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pnsuite.detection.detectnet import NET_H, NET_W, Detection, ImageError

FLIPPED = "flipped"
CENTRE = "centre"


def flip(chw: np.ndarray) -> np.ndarray:
    """A network input ([..., 3, H, W]) mirrored left to right, as a contiguous copy."""
    return np.ascontiguousarray(chw[..., ::-1])


def mirror(det: Detection, width: float = NET_W) -> Detection:
    """Where `det` lies on the flipped input: its edges mirrored about `width / 2`."""
    return Detection(det.label, det.score, width - det.x2, det.y1, width - det.x1, det.y2)


def mirrored(detections: Iterable[Detection], width: float = NET_W) -> list[Detection]:
    """The boxes a flip's answer should hold, given the original's (network pixels)."""
    return [mirror(d, width) for d in detections]


def flipped_name(name: str) -> str:
    """The name a flip of image `name` goes by in loads and error messages."""
    return f"{name} ({FLIPPED})"


def centre_crop(bgr: np.ndarray) -> np.ndarray:
    """The middle of an image (HxWx3), as large as the image's letterbox fills the network
    input with, at full resolution (no resampling): it letterboxes to the same padding as
    the whole image, so a model scans as many picture pixels in both. The image must be
    at least that large (one the letterbox shrinks or keeps at its size)."""
    h, w = bgr.shape[:2]
    scale = min(NET_W / w, NET_H / h)
    if scale > 1:
        raise ImageError(
            f"a {w}x{h} image is enlarged to fit the network input: "
            f"no full-resolution crop fills it alike"
        )
    crop_w, crop_h = min(NET_W, max(1, round(w * scale))), min(NET_H, max(1, round(h * scale)))
    x0, y0 = (w - crop_w) // 2, (h - crop_h) // 2
    return np.ascontiguousarray(bgr[y0 : y0 + crop_h, x0 : x0 + crop_w])


def centre_name(name: str) -> str:
    """The name a centre crop of image `name` goes by in loads and error messages."""
    return f"{name} ({CENTRE})"
