"""``ytung_service.coco``: COCO documents as pure functions, checked against golden files,
loaded by ``pycocotools`` and read back (SPEC S7)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from ytung_service import coco
from ytung_service.errors import DomainError

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> dict:
    return json.loads((GOLDEN / f"coco_{name}.json").read_text(encoding="utf-8"))


# the platform's model of tests/service/golden/coco_basic.json
BASIC_IMAGES = [
    {
        "file_name": "a/cat.jpg",
        "width": 640,
        "height": 480,
        "shapes": [
            {"type": "bbox", "class": "cat", "bbox": [10, 20, 30, 40]},
            {"type": "polygon", "class": "dog", "points": [[0, 0], [100, 0], [0, 50]]},
        ],
    },
    {
        "file_name": "b.png",
        "width": 100,
        "height": 80,
        "shapes": [
            {"type": "bbox", "class": "bird", "bbox": [1.5, 2.5, 10.5, 4]},
            {
                "type": "polygon",
                "class": "cat",
                "points": [[10, 10], [20, 10], [20, 20], [10, 20]],
            },
        ],
    },
    {"file_name": "c.webp", "width": 50, "height": 50, "shapes": []},
]
BASIC_CLASSES = ["cat", "dog", "bird"]


def test_write_gives_the_golden_document():
    doc = coco.write(BASIC_IMAGES, BASIC_CLASSES, info={"description": "pets"})
    assert doc == golden("basic")


def test_write_with_chinese_class_names():
    images = [
        {
            "file_name": "街道/001.jpg",
            "width": 1920,
            "height": 1080,
            "shapes": [
                {
                    "type": "polygon",
                    "class": "行人",
                    "points": [
                        [100.25, 200.5],
                        [400.75, 200.5],
                        [400.75, 350.75],
                        [100.25, 350.75],
                    ],
                },
                {"type": "bbox", "class": "汽车", "bbox": [0, 0, 1920, 1080]},
            ],
        }
    ]
    doc = coco.write(images, ["汽车", "行人"], info={"description": "街景 street"})
    assert doc == golden("chinese_classes")


@pytest.mark.parametrize("name", ["basic", "chinese_classes"])
def test_golden_documents_round_trip(name):
    doc = golden(name)
    images, classes, info = coco.read(copy.deepcopy(doc))
    assert coco.write(images, classes, info=info) == doc


def test_read_gives_the_platform_model():
    images, classes, info = coco.read(golden("basic"))
    assert (images, classes, info) == (BASIC_IMAGES, BASIC_CLASSES, {"description": "pets"})


def test_annotation_ids_are_unique_and_categories_start_at_one():
    many = [
        {
            "file_name": f"{i}.png",
            "width": 10,
            "height": 10,
            "shapes": [{"type": "bbox", "class": "x", "bbox": [0, 0, 1, 1]}] * 3,
        }
        for i in range(5)
    ]
    doc = coco.write(many, ["x", "y"])
    assert [a["id"] for a in doc["annotations"]] == list(range(1, 16))
    assert [c["id"] for c in doc["categories"]] == [1, 2]
    assert {a["category_id"] for a in doc["annotations"]} == {1}
    assert [a["image_id"] for a in doc["annotations"]] == [i for i in range(1, 6) for _ in range(3)]


@pytest.mark.parametrize("name", ["basic", "chinese_classes"])
def test_pycocotools_loads_the_golden_documents(tmp_path, name):
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(golden(name), ensure_ascii=False), encoding="utf-8")
    api = COCO(str(path))
    doc = golden(name)
    assert sorted(api.getImgIds()) == [i["id"] for i in doc["images"]]
    assert sorted(api.getCatIds()) == [c["id"] for c in doc["categories"]]
    assert len(api.getAnnIds()) == len(doc["annotations"])
    for ann in api.loadAnns(api.getAnnIds()):
        if ann["segmentation"]:
            # the rasterised polygon covers about the area the document states
            assert abs(int(api.annToMask(ann).sum()) - ann["area"]) <= 0.05 * ann["area"] + 50


def test_pycocotools_finds_annotations_per_image_and_category(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(golden("basic")))
    api = COCO(str(path))
    cat = api.getCatIds(catNms=["cat"])
    assert cat == [1]
    assert sorted(api.getAnnIds(catIds=cat)) == [1, 4]
    assert api.getAnnIds(imgIds=[3]) == []
    assert api.loadImgs([2])[0]["file_name"] == "b.png"


@pytest.mark.parametrize(
    "points, area",
    [
        ([[0, 0], [4, 0], [4, 3]], 6.0),
        ([[0, 0], [4, 3], [4, 0]], 6.0),  # clockwise
        ([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]], 3.0),  # concave L
        ([[0, 0], [1, 1], [2, 2]], 0.0),  # collinear
    ],
)
def test_polygon_area(points, area):
    assert coco.polygon_area(points) == area


def test_bbox_of_points():
    assert coco.bbox_of([[3, 4], [10, 2], [5, 9]]) == [3, 2, 7, 7]


def _bad(mutate):
    doc = golden("basic")
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    "doc, message",
    [
        ([], "must be a JSON object"),
        ({"images": [], "categories": []}, "no 'annotations' list"),
        (_bad(lambda d: d["annotations"][0].update(iscrowd=1)), "crowd"),
        (
            _bad(
                lambda d: d["annotations"][1].update(segmentation={"counts": "x", "size": [1, 1]})
            ),
            "crowd",
        ),
        (_bad(lambda d: d["annotations"][0].update(image_id=99)), "unknown image_id"),
        (_bad(lambda d: d["annotations"][0].update(category_id=0)), "unknown category_id"),
        (_bad(lambda d: d["annotations"][1].update(id=1)), "appears twice"),
        (_bad(lambda d: d["images"][1].update(id=1)), "appears twice"),
        (_bad(lambda d: d["categories"][1].update(name="cat")), "appears twice"),
        (_bad(lambda d: d["categories"][1].update(name="")), "has no name"),
        (_bad(lambda d: d["images"][0].update(width=0)), "positive whole width"),
        (_bad(lambda d: d["annotations"][1].update(segmentation=[[0, 0, 1]])), "at least 3"),
        (_bad(lambda d: d["annotations"][0].update(bbox=[1, 2, 3])), "needs a bbox"),
        (_bad(lambda d: d["annotations"][0].update(bbox=[1, 2, 3, "4"])), "needs a bbox"),
    ],
)
def test_read_refuses_what_it_cannot_represent(doc, message):
    with pytest.raises(DomainError) as e:
        coco.read(doc)
    assert e.value.status == 400 and message in str(e.value)


def test_multi_part_polygons_become_one_shape_per_part():
    doc = golden("basic")
    doc["annotations"][1]["segmentation"].append([50, 50, 60, 50, 60, 60])
    images, _classes, _info = coco.read(doc)
    assert [s["type"] for s in images[0]["shapes"]] == ["bbox", "polygon", "polygon"]
    assert images[0]["shapes"][2]["points"] == [[50, 50], [60, 50], [60, 60]]
