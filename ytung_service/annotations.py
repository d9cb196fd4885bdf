"""Annotation (SPEC S4–S7): projects, annotation datasets, labeling, COCO import and export.

- A **project** (标注项目) groups annotation datasets. Everybody with the annotation permission
  sees the projects they own and those holding an annotation dataset they can see; the owner
  (or an admin) edits and deletes it.
- An **annotation dataset** copies the image files (jpg, jpeg, png, bmp, webp, found
  recursively) of the latest version of an unlabeled dataset the creator can see into
  ``<data_dir>/annotations/<id>/images/`` (hard links where the file system allows), so that
  it does not change when the source does. Each image is a task: ``unlabeled`` until a Submit
  saves its shapes, then ``labeled``. A private one is invisible (404) to others.
- **Submit** replaces an image's shapes after :func:`validate_shapes` accepted every one of
  them; a refusal (400) saves nothing.
- **Export** (S7) writes the labeled images and ``annotations.json`` (:func:`coco.write`) into a
  new labeled dataset through :func:`datasets.add_version_from_directory`, in the background,
  recording progress on an :class:`orm.AnnotationExport` row.

Who may do what (:func:`can_see`, :func:`can_manage`) is decided here; handlers only check the
permission (``annotation:use`` to label and export, ``platform:use`` to create and edit).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import coco, orm, storage
from .errors import DomainError

UNLABELED = "unlabeled"
LABELED = "labeled"
STATES = (UNLABELED, LABELED)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DATA_TYPES = ("image",)

#: the most shapes one Submit may save for one image
MAX_SHAPES = 10_000
#: the most points of one polygon
MAX_POINTS = 10_000
MAX_CLASSES = 1000
MAX_NAME = 128
MAX_CLASS_NAME = 64

#: export states
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"

# ---------------------------------------------------------------------------------------
# pure parts: image sizes, validation
# ---------------------------------------------------------------------------------------


def image_size(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the first bytes (64 KiB is plenty) of a PNG, JPEG, BMP, WebP
    or GIF file; None when the format is not recognised or the header is broken."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(width), abs(height)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        chunk = head[12:16]
        if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
            w, h = struct.unpack("<HH", head[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L" and head[20:21] == b"\x2f":
            bits = int.from_bytes(head[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            w = int.from_bytes(head[24:27], "little") + 1
            h = int.from_bytes(head[27:30], "little") + 1
            return w, h
        return None
    if head.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(head):
            if head[i] != 0xFF:
                return None
            marker = head[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            length = struct.unpack(">H", head[i + 2 : i + 4])[0]
            # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the size
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", head[i + 5 : i + 9])
                return width, height
            i += 2 + length
    return None


def read_image_size(path: Path) -> tuple[int, int] | None:
    """The size of the image file at ``path`` (reads its header only); None if unreadable.

    A JPEG whose size marker lies beyond the first 64 KiB (a big EXIF block) is read whole."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
            size = image_size(head)
            if size is None and head.startswith(b"\xff\xd8"):
                size = image_size(head + f.read())
    except OSError:
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def find_images(root: Path) -> list[str]:
    """The image files under ``root`` (recursively, by suffix, links leaving ``root`` skipped),
    as sorted POSIX paths relative to ``root``."""
    root = Path(root).resolve()
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            path = Path(dirpath) / name
            real = path.resolve()
            if root not in real.parents or not real.is_file():
                continue
            found.append(path.relative_to(root).as_posix())
    return sorted(found)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


#: the longest description
MAX_DESCRIPTION = 10_000


def _check_text(value: Any, what: str) -> str:
    """``value`` stripped, or a 400 that names the field ``what``: ``project`` (its name),
    ``dataset`` (its name), ``description`` or ``class`` (a class name)."""
    limit = {"class": MAX_CLASS_NAME, "description": MAX_DESCRIPTION}.get(what, MAX_NAME)
    if not isinstance(value, str) or not value.strip():
        if what == "project":
            raise DomainError(400, "The project name is required")
        if what == "dataset":
            raise DomainError(400, "The dataset name is required")
        if what == "description":
            raise DomainError(400, "The description is required")
        raise DomainError(400, "A class name is empty")
    value = value.strip()
    if len(value) > limit:
        raise DomainError(
            400, "{text} is longer than {limit} characters", text=value[:40] + "…", limit=limit
        )
    return value


