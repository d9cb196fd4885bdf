"""The annotation domain (SPEC S4–S7) on a migrated database and a real data dir: projects,
annotation datasets made from an unlabeled dataset, Submit with every bad input refused,
COCO import → export round trip, the background export into a labeled dataset.

The HTTP side (the three roles, privacy, streaming, translated errors, the background export) is
tested at the end of this file on the real platform (slow).
"""

from __future__ import annotations

import itertools
import json
import struct
import time
import zlib
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from ytung_service import accounts, annotations, coco, datasets, orm
from ytung_service.errors import DomainError

GOLDEN = Path(__file__).parent / "golden"


def png_bytes(width: int, height: int, rgb=(200, 120, 40)) -> bytes:
    """A real (decodable) PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def make_source(db, owner: orm.User, data_dir: Path, files: dict[str, tuple[int, int]], **kw):
    """An unlabeled dataset holding PNG images of the given sizes (and a text file)."""
    src = data_dir / "incoming" / f"src-{next(_sources)}"
    for rel, (w, h) in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(w, h))
    (src / "README.txt").write_text("not an image")
    fields = {"name": "raw", "labeled": False, **kw}
    v = datasets.add_version_from_directory(db, owner, src, data_dir=data_dir, **fields)
    return v.dataset


_sources = itertools.count()

GOLDEN_FILES = {"a/cat.jpg": (640, 480), "b.png": (100, 80), "c.webp": (50, 50)}


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def alice(db):
    return accounts.ensure_user(db, "alice")


@pytest.fixture
def bob(db):
    return accounts.ensure_user(db, "bob")


@pytest.fixture
def labeler(db):
    accounts.ensure_user(db, "lena")
    return accounts.set_roles(db, "lena", ["Annotation person"])


@pytest.fixture
def pets(db, alice, data_dir):
    """Alice's project ``pets`` with the annotation dataset ``cats`` (classes cat, dog, bird)
    made from an unlabeled dataset holding the golden file names."""
    source = make_source(db, alice, data_dir, GOLDEN_FILES)
    project = annotations.create_project(db, "alice", {"name": "pets", "description": "猫狗"})
    d, skipped = annotations.create_dataset(
        db,
        project.id,
        alice,
        False,
        {
            "name": "cats",
            "description": "pets",
            "source": source.id,
            "classes": ["cat", "dog", "bird"],
        },
        data_dir,
    )
    assert skipped == []
    return d


# -- pure parts -----------------------------------------------------------------------------


def test_image_size_of_every_supported_format():
    assert annotations.image_size(png_bytes(7, 5)) == (7, 5)
    gif = b"GIF89a" + struct.pack("<HH", 320, 200) + b"\x00" * 10
    assert annotations.image_size(gif) == (320, 200)
    bmp = b"BM" + b"\x00" * 16 + struct.pack("<ii", 640, -480) + b"\x00" * 30
    assert annotations.image_size(bmp) == (640, 480)
    # JPEG: SOI, an APP0 segment, then SOF0 with height 300, width 400
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00"
        + b"\x00" * 9
        + b"\xff\xc0"
        + struct.pack(">HBHH", 17, 8, 300, 400)
        + b"\x00" * 20
    )
    assert annotations.image_size(jpeg) == (400, 300)
    vp8x = (
        b"RIFF"
        + b"\x00" * 4
        + b"WEBPVP8X"
        + b"\x00" * 8
        + (99).to_bytes(3, "little")
        + (49).to_bytes(3, "little")
    )
    assert annotations.image_size(vp8x) == (100, 50)
    lossless_bits = (31 - 1) | ((17 - 1) << 14)
    vp8l = (
        b"RIFF"
        + b"\x00" * 4
        + b"WEBPVP8L"
        + b"\x00" * 4
        + b"\x2f"
        + lossless_bits.to_bytes(4, "little")
    )
    assert annotations.image_size(vp8l) == (31, 17)
    assert annotations.image_size(b"not an image at all") is None
    assert annotations.image_size(b"\xff\xd8\x00\x00") is None


def test_find_images_recursively_and_only_inside(tmp_path):
    root = tmp_path / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    for rel in [
        "b.PNG",
        "a.jpg",
        "sub/c.jpeg",
        "sub/deeper/d.webp",
        "e.bmp",
        "notes.txt",
        ".hidden.png",
    ]:
        (root / rel).write_bytes(b"x")
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    (root / "link.png").symlink_to(outside)
    assert annotations.find_images(root) == [
        "a.jpg",
        "b.PNG",
        "e.bmp",
        "sub/c.jpeg",
        "sub/deeper/d.webp",
    ]


GOOD = [
    {"type": "bbox", "class": "cat", "bbox": [0, 0, 100, 80]},
    {"type": "polygon", "class": "dog", "points": [[1, 1], [99.5, 1], [50, 79.9]]},
]


def test_validate_shapes_keeps_good_shapes_and_drops_unknown_keys():
    extra = [dict(GOOD[0], hidden=True, id="tmp-1"), GOOD[1]]
    assert annotations.validate_shapes(extra, ["cat", "dog"], ["bbox", "polygon"], 100, 80) == GOOD


@pytest.mark.parametrize(
    "shapes, message",
    [
        ("boxes", "'shapes' must be a list"),
        ([42], "Shape 1 is not an object"),
        ([GOOD[0], {"type": "circle", "class": "cat"}], "Shape 2: type must be one of"),
        ([{"type": "bbox", "class": "cow", "bbox": [0, 0, 1, 1]}], "unknown class 'cow'"),
        ([{"type": "bbox", "class": "cat", "bbox": [0, 0, 1]}], "four finite numbers"),
        ([{"type": "bbox", "class": "cat", "bbox": [0, 0, float("nan"), 1]}], "four finite"),
        ([{"type": "bbox", "class": "cat", "bbox": [0, 0, float("inf"), 1]}], "four finite"),
        ([{"type": "bbox", "class": "cat", "bbox": [0, 0, "1", 1]}], "four finite"),
        ([{"type": "bbox", "class": "cat", "bbox": [0, 0, True, 1]}], "four finite"),
        ([{"type": "bbox", "class": "cat", "bbox": [5, 5, 0, 1]}], "width and height above 0"),
        ([{"type": "bbox", "class": "cat", "bbox": [5, 5, 3, -1]}], "width and height above 0"),
        ([{"type": "bbox", "class": "cat", "bbox": [-1, 0, 3, 3]}], "outside the image"),
        (
            [{"type": "bbox", "class": "cat", "bbox": [90, 0, 11, 3]}],
            "outside the image (100 × 80)",
        ),
        ([{"type": "polygon", "class": "cat", "points": [[0, 0], [1, 1]]}], "at least 3 points"),
        ([{"type": "polygon", "class": "cat", "points": [[0, 0], [1, 1], [2]]}], "two finite"),
        ([{"type": "polygon", "class": "cat", "points": [[0, 0], [1, 1], [200, 2]]}], "outside"),
        ([{"type": "polygon", "class": "cat", "points": [[0, 0], [1, 1], [2, 2]]}], "no area"),
        ([GOOD[0]] * 11, "Too many shapes: 11 (at most 10)"),
    ],
)
def test_validate_shapes_refuses_bad_input(shapes, message):
    with pytest.raises(DomainError) as e:
        annotations.validate_shapes(shapes, ["cat", "dog"], ["bbox", "polygon"], 100, 80, limit=10)
    assert e.value.status == 400 and message in str(e.value)


def test_a_dataset_without_polygons_refuses_them():
    with pytest.raises(DomainError, match="type must be one of bbox"):
        annotations.validate_shapes([GOOD[1]], ["cat", "dog"], ["bbox"], 100, 80)


@pytest.mark.parametrize(
    "classes, message",
    [
        ([], "at least one class"),
        ("cat", "at least one class"),
        (["cat", " "], "A class name is empty"),
        (["cat", "cat"], "appear twice: cat"),
        (["x" * 65], "longer than 64 characters"),
    ],
)
def test_bad_classes(classes, message):
    with pytest.raises(DomainError, match=message):
        annotations.validate_classes(classes)


# -- projects (S4) --------------------------------------------------------------------------


def test_projects_create_list_edit_delete(db, alice, bob, data_dir):
    p = annotations.create_project(db, "alice", {"name": " 街景 ", "description": "street"})
    assert (p.name, p.description, p.owner) == ("街景", "street", "alice")
    model = annotations.project_model(p, "alice", False)
    assert {k: model[k] for k in ("id", "name", "description", "datasets", "can_manage")} == {
        "id": p.id,
        "name": "街景",
        "description": "street",
        "datasets": 0,
        "can_manage": True,
    }
    with pytest.raises(DomainError) as e:
        annotations.create_project(db, "bob", {"name": "街景"})
    assert e.value.status == 409
    with pytest.raises(DomainError) as e:
        annotations.create_project(db, "bob", {"name": ""})
    assert e.value.status == 400
    # bob neither sees alice's empty project nor may change it
    assert annotations.visible_projects(db, "bob", False) == []
    with pytest.raises(DomainError) as e:
        annotations.update_project(db, p.id, "bob", False, {"name": "mine"})
    assert e.value.status == 404
    assert annotations.visible_projects(db, "admin", True) == [p]
    annotations.update_project(db, p.id, "alice", False, {"name": "streets", "description": ""})
    assert (p.name, p.description) == ("streets", "")
    annotations.delete_project(db, p.id, "alice", False, data_dir)
    assert annotations.visible_projects(db, "alice", False) == []


def test_others_see_a_project_through_its_public_dataset_only(db, alice, bob, pets):
    assert annotations.visible_projects(db, "bob", False) == []
    with pytest.raises(DomainError) as e:
        annotations.get_dataset(db, pets.id, "bob", False)
    assert e.value.status == 404  # private: invisible
    annotations.update_dataset(db, pets.id, "alice", False, {"public": True})
    assert [p.name for p in annotations.visible_projects(db, "bob", False)] == ["pets"]
    assert annotations.get_dataset(db, pets.id, "bob", False) is pets
    # seeing is not managing
    with pytest.raises(DomainError) as e:
        annotations.update_dataset(db, pets.id, "bob", False, {"name": "bobs"})
    assert e.value.status == 403
    with pytest.raises(DomainError) as e:
        annotations.delete_project(db, pets.project_id, "bob", False, None)
    assert e.value.status == 403


# -- annotation datasets (S5) ---------------------------------------------------------------


def test_dataset_copies_the_images_of_the_source(db, pets, data_dir):
    root = data_dir / "annotations" / str(pets.id) / "images"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "a/cat.jpg",
        "b.png",
        "c.webp",
    ]
    model = annotations.dataset_model(db, pets, "alice", False)
    assert {k: model[k] for k in ("images", "labeled", "unlabeled", "classes", "object_types")} == {
        "images": 3,
        "labeled": 0,
        "unlabeled": 3,
        "classes": ["cat", "dog", "bird"],
        "object_types": ["bbox", "polygon"],
    }
    page = annotations.list_images(db, pets, None, 0, 2)
    assert page["total"] == 3
    assert [(i["file_name"], i["width"], i["height"], i["state"]) for i in page["images"]] == [
        ("a/cat.jpg", 640, 480, "unlabeled"),
        ("b.png", 100, 80, "unlabeled"),
    ]


def test_dataset_creation_refusals(db, alice, bob, data_dir, pets):
    project_id = pets.project_id
    body = {"name": "x", "description": "d", "source": pets.source_dataset_id, "classes": ["a"]}

    def refused(owner, change, status, message):
        with pytest.raises(DomainError) as e:
            annotations.create_dataset(db, project_id, owner, False, {**body, **change}, data_dir)
        assert e.value.status == status and message in str(e.value), str(e.value)

    refused(alice, {"name": "cats"}, 409, "named cats already")
    refused(alice, {"description": ""}, 400, "The description is required")
    refused(alice, {"classes": []}, 400, "at least one class")
    refused(alice, {"object_types": ["circle"]}, 400, "Object types")
    refused(alice, {"data_type": "video"}, 400, "Dataset type")
    refused(alice, {"source": "raw"}, 400, "source dataset")
    refused(alice, {"source": 999}, 404, "No such dataset")
    labeled = make_source(db, alice, data_dir, {"x.png": (2, 2)}, name="done", labeled=True)
    refused(alice, {"source": labeled.id}, 400, "labeled already")
    empty = data_dir / "incoming" / "empty"
    empty.mkdir(parents=True)
    (empty / "a.txt").write_text("x")
    texts = datasets.add_version_from_directory(
        db, alice, empty, data_dir=data_dir, name="texts", labeled=False
    ).dataset
    refused(alice, {"source": texts.id}, 400, "holds no images")
    # bob cannot use alice's private source (nor see her project)
    refused(bob, {}, 404, "No such annotation project")
    assert [d.name for d in db.query(orm.AnnotationDataset)] == ["cats"]


# -- labeling (S6) ----------------------------------------------------------------------------


def test_submit_saves_and_answers_the_next_image(db, pets):
    first, second, third = annotations.list_images(db, pets, None, 0, 10)["images"]
    image, following = annotations.submit(db, pets, second["id"], "alice", GOOD)
    assert image.state == "labeled" and image.shapes == GOOD and image.labeled_by == "alice"
    assert following.id == third["id"]
    _, following = annotations.submit(db, pets, third["id"], "alice", [])
    assert following.id == first["id"]  # wraps around to the first unlabeled
    _, following = annotations.submit(db, pets, first["id"], "alice", [])
    assert following is None
    assert annotations.dataset_model(db, pets, "alice", False)["labeled"] == 3


def test_a_refused_submit_saves_nothing(db, pets):
    image_id = annotations.list_images(db, pets, None, 0, 1)["images"][0]["id"]
    annotations.submit(db, pets, image_id, "alice", GOOD)
    bad = [GOOD[0], {"type": "bbox", "class": "cat", "bbox": [600, 0, 100, 10]}]
    with pytest.raises(DomainError, match="Shape 2 lies outside the image"):
        annotations.submit(db, pets, image_id, "alice", bad)
    db.expire_all()
    assert orm.AnnotationImage.find(db, pets.id, image_id).shapes == GOOD


def test_classes_in_use_cannot_be_removed(db, pets):
    image_id = annotations.list_images(db, pets, None, 0, 1)["images"][0]["id"]
    annotations.submit(db, pets, image_id, "alice", [GOOD[1]])  # a dog
    with pytest.raises(DomainError) as e:
        annotations.update_dataset(db, pets.id, "alice", False, {"classes": ["cat", "bird"]})
    assert e.value.status == 409 and "dog" in str(e.value)
    annotations.update_dataset(db, pets.id, "alice", False, {"classes": ["dog", "cat", "fish"]})
    assert pets.classes == ["dog", "cat", "fish"]


# -- COCO (S7) --------------------------------------------------------------------------------


def test_import_then_export_gives_the_same_document(db, pets):
    doc = json.loads((GOLDEN / "coco_basic.json").read_text())
    pets.name = "pets"  # the golden document's info.description
    db.commit()
    result = annotations.import_coco(db, pets, "alice", doc)
    assert result == {"images": 3, "annotations": 4, "classes": ["cat", "dog", "bird"]}
    assert annotations.coco_document(db, pets) == doc


def test_import_adds_unknown_classes_and_keeps_unnamed_images(db, pets):
    doc = {
        "images": [{"id": 7, "file_name": "b.png", "width": 100, "height": 80}],
        "annotations": [
            {"id": 3, "image_id": 7, "category_id": 5, "bbox": [1, 1, 5, 5], "iscrowd": 0}
        ],
        "categories": [{"id": 5, "name": "fish"}],
    }
    annotations.import_coco(db, pets, "alice", doc)
    assert pets.classes == ["cat", "dog", "bird", "fish"]
    states = {
        i["file_name"]: i["state"] for i in annotations.list_images(db, pets, None, 0, 9)["images"]
    }
    assert states == {"a/cat.jpg": "unlabeled", "b.png": "labeled", "c.webp": "unlabeled"}
    exported = annotations.coco_document(db, pets)
    assert exported["annotations"][0]["category_id"] == 4  # fish, the 4th class


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["images"][0].update(file_name="zebra.png"), "not in annotation dataset"),
        (lambda d: d["images"][0].update(width=641), "is 640 × 480, not 641 × 480"),
        (lambda d: d["annotations"][0].update(bbox=[630, 20, 30, 40]), "outside the image"),
        (lambda d: d["annotations"][0].update(iscrowd=1), "crowd"),
    ],
)
def test_a_refused_import_changes_nothing(db, pets, mutate, message):
    doc = json.loads((GOLDEN / "coco_basic.json").read_text())
    mutate(doc)
    with pytest.raises(DomainError) as e:
        annotations.import_coco(db, pets, "alice", doc)
    assert e.value.status == 400 and message in str(e.value)
    db.expire_all()
    assert annotations.dataset_model(db, pets, "alice", False)["labeled"] == 0


def test_export_makes_a_labeled_dataset_usable_for_training(db, db_url, pets, data_dir, alice):
    from sqlalchemy.orm import Session

    from ytung_service.db import make_engine

    doc = json.loads((GOLDEN / "coco_basic.json").read_text())
    annotations.import_coco(db, pets, "alice", doc)
    with pytest.raises(DomainError) as e:
        annotations.start_export(db, pets, "alice", name="raw")  # alice has a dataset "raw"
    assert e.value.status == 409
    export = annotations.start_export(db, pets, "alice")
    assert export.status == "running" and export.total == 3
    with pytest.raises(DomainError) as e:
        annotations.start_export(db, pets, "alice")  # one at a time
    assert e.value.status == 409

    engine = make_engine(db_url)
    annotations.run_export(lambda: Session(engine), export.id, data_dir, progress_every=1)
    engine.dispose()
    db.expire_all()
    done = annotations.export_model(annotations.get_export(db, pets, export.id))
    assert done["status"] == "completed", done["message"]
    assert (done["done"], done["total"], done["progress"], done["annotations"]) == (3, 3, 1.0, 4)

    dataset, version, path = datasets.usable_for_training(
        db, alice, done["result"]["dataset_id"], done["result"]["version"], data_dir=data_dir
    )
    assert dataset.labeled and not dataset.public and dataset.name == f"cats-coco-{export.id}"
    written = json.loads((path / "annotations.json").read_text())
    assert written == annotations.coco_document(db, pets)
    api = COCO(str(path / "annotations.json"))
    for image in api.loadImgs(api.getImgIds()):
        assert annotations.read_image_size(path / "images" / image["file_name"]) == (
            image["width"],
            image["height"],
        )
    assert len(api.getAnnIds()) == 4


def test_an_export_cut_off_by_a_restart_is_marked_failed(db, pets):
    annotations.import_coco(db, pets, "alice", json.loads((GOLDEN / "coco_basic.json").read_text()))
    export = annotations.start_export(db, pets, "alice")
    annotations._running.discard(export.id)  # as after a restart: no thread runs it
    assert annotations.list_exports(db, pets)[0].status == "failed"
    assert "restarted" in annotations.get_export(db, pets, export.id).message
    assert annotations.start_export(db, pets, "alice").status == "running"


def test_nothing_to_export(db, pets):
    with pytest.raises(DomainError, match="Nothing is labeled yet"):
        annotations.start_export(db, pets, "alice")


def test_coco_document_of_submitted_shapes(db, pets):
    images = annotations.list_images(db, pets, None, 0, 10)["images"]
    annotations.submit(db, pets, images[1]["id"], "alice", GOOD)
    doc = annotations.coco_document(db, pets)
    assert doc == coco.write(
        [{"file_name": "b.png", "width": 100, "height": 80, "shapes": GOOD}],
        ["cat", "dog", "bird"],
        info={"description": "cats"},
    )
    assert [a["area"] for a in doc["annotations"]] == [8000, 3885.825]  # 98.5 × 78.9 / 2


# -- the HTTP API on the real platform (slow) ---------------------------------------------------

PASSWORD = "Secret-pass-42"


def call(platform, method, path, token, headers=None, **kw):
    """``platform.api`` with more headers."""
    import requests

    return requests.request(
        method,
        f"{platform.url}/services/ytung/api/v1/{path}",
        headers={"Authorization": f"token {token}", **(headers or {})},
        timeout=30,
        **kw,
    )


def upload_images(platform, token, name, files: dict[str, tuple[int, int]], public=False) -> dict:
    """An unlabeled dataset uploaded through the datasets API (a zip of PNGs)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for rel, (w, h) in files.items():
            archive.writestr(rel, png_bytes(w, h))
    data = buffer.getvalue()
    r = platform.api(
        "POST",
        "datasets/uploads",
        token,
        json={
            "filename": f"{name}.zip",
            "size": len(data),
            "name": name,
            "description": "images to label",
            "labeled": False,
            "public": public,
        },
    )
    assert r.status_code == 201, r.text
    upload = r.json()["id"]
    r = call(
        platform,
        "PUT",
        f"datasets/uploads/{upload}",
        token,
        data=data,
        headers={"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
    )
    assert r.status_code == 200, r.text
    r = platform.api("POST", f"datasets/uploads/{upload}/complete", token)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def people(platform, admin_token):
    """Tokens of ``ann`` (User), ``lena`` (Annotation person only) and ``bob`` (User)."""
    tokens = {}
    for name in ("ann", "lena", "bob"):
        platform.signup(name, name.title(), PASSWORD)
    r = platform.api("PUT", "users/lena/roles", admin_token, json={"roles": ["Annotation person"]})
    assert r.ok, r.text
    for name in ("ann", "lena", "bob"):
        tokens[name] = platform.token(name, PASSWORD)
    return tokens


@pytest.mark.slow
def test_roles_label_export_and_privacy_over_http(platform, people):
    ann, lena, bob = people["ann"], people["lena"], people["bob"]
    source = upload_images(platform, ann, "street-raw", GOLDEN_FILES)
    # S4: a User creates a project; an Annotation person may not
    r = platform.api("POST", "annotations/projects", lena, json={"name": "no"})
    assert r.status_code == 403
    r = platform.api(
        "POST", "annotations/projects", ann, json={"name": "street", "description": "d"}
    )
    assert r.status_code == 201, r.text
    project = r.json()["id"]
    body = {"description": "d", "source": source["id"], "classes": ["cat", "dog", "bird"]}
    r = platform.api(
        "POST",
        f"annotations/projects/{project}/datasets",
        ann,
        json={"name": "open", "public": True, **body},
    )
    assert r.status_code == 201, r.text
    public = r.json()
    assert (public["images"], public["unlabeled"], public["skipped"]) == (3, 3, [])
    r = platform.api(
        "POST", f"annotations/projects/{project}/datasets", ann, json={"name": "mine", **body}
    )
    private = r.json()["id"]

    # a private annotation dataset does not exist for others
    for token in (lena, bob):
        assert platform.api("GET", f"annotations/datasets/{private}", token).status_code == 404
    assert [p["id"] for p in platform.api("GET", "annotations/projects", lena).json()] == [project]
    assert [
        d["name"]
        for d in platform.api("GET", f"annotations/projects/{project}/datasets", lena).json()
    ] == ["open"]
    # seeing is not editing
    assert (
        platform.api(
            "PATCH", f"annotations/datasets/{public['id']}", bob, json={"name": "x"}
        ).status_code
        == 403
    )
    assert platform.api("DELETE", f"annotations/projects/{project}", lena).status_code == 403

    # S6: the Annotation person labels; the image file is streamed unchanged
    tasks = platform.api(
        "GET", f"annotations/datasets/{public['id']}/images?state=unlabeled", lena
    ).json()
    assert tasks["total"] == 3
    first = tasks["images"][0]
    r = platform.api("GET", f"annotations/datasets/{public['id']}/images/{first['id']}/file", lena)
    assert r.status_code == 200 and r.content == png_bytes(640, 480)
    assert r.headers["Content-Type"] == "image/jpeg"  # by its name, a.jpg
    bad = [{"type": "bbox", "class": "cat", "bbox": [600, 0, 100, 10]}]
    r = call(
        platform,
        "PUT",
        f"annotations/datasets/{public['id']}/images/{first['id']}",
        lena,
        json={"shapes": bad},
        headers={"Accept-Language": "zh-CN"},
    )
    assert r.status_code == 400
    assert r.json()["message"] == "第 1 个标注对象超出了图片范围（640 × 480）"
    r = platform.api(
        "PUT",
        f"annotations/datasets/{public['id']}/images/{first['id']}",
        lena,
        json={"shapes": GOOD},
    )
    assert r.status_code == 200, r.text
    assert r.json()["image"]["state"] == "labeled" and r.json()["next"]["file_name"] == "b.png"

    # S7: import the golden document, export in the background, poll to the end
    doc = json.loads((GOLDEN / "coco_basic.json").read_text())
    r = platform.api("POST", f"annotations/datasets/{public['id']}/coco", lena, json=doc)
    assert r.status_code == 200, r.text
    doc["info"] = {"description": "open"}
    assert platform.api("GET", f"annotations/datasets/{public['id']}/coco", lena).json() == doc
    r = platform.api("POST", f"annotations/datasets/{public['id']}/exports", lena, json={})
    assert r.status_code == 202, r.text
    export = r.json()
    for _ in range(200):
        export = platform.api(
            "GET", f"annotations/datasets/{public['id']}/exports/{export['id']}", lena
        ).json()
        if export["status"] != "running":
            break
        time.sleep(0.1)
    assert export["status"] == "completed", export
    assert export["progress"] == 1.0 and export["annotations"] == 4
    result = export["result"]
    written = platform.data_dir / "datasets" / str(result["dataset_id"]) / str(result["version"])
    api = COCO(str(written / "annotations.json"))
    assert len(api.getAnnIds()) == 4 and sorted(api.getCatIds()) == [1, 2, 3]
    assert json.loads((written / "annotations.json").read_text()) == doc
    assert (written / "images" / "a" / "cat.jpg").read_bytes() == png_bytes(640, 480)
    # the export is a labeled dataset of its exporter
    r = platform.api("GET", f"datasets/{result['dataset_id']}", lena)
    assert r.status_code == 200 and r.json()["labeled"] is True

    # S4 edit and delete by the creator
    r = platform.api("PATCH", f"annotations/projects/{project}", ann, json={"description": "新"})
    assert r.status_code == 200 and r.json()["description"] == "新"
    assert platform.api("DELETE", f"annotations/datasets/{private}", ann).status_code == 204
    assert platform.api("GET", f"annotations/datasets/{private}", ann).status_code == 404
    assert not (platform.data_dir / "annotations" / str(private)).exists()
    assert platform.api("DELETE", f"annotations/projects/{project}", ann).status_code == 204
    assert platform.api("GET", "annotations/projects", ann).json() == []
