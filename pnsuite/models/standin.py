"""The PeopleNet stand-in: a Triton python-backend model with PeopleNet's tensor contract.

It is NOT PeopleNet. It finds people with OpenCV's HOG people detector (no weights to
download, runs on a CPU) and writes them into PeopleNet's DetectNet_v2 output grid with
`detectnet.encode`, the exact inverse of the client's decoder. The model repositories'
`model.py` files import this class; the python backend stub imports it from the
environment whose `python3` is first on PATH when the server starts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from pnsuite.detection import detectnet

# One HOG call per core: OpenCV's own threading would spread one image over every core
# and hide the effect of more model instances.
cv2.setNumThreads(1)

HOG_WIN_STRIDE = (8, 8)
HOG_PADDING = (8, 8)
HOG_SCALE = 1.05
# OpenCV's people-detection sample trims HOG's loose 64x128 window by these fractions.
TRIM_X, TRIM_Y = 0.15, 0.05


def _score(weight: float) -> float:
    # SVM margin -> (0, 1) like PeopleNet's sigmoid coverage; margin 0 is coverage 0.5.
    return float(1.0 / (1.0 + np.exp(-weight)))


class PeopleDetector:
    """HOG people detector that answers in PeopleNet's output layout."""

    def __init__(self, extra_work: float = 0.0) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(
            np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32)
        )
        # For test repos that need a slower model with the same answers: HOG scans an
        # extra strip of this fraction of the width (its cost grows with the area scanned).
        self._extra_columns = int(round(detectnet.NET_W * max(0.0, extra_work)))

    def _scan(self, bgr: np.ndarray) -> tuple[Sequence[Sequence[int]], Sequence[float]]:
        # OpenCV's boxes and weights (arrays, or empty tuples when it finds no one)
        return self._hog.detectMultiScale(
            bgr, winStride=HOG_WIN_STRIDE, padding=HOG_PADDING, scale=HOG_SCALE
        )

    def detect(self, chw: np.ndarray) -> list[detectnet.Detection]:
        bgr = detectnet.network_input_to_bgr(chw)
        rects, weights = self._scan(bgr)
        if self._extra_columns:
            self._scan(np.ascontiguousarray(bgr[:, : max(self._extra_columns, 72)]))
        found = []
        for (x, y, w, h), weight in zip(
            np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1)
        ):
            dx, dy = TRIM_X * w, TRIM_Y * h
            found.append(
                detectnet.Detection(
                    "person",
                    _score(float(weight)),
                    float(x + dx),
                    float(y + dy),
                    float(x + w - dx),
                    float(y + h - dy),
                )
            )
        return found

    def __call__(self, chw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return detectnet.encode(self.detect(chw))


class TritonPythonModel:
    """Python-backend entry point: every request of a batch in one `execute()`."""

    def initialize(self, args: dict) -> None:
        import triton_python_backend_utils as pb_utils  # only inside the stub

        self._pb = pb_utils
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        extra_work = float(params.get("extra_work", "0"))
        # Test-only: hold every execution this long (in-flight work for shutdown tests).
        self._delay_s = float(params.get("execute_delay_s", "0"))
        # Test-only: answer like a broken engine ("zeros": nobody anywhere; "nan": an
        # overflow in part of the grid), for the checks that must catch one.
        self._broken = params.get("broken_answers", "")
        if self._broken not in ("", "zeros", "nan"):
            raise ValueError(f"broken_answers must be zeros or nan, got {self._broken!r}")
        workers = int(params.get("batch_workers", "0")) or os.cpu_count() or 1
        self._detector = PeopleDetector(extra_work=extra_work)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="standin")

    def execute(self, requests: list) -> list:
        pb = self._pb
        if self._delay_s:
            time.sleep(self._delay_s)
        inputs = [pb.get_input_tensor_by_name(r, detectnet.INPUT_NAME).as_numpy() for r in requests]
        images = [img for batch in inputs for img in batch]
        # cv2 releases the GIL, so the images of a batch really run in parallel.
        grids = list(self._pool.map(self._detector, images))
        responses, start = [], 0
        for batch in inputs:
            part = grids[start : start + len(batch)]
            start += len(batch)
            cov = (
                np.stack([g[0] for g in part])
                if part
                else np.zeros((0, *detectnet.COV_SHAPE), np.float32)
            )
            bbox = (
                np.stack([g[1] for g in part])
                if part
                else np.zeros((0, *detectnet.BBOX_SHAPE), np.float32)
            )
            if self._broken == "zeros":
                cov, bbox = np.zeros_like(cov), np.zeros_like(bbox)
            elif self._broken == "nan":
                cov[:, 0, 10:12, 20:23] = np.nan
            responses.append(
                pb.InferenceResponse(
                    output_tensors=[
                        pb.Tensor(detectnet.COV_NAME, cov),
                        pb.Tensor(detectnet.BBOX_NAME, bbox),
                    ]
                )
            )
        return responses

    def finalize(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