def validate_classes(classes: Any) -> list[str]:
    """The class names of an annotation dataset: 1 to 1000 distinct, non-empty names."""
    if not isinstance(classes, list) or not classes:
        raise DomainError(400, "Give at least one class name")
    if len(classes) > MAX_CLASSES:
        raise DomainError(400, "At most {limit} class names", limit=MAX_CLASSES)
    names = [_check_text(c, "class") for c in classes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DomainError(400, "Class names appear twice: {names}", names=", ".join(duplicates))
    return names


def validate_object_types(object_types: Any) -> list[str]:
    """``bbox`` and/or ``polygon`` (the default: both)."""
    if object_types is None:
        return list(coco.SHAPE_TYPES)
    if (
        not isinstance(object_types, list)
        or not object_types
        or any(t not in coco.SHAPE_TYPES for t in object_types)
    ):
        raise DomainError(
            400, "Object types must be a list of {allowed}", allowed=", ".join(coco.SHAPE_TYPES)
        )
    return [t for t in coco.SHAPE_TYPES if t in object_types]


# tolerance for coordinates on the image's edge computed in floating point
_EDGE = 1e-6


def validate_shapes(
    shapes: Any,
    classes: Sequence[str],
    object_types: Sequence[str],
    width: int,
    height: int,
    *,
    limit: int = MAX_SHAPES,
) -> list[dict]:
    """The shapes of one Submit, checked and normalised (only known keys kept), or a 400
    naming the first bad shape (numbered from 1): unknown class or type, a coordinate that is
    not a finite number or lies outside the ``width`` × ``height`` image, a box without area,
    a polygon of fewer than 3 points, more than ``limit`` shapes."""
    if not isinstance(shapes, list):
        raise DomainError(400, "'shapes' must be a list")
    if len(shapes) > limit:
        raise DomainError(
            400, "Too many shapes: {count} (at most {limit})", count=len(shapes), limit=limit
        )
    known = set(classes)
    out = []
    for n, shape in enumerate(shapes, start=1):
        if not isinstance(shape, dict):
            raise DomainError(400, "Shape {n} is not an object", n=n)
        kind = shape.get("type")
        if kind not in object_types:
            raise DomainError(
                400,
                "Shape {n}: type must be one of {allowed}",
                n=n,
                allowed=", ".join(object_types),
            )
        label = shape.get("class")
        if label not in known:
            raise DomainError(400, "Shape {n}: unknown class {name}", n=n, name=repr(label)[:80])
        if kind == coco.BBOX:
            box = shape.get("bbox")
            if not (isinstance(box, list) and len(box) == 4 and all(_finite(c) for c in box)):
                raise DomainError(
                    400, "Shape {n}: bbox must be four finite numbers [x, y, w, h]", n=n
                )
            x, y, w, h = box
            if w <= 0 or h <= 0:
                raise DomainError(400, "Shape {n}: a box needs a width and height above 0", n=n)
            if x < -_EDGE or y < -_EDGE or x + w > width + _EDGE or y + h > height + _EDGE:
                raise DomainError(
                    400,
                    "Shape {n} lies outside the image ({width} × {height})",
                    n=n,
                    width=width,
                    height=height,
                )
            out.append({"type": kind, "class": label, "bbox": [x, y, w, h]})
        else:
            points = shape.get("points")
            if not isinstance(points, list) or len(points) < 3:
                raise DomainError(400, "Shape {n}: a polygon needs at least 3 points", n=n)
            if len(points) > MAX_POINTS:
                raise DomainError(400, "Shape {n}: at most {limit} points", n=n, limit=MAX_POINTS)
            clean = []
            for p in points:
                if not (isinstance(p, list) and len(p) == 2 and all(_finite(c) for c in p)):
                    raise DomainError(
                        400, "Shape {n}: every point must be two finite numbers [x, y]", n=n
                    )
                if not (-_EDGE <= p[0] <= width + _EDGE and -_EDGE <= p[1] <= height + _EDGE):
                    raise DomainError(
                        400,
                        "Shape {n} lies outside the image ({width} × {height})",
                        n=n,
                        width=width,
                        height=height,
                    )
                clean.append([p[0], p[1]])
            if coco.polygon_area(clean) <= 0:
                raise DomainError(400, "Shape {n}: the polygon encloses no area", n=n)
            out.append({"type": kind, "class": label, "points": clean})
    return out


# ---------------------------------------------------------------------------------------
# who may see and change what
# ---------------------------------------------------------------------------------------


def can_see(dataset: orm.AnnotationDataset, user: str, admin: bool) -> bool:
    return admin or dataset.public or dataset.owner == user


def can_manage(
    thing: orm.AnnotationProject | orm.AnnotationDataset, user: str, admin: bool
) -> bool:
    return admin or thing.owner == user


def dataset_dir(data_dir: Path | str, dataset_id: int) -> Path:
    return Path(data_dir) / "annotations" / str(int(dataset_id))


def image_path(data_dir: Path | str, image: orm.AnnotationImage) -> Path:
    """The real file of ``image``, confined to its dataset's ``images/`` directory."""
    root = dataset_dir(data_dir, image.dataset_id) / "images"
    return storage.confine(root, image.file_name, what="image")


# ---------------------------------------------------------------------------------------
# projects (S4)
# ---------------------------------------------------------------------------------------


def project_model(p: orm.AnnotationProject, user: str, admin: bool) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "owner": p.owner,
        "created": p.created.isoformat() + "Z",
        "updated": p.updated.isoformat() + "Z",
        "datasets": sum(1 for d in p.datasets if can_see(d, user, admin)),
        "can_manage": can_manage(p, user, admin),
    }


