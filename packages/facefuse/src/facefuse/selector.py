"""Which target faces get swapped: FaceFusion's `--face-selector-mode` and `-order`.

`reference` keeps the faces whose identity embedding lies within `--reference-face-distance`
of the reference face's, with FaceFusion's scale: (1 - cosine similarity) / 2, so 0 is the
same direction and 1 the opposite; the default 0.3 keeps faces with cosine above 0.4.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from facefuse.types import Embedding, Face

ORDER_KEYS: dict[str, Callable[[Face], float]] = {
    "left-right": lambda face: float(face.box[0]),
    "right-left": lambda face: -float(face.box[0]),
    "top-bottom": lambda face: float(face.box[1]),
    "bottom-top": lambda face: -float(face.box[1]),
    "small-large": lambda face: face.area,
    "large-small": lambda face: -face.area,
    "best-worst": lambda face: -face.score,
    "worst-best": lambda face: face.score,
}


def order_faces(faces: Sequence[Face], order: str) -> list[Face]:
    return sorted(faces, key=ORDER_KEYS[order])


def face_distance(embedding: Embedding, reference: Embedding) -> float:
    """FaceFusion's face distance, 0..1, between two raw (unnormalised) embeddings."""
    a = embedding / (np.linalg.norm(embedding) or 1.0)
    b = reference / (np.linalg.norm(reference) or 1.0)
    return float(np.interp(1.0 - float(np.dot(a, b)), [0.0, 2.0], [0.0, 1.0]))


def cosine_similarity(a: Embedding, b: Embedding) -> float:
    return float(np.dot(a, b) / ((np.linalg.norm(a) * np.linalg.norm(b)) or 1.0))


def match_reference(faces: Sequence[Face], embeddings: Sequence[Embedding],
                    references: Sequence[Embedding], distance: float) -> list[Face]:
    """The faces within `distance` of any reference, in their given order."""
    return [face for face, embedding in zip(faces, embeddings, strict=True)
            if any(face_distance(embedding, reference) < distance for reference in references)]
