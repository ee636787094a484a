"""Five-point similarity alignment to a model's face template, and pasting a crop back.

Swap and recognition models were trained on faces placed at fixed eye, nose and mouth
positions; a similarity transform (rotation, uniform scale, shift) maps the detected
landmarks there without distorting the face.
"""

from __future__ import annotations

import cv2
import numpy as np

from facefuse.types import Frame, Landmarks5, Matrix, WarpTemplateName

# Normalised (0..1) landmark positions of each template, from FaceFusion's `face_helper.py`.
WARP_TEMPLATES: dict[WarpTemplateName, np.ndarray] = {
    "arcface_112_v2": np.array([
        [0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.50022500, 0.64050536],
        [0.37097589, 0.82469196], [0.63151696, 0.82325089]]),
    "arcface_128": np.array([
        [0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
        [0.38710391, 0.72160547], [0.61507734, 0.72034453]]),
    "ffhq_512": np.array([
        [0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
        [0.39308822, 0.72541100], [0.61150205, 0.72490465]]),
}
# arcface_128 shrunk about the centre: room for forehead and chin around the inner face, which
# the classical swapper blends with a feathered ellipse that must stay inside the crop
WARP_TEMPLATES["arcface_128_wide"] = (WARP_TEMPLATES["arcface_128"] - 0.5) * 0.75 + 0.5


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> Matrix:
    """Least-squares similarity transform taking points `src` onto `dst` (Umeyama's method),
    as a 2x3 matrix. Closed form, so the same landmarks always give the same crop."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(covariance)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rotation = u @ np.diag(d) @ vt
    variance = (src_c ** 2).sum() / len(src)
    scale = (s * d).sum() / variance if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def template_points(template: WarpTemplateName, size: int) -> np.ndarray:
    """The template's landmark positions in pixels of a `size` x `size` crop."""
    return WARP_TEMPLATES[template] * size


def warp_face(frame: Frame, landmarks: Landmarks5, template: WarpTemplateName,
              size: int) -> tuple[Frame, Matrix]:
    """The face cropped and aligned to `template` at `size` px, and the matrix used."""
    matrix = similarity_matrix(landmarks, template_points(template, size))
    crop = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop, matrix


def paste_back(frame: Frame, crop: np.ndarray, mask: np.ndarray, matrix: Matrix) -> Frame:
    """`frame` with `crop` blended in where `mask` (0..1, crop-sized) says, through the inverse
    of `matrix`. Works only on the face's bounding rectangle, so cost does not grow with the
    frame size."""
    height, width = frame.shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    size = crop.shape[1], crop.shape[0]
    corners = np.array([[0, 0], [size[0], 0], [0, size[1]], [size[0], size[1]]], dtype=np.float64)
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    x1, y1 = np.floor(mapped.min(axis=0)).astype(int)
    x2, y2 = np.ceil(mapped.max(axis=0)).astype(int)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2, width), min(y2, height)
    if x2 <= x1 or y2 <= y1:
        return frame
    shifted = inverse.copy()
    shifted[:, 2] -= (x1, y1)
    region = (x2 - x1, y2 - y1)
    warped = cv2.warpAffine(crop.astype(np.float32), shifted, region,
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask.astype(np.float32), shifted, region,
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0.0).clip(0, 1)[..., None]
    out = frame.copy()
    patch = out[y1:y2, x1:x2].astype(np.float32)
    out[y1:y2, x1:x2] = (patch * (1 - alpha) + warped * alpha).round().clip(0, 255).astype(
        np.uint8)
    return out