def visible_projects(db: Session, user: str, admin: bool) -> list[orm.AnnotationProject]:
    """The projects ``user`` created or that hold an annotation dataset ``user`` can see."""
    projects = db.scalars(select(orm.AnnotationProject).order_by(orm.AnnotationProject.id))
    return [
        p
        for p in projects
        if admin or p.owner == user or any(can_see(d, user, admin) for d in p.datasets)
    ]


def get_project(db: Session, project_id: int, user: str, admin: bool) -> orm.AnnotationProject:
    p = orm.AnnotationProject.find(db, int(project_id))
    if p is None or p not in visible_projects(db, user, admin):
        raise DomainError(404, "No such annotation project: {id}", id=project_id)
    return p


def _manageable_project(db, project_id, user, admin) -> orm.AnnotationProject:
    p = get_project(db, project_id, user, admin)
    if not can_manage(p, user, admin):
        raise DomainError(403, "Only the creator of project {name} may change it", name=p.name)
    return p


def _unique_project_name(db: Session, name: str, project_id: int | None = None) -> None:
    other = db.scalar(select(orm.AnnotationProject).where(orm.AnnotationProject.name == name))
    if other is not None and other.id != project_id:
        raise DomainError(409, "An annotation project named {name} exists already", name=name)


def create_project(db: Session, user: str, body: dict) -> orm.AnnotationProject:
    name = _check_text(body.get("name"), "project")
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise DomainError(400, "The description must be text")
    _unique_project_name(db, name)
    p = orm.AnnotationProject(name=name, description=description.strip(), owner=user)
    db.add(p)
    db.commit()
    return p


def update_project(db: Session, project_id: int, user: str, admin: bool, body: dict):
    p = _manageable_project(db, project_id, user, admin)
    if "name" in body:
        name = _check_text(body["name"], "project")
        _unique_project_name(db, name, p.id)
        p.name = name
    if "description" in body:
        if not isinstance(body["description"], str):
            raise DomainError(400, "The description must be text")
        p.description = body["description"].strip()
    p.updated = orm.utcnow()
    db.commit()
    return p


