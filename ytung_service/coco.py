"""COCO object-detection documents (SPEC S7): pure construction and reading, no I/O.

The platform's own model of a labeled image is the one the labeling tool and the API use::

    {"file_name": "a/cat.jpg", "width": 640, "height": 480, "shapes": [
        {"type": "bbox", "class": "cat", "bbox": [x, y, w, h]},
        {"type": "polygon", "class": "dog", "points": [[x1, y1], [x2, y2], [x3, y3]]},
    ]}

:func:`write` turns a list of such images and the class names into a COCO document:

- ``images``: ids 1..N in the order given;
- ``categories``: ids 1..K in the order of the class names (``category_id`` starts at 1);
- ``annotations``: ids 1..M, unique in the document, in image order then shape order;
  ``bbox`` is ``[x, y, w, h]``; ``area`` is ``w * h`` for a box and the polygon's area (shoelace
  formula) for a polygon; polygons carry ``segmentation`` ``[[x1, y1, x2, y2, ...]]`` (boxes an
  empty list); ``iscrowd`` is always 0.

:func:`read` does the reverse, refusing (400) what the platform cannot represent (crowd/RLE
annotations, unknown ids). ``write(*read(doc))`` gives ``doc`` back for any document ``write``
made (the golden files in ``tests/service/golden/`` hold such documents).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import DomainError

BBOX = "bbox"
POLYGON = "polygon"
SHAPE_TYPES = (BBOX, POLYGON)

#: decimals kept in ``area`` (floating-point products otherwise end in ...00000003)
AREA_DECIMALS = 6


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """The area enclosed by ``points`` ``[[x, y], ...]`` (shoelace formula; any orientation)."""
    twice = 0.0
    n = len(points)
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        twice += x1 * y2 - x2 * y1
    return abs(twice) / 2.0


def bbox_of(points: Sequence[Sequence[float]]) -> list[float]:
    """``[x, y, w, h]`` of the smallest axis-aligned box holding ``points``."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def _area(value: float) -> float:
    return round(value, AREA_DECIMALS)


def annotation(ann_id: int, image_id: int, category_id: int, shape: dict) -> dict:
    """The COCO annotation of one shape of the platform's model."""
    if shape["type"] == BBOX:
        x, y, w, h = shape["bbox"]
        return {
            "id": ann_id,
            "image_id": image_id,
            "category_id": category_id,
            "bbox": [x, y, w, h],
            "area": _area(w * h),
            "segmentation": [],
            "iscrowd": 0,
        }
    points = shape["points"]
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": bbox_of(points),
        "area": _area(polygon_area(points)),
        "segmentation": [[c for point in points for c in point]],
        "iscrowd": 0,
    }


def write(
    images: Iterable[dict], classes: Sequence[str], *, info: dict | None = None
) -> dict[str, Any]:
    """The COCO document of ``images`` (the platform's model, see above) labeled with ``classes``.

    A shape whose class is not in ``classes`` is a programming error (``KeyError``): shapes
    are validated when they are submitted.
    """
    category_ids = {name: i + 1 for i, name in enumerate(classes)}
    doc_images: list[dict] = []
    annotations: list[dict] = []
    for image_id, image in enumerate(images, start=1):
        doc_images.append(
            {
                "id": image_id,
                "file_name": image["file_name"],
                "width": image["width"],
                "height": image["height"],
            }
        )
        for shape in image.get("shapes") or ():
            annotations.append(
                annotation(len(annotations) + 1, image_id, category_ids[shape["class"]], shape)
            )
    return {
        "info": dict(info or {}),
        "licenses": [],
        "images": doc_images,
        "annotations": annotations,
        "categories": [
            {"id": cid, "name": name, "supercategory": ""} for name, cid in category_ids.items()
        ],
    }


