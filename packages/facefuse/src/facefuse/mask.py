"""Masks in crop coordinates: a box with feathered edges, as FaceFusion's `box` mask type.

The blur amount is a fraction of the crop size (`--face-mask-blur 0.3` as in FaceFusion), so
the seam falls off smoothly inside the aligned face instead of at the crop border.
"""

from __future__ import annotations

import cv2
import numpy as np


def box_mask(size: int, blur: float, padding: tuple[float, float, float, float] = (0, 0, 0, 0)
             ) -> np.ndarray:
    """A `size` x `size` float mask, 1 inside and feathered to 0 at the border.

    `blur` in 0..1 scales the feather width; `padding` (top, right, bottom, left) in percent
    of the crop cuts that much off each side first.
    """
    blur_amount = int(size * 0.5 * blur)
    blur_area = max(blur_amount // 2, 1)
    mask = np.ones((size, size), dtype=np.float32)
    top, right, bottom, left = (int(size * p / 100) for p in padding)
    mask[: max(blur_area, top), :] = 0
    mask[-max(blur_area, bottom):, :] = 0
    mask[:, : max(blur_area, left)] = 0
    mask[:, -max(blur_area, right):] = 0
    if blur_amount > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur_amount * 0.25)
    return mask


def ellipse_mask(size: int, landmarks: np.ndarray, blur: float) -> np.ndarray:
    """A feathered ellipse around the inner face (eyes to chin) of an aligned crop.

    The classical swapper uses it: with no network to redraw hair and background, only the
    skin area between the landmarks is taken from the source.
    """
    eyes = landmarks[:2].mean(axis=0)
    mouth = landmarks[3:].mean(axis=0)
    eye_span = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    face_height = float(np.linalg.norm(mouth - eyes))
    top = eyes[1] - 0.55 * face_height  # eyebrows
    bottom = mouth[1] + 0.75 * face_height  # chin
    center = np.array([(eyes[0] + mouth[0]) / 2, (top + bottom) / 2])
    axes = (int(eye_span * 0.95), int((bottom - top) / 2))
    mask = np.zeros((size, size), dtype=np.float32)
    cv2.ellipse(mask, (int(center[0]), int(center[1])), axes, 0, 0, 360, 1.0, -1)
    sigma = max(size * 0.5 * blur * 0.2, 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    return mask.clip(0, 1)