def delete_project(db: Session, project_id: int, user: str, admin: bool, data_dir) -> None:
    """Delete the project with its annotation datasets and their files."""
    p = _manageable_project(db, project_id, user, admin)
    if any(_export_running(db, d.id) for d in p.datasets):
        raise DomainError(409, "An export of this project is still running; wait for it to end")
    ids = [d.id for d in p.datasets]
    db.delete(p)
    db.commit()
    for dataset_id in ids:
        shutil.rmtree(dataset_dir(data_dir, dataset_id), ignore_errors=True)


# ---------------------------------------------------------------------------------------
# annotation datasets (S5)
# ---------------------------------------------------------------------------------------


def dataset_model(db: Session, d: orm.AnnotationDataset, user: str, admin: bool) -> dict:
    counts = dict(
        db.execute(
            select(orm.AnnotationImage.state, func.count())
            .where(orm.AnnotationImage.dataset_id == d.id)
            .group_by(orm.AnnotationImage.state)
        ).all()
    )
    return {
        "id": d.id,
        "project_id": d.project_id,
        "name": d.name,
        "description": d.description,
        "owner": d.owner,
        "public": d.public,
        "source": {"dataset_id": d.source_dataset_id, "version": d.source_version},
        "data_type": d.data_type,
        "object_types": list(d.object_types),
        "classes": list(d.classes),
        "images": sum(counts.values()),
        "labeled": counts.get(LABELED, 0),
        "unlabeled": counts.get(UNLABELED, 0),
        "created": d.created.isoformat() + "Z",
        "updated": d.updated.isoformat() + "Z",
        "can_manage": can_manage(d, user, admin),
    }


def get_dataset(db: Session, dataset_id: int, user: str, admin: bool) -> orm.AnnotationDataset:
    d = orm.AnnotationDataset.find(db, int(dataset_id))
    if d is None or not can_see(d, user, admin):
        raise DomainError(404, "No such annotation dataset: {id}", id=dataset_id)
    return d


def _manageable_dataset(db, dataset_id, user, admin) -> orm.AnnotationDataset:
    d = get_dataset(db, dataset_id, user, admin)
    if not can_manage(d, user, admin):
        raise DomainError(
            403, "Only the creator of annotation dataset {name} may change it", name=d.name
        )
    return d