def _refuse(message: str, **params) -> DomainError:
    # every message here is a DomainError literal so that the i18n extraction sees it
    return DomainError(400, message, **params)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read(doc: Any) -> tuple[list[dict], list[str], dict]:
    """``(images, classes, info)`` of a COCO document: the inverse of :func:`write`.

    Images keep the document's order and shapes the order of their annotations in it. A
    polygon annotation with several parts becomes one polygon shape per part; one without a
    segmentation is a box. Coordinates are checked for type only here (inside-the-image checks
    belong to the annotation dataset the document is imported into).
    """
    if not isinstance(doc, dict):
        raise DomainError(400, "A COCO document must be a JSON object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise DomainError(400, "The COCO document has no '{key}' list", key=key)

    classes: list[str] = []
    category_names: dict[int, str] = {}
    for cat in sorted(
        (c for c in doc["categories"] if isinstance(c, dict) and _whole(c.get("id"))),
        key=lambda c: c["id"],
    ):
        name = cat.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DomainError(400, "COCO category {id} has no name", id=cat["id"])
        if cat["id"] in category_names or name in classes:
            raise DomainError(
                400, "COCO category {id} ({name}) appears twice", id=cat["id"], name=name
            )
        category_names[cat["id"]] = name
        classes.append(name)
    if len(classes) != len(doc["categories"]):
        raise DomainError(400, "Every COCO category needs a whole-number 'id' and a 'name'")

    images: list[dict] = []
    by_id: dict[int, dict] = {}
    for img in doc["images"]:
        if not isinstance(img, dict) or not _whole(img.get("id")):
            raise DomainError(400, "Every COCO image needs a whole-number 'id'")
        file_name = img.get("file_name")
        if not isinstance(file_name, str) or not file_name:
            raise DomainError(400, "COCO image {id} has no file_name", id=img["id"])
        width, height = img.get("width"), img.get("height")
        if not (_whole(width) and _whole(height) and width > 0 and height > 0):
            raise DomainError(
                400, "COCO image {id} needs a positive whole width and height", id=img["id"]
            )
        if img["id"] in by_id:
            raise DomainError(400, "COCO image id {id} appears twice", id=img["id"])
        image = {"file_name": file_name, "width": width, "height": height, "shapes": []}
        by_id[img["id"]] = image
        images.append(image)

    seen: set[int] = set()
    for ann in doc["annotations"]:
        if not isinstance(ann, dict) or not _whole(ann.get("id")):
            raise DomainError(400, "Every COCO annotation needs a whole-number 'id'")
        ann_id = ann["id"]
        if ann_id in seen:
            raise DomainError(400, "COCO annotation id {id} appears twice", id=ann_id)
        seen.add(ann_id)
        if ann.get("iscrowd", 0) not in (0, False):
            raise DomainError(
                400,
                "COCO annotation {id} is a crowd (RLE) annotation; only boxes and polygons can be imported",
                id=ann_id,
            )
        image = by_id.get(ann.get("image_id"))
        if image is None:
            raise DomainError(400, "COCO annotation {id} names an unknown image_id", id=ann_id)
        name = category_names.get(ann.get("category_id"))
        if name is None:
            raise DomainError(400, "COCO annotation {id} names an unknown category_id", id=ann_id)
        segmentation = ann.get("segmentation") or []
        if not isinstance(segmentation, list):
            raise DomainError(
                400,
                "COCO annotation {id} is a crowd (RLE) annotation; only boxes and polygons can be imported",
                id=ann_id,
            )
        if segmentation:
            for part in segmentation:
                if (
                    not isinstance(part, list)
                    or len(part) % 2
                    or len(part) < 6
                    or not all(_number(c) for c in part)
                ):
                    raise DomainError(
                        400,
                        "COCO annotation {id} has a polygon that is not a list of at least 3 x, y pairs",
                        id=ann_id,
                    )
                points = [[part[i], part[i + 1]] for i in range(0, len(part), 2)]
                image["shapes"].append({"type": POLYGON, "class": name, "points": points})
        else:
            bbox = ann.get("bbox")
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(_number(c) for c in bbox)):
                raise DomainError(
                    400, "COCO annotation {id} needs a bbox [x, y, width, height]", id=ann_id
                )
            image["shapes"].append({"type": BBOX, "class": name, "bbox": list(bbox)})
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    return images, classes, info