def _bool(body: dict, key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise DomainError(400, "'{key}' must be true or false", key=key)
    return value


def _source_images(db: Session, owner: orm.User, admin: bool, source_id: Any, data_dir) -> tuple:
    """``(dataset, version, root, [relative image paths])`` of the source dataset: an
    unlabeled dataset ``owner`` can see (404 otherwise), its latest version."""
    from . import datasets

    if isinstance(source_id, bool) or not isinstance(source_id, int):
        raise DomainError(400, "Choose the source dataset (its id)")
    source = datasets.get_visible(db, owner, source_id, admin)
    if source.labeled:
        raise DomainError(
            400,
            "Dataset {name} is labeled already; choose an unlabeled dataset to annotate",
            name=source.name,
        )
    version = source.latest
    if version is None:
        raise DomainError(400, "Dataset {name} has no version yet", name=source.name)
    # checked again now: a registered directory may have become a link since (datasets.py)
    root = datasets.version_root(version, data_dir=data_dir)
    files = find_images(root)
    if not files:
        raise DomainError(
            400,
            "Dataset {name} holds no images (jpg, jpeg, png, bmp, webp)",
            name=source.name,
        )
    return source, version, root, files


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def create_dataset(
    db: Session, project_id: int, owner: orm.User, admin: bool, body: dict, data_dir
) -> tuple[orm.AnnotationDataset, list[str]]:
    """A new annotation dataset in the project from an unlabeled source dataset (S5), and the
    image files skipped because their size could not be read."""
    project = get_project(db, project_id, owner.name, admin)
    name = _check_text(body.get("name"), "dataset")
    description = _check_text(body.get("description"), "description")
    public = _bool(body, "public", False)
    data_type = body.get("data_type", "image")
    if data_type not in DATA_TYPES:
        raise DomainError(400, "Dataset type must be one of {allowed}", allowed="image")
    object_types = validate_object_types(body.get("object_types"))
    classes = validate_classes(body.get("classes"))
    if db.scalar(
        select(orm.AnnotationDataset).where(
            orm.AnnotationDataset.project_id == project.id, orm.AnnotationDataset.name == name
        )
    ):
        raise DomainError(
            409,
            "Project {project} has an annotation dataset named {name} already",
            project=project.name,
            name=name,
        )
    source, version, root, files = _source_images(db, owner, admin, body.get("source"), data_dir)
    sizes = {}
    unreadable = []
    for rel in files:
        size = read_image_size(root / rel)
        if size is None:
            unreadable.append(rel)
        else:
            sizes[rel] = size
    if not sizes:
        raise DomainError(
            400, "None of the images of dataset {name} could be read", name=source.name
        )
    d = orm.AnnotationDataset(
        project=project,
        name=name,
        description=description,
        owner=owner.name,
        public=public,
        source_dataset_id=source.id,
        source_version=version.version,
        data_type=data_type,
        object_types=object_types,
        classes=classes,
    )
    db.add(d)
    db.flush()
    target = dataset_dir(data_dir, d.id)
    shutil.rmtree(target, ignore_errors=True)  # a leftover of a failed earlier attempt
    try:
        for rel, (w, h) in sizes.items():
            _link_or_copy(root / rel, target / "images" / rel)
            db.add(orm.AnnotationImage(dataset=d, file_name=rel, width=w, height=h, shapes=[]))
        db.commit()
    except BaseException:
        db.rollback()
        shutil.rmtree(target, ignore_errors=True)
        raise
    return d, unreadable


def update_dataset(db: Session, dataset_id: int, user: str, admin: bool, body: dict):
    """Change name, description, permission, or add classes (a class in use stays)."""
    d = _manageable_dataset(db, dataset_id, user, admin)
    if "name" in body:
        name = _check_text(body["name"], "dataset")
        clash = db.scalar(
            select(orm.AnnotationDataset).where(
                orm.AnnotationDataset.project_id == d.project_id,
                orm.AnnotationDataset.name == name,
                orm.AnnotationDataset.id != d.id,
            )
        )
        if clash:
            raise DomainError(
                409,
                "Project {project} has an annotation dataset named {name} already",
                project=d.project.name,
                name=name,
            )
        d.name = name
    if "description" in body:
        d.description = _check_text(body["description"], "description")
    if "public" in body:
        d.public = _bool(body, "public", d.public)
    if "classes" in body:
        classes = validate_classes(body["classes"])
        used = _classes_in_use(db, d)
        dropped = sorted(used - set(classes))
        if dropped:
            raise DomainError(
                409,
                "Classes in use cannot be removed: {names}",
                names=", ".join(dropped),
            )
        d.classes = classes
    d.updated = orm.utcnow()
    db.commit()
    return d


def _classes_in_use(db: Session, d: orm.AnnotationDataset) -> set[str]:
    used: set[str] = set()
    for shapes in db.scalars(
        select(orm.AnnotationImage.shapes).where(
            orm.AnnotationImage.dataset_id == d.id, orm.AnnotationImage.state == LABELED
        )
    ):
        used.update(s["class"] for s in shapes or ())
    return used


def delete_dataset(db: Session, dataset_id: int, user: str, admin: bool, data_dir) -> None:
    d = _manageable_dataset(db, dataset_id, user, admin)
    if _export_running(db, d.id):
        raise DomainError(409, "An export of this dataset is still running; wait for it to end")
    db.delete(d)
    db.commit()
    shutil.rmtree(dataset_dir(data_dir, dataset_id), ignore_errors=True)


# ---------------------------------------------------------------------------------------
# tasks and labeling (S6)
# ---------------------------------------------------------------------------------------


def image_model(image: orm.AnnotationImage, shapes: bool = False) -> dict:
    model = {
        "id": image.id,
        "file_name": image.file_name,
        "width": image.width,
        "height": image.height,
        "state": image.state,
        "shape_count": len(image.shapes or ()),
        "labeled_by": image.labeled_by,
        "updated": image.updated.isoformat() + "Z",
    }
    if shapes:
        model["shapes"] = list(image.shapes or ())
    return model


def list_images(
    db: Session, d: orm.AnnotationDataset, state: str | None, offset: int, limit: int
) -> dict:
    """A page of the task list: ``{"total", "images": [...]}``."""
    if state is not None and state not in STATES:
        raise DomainError(400, "state must be one of {allowed}", allowed=", ".join(STATES))
    query = select(orm.AnnotationImage).where(orm.AnnotationImage.dataset_id == d.id)
    count = (
        select(func.count())
        .select_from(orm.AnnotationImage)
        .where(orm.AnnotationImage.dataset_id == d.id)
    )
    if state:
        query = query.where(orm.AnnotationImage.state == state)
        count = count.where(orm.AnnotationImage.state == state)
    rows = db.scalars(query.order_by(orm.AnnotationImage.id).offset(offset).limit(limit))
    return {"total": db.scalar(count), "images": [image_model(i) for i in rows]}


def get_image(db: Session, d: orm.AnnotationDataset, image_id: int) -> orm.AnnotationImage:
    image = orm.AnnotationImage.find(db, d.id, int(image_id))
    if image is None:
        raise DomainError(
            404, "No such image in annotation dataset {name}: {id}", name=d.name, id=image_id
        )
    return image


def next_image(db: Session, d: orm.AnnotationDataset, after: int) -> orm.AnnotationImage | None:
    """The next unlabeled image after ``after`` (wrapping around), or None when all are labeled."""
    base = select(orm.AnnotationImage).where(
        orm.AnnotationImage.dataset_id == d.id, orm.AnnotationImage.state == UNLABELED
    )
    found = db.scalar(
        base.where(orm.AnnotationImage.id > after).order_by(orm.AnnotationImage.id).limit(1)
    )
    return found or db.scalar(base.order_by(orm.AnnotationImage.id).limit(1))


def submit(
    db: Session, d: orm.AnnotationDataset, image_id: int, user: str, shapes: Any
) -> tuple[orm.AnnotationImage, orm.AnnotationImage | None]:
    """Save ``shapes`` for the image (all or nothing); answers it and the next unlabeled one."""
    image = get_image(db, d, image_id)
    clean = validate_shapes(shapes, d.classes, d.object_types, image.width, image.height)
    image.shapes = clean
    image.state = LABELED
    image.labeled_by = user
    image.updated = orm.utcnow()
    d.updated = image.updated
    db.commit()
    return image, next_image(db, d, image.id)


# ---------------------------------------------------------------------------------------
# COCO import and export (S7)
# ---------------------------------------------------------------------------------------


def coco_document(db: Session, d: orm.AnnotationDataset) -> dict:
    """The COCO document of the dataset's labeled images (in task order)."""
    images = db.scalars(
        select(orm.AnnotationImage)
        .where(orm.AnnotationImage.dataset_id == d.id, orm.AnnotationImage.state == LABELED)
        .order_by(orm.AnnotationImage.id)
    )
    return coco.write(
        (
            {"file_name": i.file_name, "width": i.width, "height": i.height, "shapes": i.shapes}
            for i in images
        ),
        d.classes,
        info={"description": d.name},
    )


def import_coco(db: Session, d: orm.AnnotationDataset, user: str, doc: Any) -> dict:
    """Label the dataset's images from a COCO document (all or nothing).

    Images are matched by ``file_name`` and must have the stored size; categories unknown to the
    dataset are added to its classes (in the document's order); every shape is validated as a
    Submit would be. Images the document does not name keep their state."""
    images, classes, _info = coco.read(doc)
    stored = {
        i.file_name: i
        for i in db.scalars(
            select(orm.AnnotationImage).where(orm.AnnotationImage.dataset_id == d.id)
        )
    }
    unknown = [img["file_name"] for img in images if img["file_name"] not in stored]
    if unknown:
        raise DomainError(
            400,
            "The COCO document names images that are not in annotation dataset {name}: {files}",
            name=d.name,
            files=", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else ""),
        )
    all_classes = list(d.classes) + [c for c in classes if c not in d.classes]
    if len(all_classes) > MAX_CLASSES:
        raise DomainError(400, "At most {limit} class names", limit=MAX_CLASSES)
    used_types = {s["type"] for img in images for s in img["shapes"]}
    object_types = [t for t in coco.SHAPE_TYPES if t in used_types or t in d.object_types]
    checked = []
    for img in images:
        target = stored[img["file_name"]]
        if (img["width"], img["height"]) != (target.width, target.height):
            raise DomainError(
                400,
                "Image {file} is {width} × {height}, not {coco_width} × {coco_height} as the COCO document says",
                file=target.file_name,
                width=target.width,
                height=target.height,
                coco_width=img["width"],
                coco_height=img["height"],
            )
        try:
            shapes = validate_shapes(
                img["shapes"], all_classes, object_types, target.width, target.height
            )
        except DomainError as e:
            e.extra["file_name"] = target.file_name  # which image, in the error answer
            raise
        checked.append((target, shapes))
    now = orm.utcnow()
    for target, shapes in checked:
        target.shapes = shapes
        target.state = LABELED
        target.labeled_by = user
        target.updated = now
    d.classes = all_classes
    d.object_types = object_types
    d.updated = now
    db.commit()
    return {
        "images": len(checked),
        "annotations": sum(len(s) for _, s in checked),
        "classes": list(all_classes),
    }


def export_model(e: orm.AnnotationExport) -> dict:
    return {
        "id": e.id,
        "dataset_id": e.dataset_id,
        "owner": e.owner,
        "status": e.status,
        "done": e.done,
        "total": e.total,
        "progress": 1.0 if e.status == COMPLETED else (e.done / e.total if e.total else 0.0),
        "annotations": e.annotations,
        "message": e.message,
        "result": (
            {"dataset_id": e.result_dataset_id, "version": e.result_version}
            if e.result_dataset_id is not None
            else None
        ),
        "created": e.created.isoformat() + "Z",
        "finished": e.finished.isoformat() + "Z" if e.finished else None,
    }


#: exports running in this process (a ``running`` row not in here was cut off by a restart)
_running: set[int] = set()
_running_lock = threading.Lock()


def _export_running(db: Session, dataset_id: int) -> bool:
    return any(
        e.status == RUNNING and e.id in _running
        for e in db.scalars(
            select(orm.AnnotationExport).where(orm.AnnotationExport.dataset_id == dataset_id)
        )
    )


def mark_interrupted(db: Session) -> None:
    """Exports that were running when the service stopped: failed, with the reason."""
    with _running_lock:
        running = set(_running)
    stale = db.scalars(
        select(orm.AnnotationExport).where(orm.AnnotationExport.status == RUNNING)
    ).all()
    changed = False
    for e in stale:
        if e.id not in running:
            e.status = FAILED
            e.message = "interrupted: the service restarted during the export; start it again"
            e.finished = orm.utcnow()
            changed = True
    if changed:
        db.commit()


def export_name(d: orm.AnnotationDataset, export_id: int) -> str:
    """The default name of the dataset an export makes."""
    return f"{d.name}-coco-{export_id}"


def start_export(
    db: Session, d: orm.AnnotationDataset, user: str, name: str | None = None
) -> orm.AnnotationExport:
    """Record a new export of ``d`` (run it with :func:`run_export`); 400 if nothing is labeled,
    409 if one is running."""
    mark_interrupted(db)
    if _export_running(db, d.id):
        raise DomainError(409, "An export of this dataset is still running; wait for it to end")
    labeled = db.scalar(
        select(func.count())
        .select_from(orm.AnnotationImage)
        .where(orm.AnnotationImage.dataset_id == d.id, orm.AnnotationImage.state == LABELED)
    )
    if not labeled:
        raise DomainError(400, "Nothing is labeled yet in annotation dataset {name}", name=d.name)
    if name is not None and db.scalar(
        select(orm.Dataset).where(orm.Dataset.owner == user, orm.Dataset.name == name)
    ):
        raise DomainError(409, "You already have a dataset named {name}", name=name)
    e = orm.AnnotationExport(dataset_id=d.id, owner=user, status=RUNNING, total=labeled)
    db.add(e)
    db.commit()
    with _running_lock:
        _running.add(e.id)
    return e


def run_export(
    session_factory: Callable[[], Session],
    export_id: int,
    data_dir,
    *,
    name: str | None = None,
    progress_every: int = 50,
) -> None:
    """Do export ``export_id`` (blocking: run it in a thread): copy the labeled images and
    write ``annotations.json`` into a staging directory, then hand it to the datasets module
    as a new labeled dataset (owned by the exporter, private). Progress is committed every
    ``progress_every`` images; any failure ends as ``failed`` with its message."""
    from . import datasets

    staging = None
    try:
        with session_factory() as db:
            e = orm.AnnotationExport.find(db, export_id)
            d = orm.AnnotationDataset.find(db, e.dataset_id)
            doc = coco_document(db, d)
            e.annotations = len(doc["annotations"])
            e.total = len(doc["images"])
            db.commit()
            staging = storage.ensure_dir(dataset_dir(data_dir, d.id) / "exports") / f"tmp-{e.id}"
            shutil.rmtree(staging, ignore_errors=True)
            images_root = dataset_dir(data_dir, d.id) / "images"
            for n, image in enumerate(doc["images"], start=1):
                src = storage.confine(images_root, image["file_name"], what="image")
                _link_or_copy(src, staging / "images" / image["file_name"])
                if n % progress_every == 0:
                    e.done = n
                    db.commit()
            # one json.dumps (the C encoder) and one write: several times faster than json.dump
            (staging / "annotations.json").write_text(
                json.dumps(doc, ensure_ascii=False), encoding="utf-8"
            )
            owner = orm.User.find(db, e.owner)
            version = datasets.add_version_from_directory(
                db,
                owner,
                staging,
                data_dir=Path(data_dir),
                name=name or export_name(d, e.id),
                description=f"COCO export {e.id} of annotation dataset {d.name} ({d.id})",
                labeled=True,
                public=False,
            )
            staging = None  # moved into the dataset storage
            e = orm.AnnotationExport.find(db, export_id)
            e.status = COMPLETED
            e.done = e.total
            e.result_dataset_id = version.dataset_id
            e.result_version = version.version
            e.finished = orm.utcnow()
            db.commit()
    except Exception as exc:  # the row says why; the service keeps running
        with session_factory() as db:
            e = orm.AnnotationExport.find(db, export_id)
            if e is not None:
                e.status = FAILED
                e.message = str(exc)[:2000] or type(exc).__name__
                e.finished = orm.utcnow()
                db.commit()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        with _running_lock:
            _running.discard(export_id)


def list_exports(db: Session, d: orm.AnnotationDataset) -> list[orm.AnnotationExport]:
    mark_interrupted(db)
    return list(
        db.scalars(
            select(orm.AnnotationExport)
            .where(orm.AnnotationExport.dataset_id == d.id)
            .order_by(orm.AnnotationExport.id.desc())
        )
    )


def get_export(db: Session, d: orm.AnnotationDataset, export_id: int) -> orm.AnnotationExport:
    mark_interrupted(db)
    e = orm.AnnotationExport.find(db, int(export_id))
    if e is None or e.dataset_id != d.id:
        raise DomainError(404, "No such export: {id}", id=export_id)
    return e
