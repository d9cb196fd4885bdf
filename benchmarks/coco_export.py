"""Time a COCO export of 100,000 annotations next to ``json.dump`` of the same document.

5,000 images (1920 × 1080) with 20 shapes each, half boxes and half 12-point polygons, 80
classes. Prints the median time of an export as the platform does it: ``coco.write`` (building
the document: ids, areas by the shoelace formula, bounding boxes, segmentations), then one
``json.dumps`` written to a file; the median time of ``json.dump`` into a file alone of the finished document (the floor any export must pay to write it), and
the ratio between the two. Then the same through ``pycocotools.coco.COCO`` loading the file, as a
check that the result is a usable COCO file. Target: the export within 3 × the dump alone.

Run from the repository root: ``python benchmarks/coco_export.py [--annotations N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ytung_service import coco  # noqa: E402

PER_IMAGE = 20
WIDTH, HEIGHT = 1920, 1080


def make_images(annotations: int, seed: int) -> tuple[list[dict], list[str]]:
    rng = random.Random(seed)
    classes = [f"class-{i}" for i in range(80)]
    images = []
    for n in range(math.ceil(annotations / PER_IMAGE)):
        shapes = []
        for k in range(min(PER_IMAGE, annotations - n * PER_IMAGE)):
            cx, cy = rng.uniform(100, WIDTH - 100), rng.uniform(100, HEIGHT - 100)
            r = rng.uniform(10, 90)
            if k % 2:
                shapes.append(
                    {
                        "type": "bbox",
                        "class": rng.choice(classes),
                        "bbox": [round(cx - r, 2), round(cy - r, 2), round(2 * r, 2), round(r, 2)],
                    }
                )
            else:
                points = [
                    [
                        round(cx + r * math.cos(a * math.pi / 6), 2),
                        round(cy + r * math.sin(a * math.pi / 6), 2),
                    ]
                    for a in range(12)
                ]
                shapes.append({"type": "polygon", "class": rng.choice(classes), "points": points})
        images.append(
            {"file_name": f"images/{n:06d}.jpg", "width": WIDTH, "height": HEIGHT, "shapes": shapes}
        )
    return images, classes


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    images, classes = make_images(args.annotations, args.seed)
    doc = coco.write(images, classes)
    assert len(doc["annotations"]) == args.annotations
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "annotations.json"

        def export():
            # what an export does (ytung_service.annotations.run_export)
            path.write_text(
                json.dumps(coco.write(images, classes), ensure_ascii=False), encoding="utf-8"
            )

        def dump_only():
            with open(path, "w", encoding="utf-8") as f:
                json.dump(doc, f, ensure_ascii=False)

        export_s = timed(export, args.repeat)
        dump_s = timed(dump_only, args.repeat)
        size = path.stat().st_size
        try:
            from pycocotools.coco import COCO

            start = time.perf_counter()
            api = COCO(str(path))
            load_s = time.perf_counter() - start
            assert len(api.getAnnIds()) == args.annotations
            loaded = f"pycocotools loads it in {load_s * 1000:.0f} ms"
        except ImportError:
            loaded = "pycocotools not installed: load not checked"

    print(
        f"COCO export of {args.annotations:,} annotations on {len(images):,} images "
        f"({size / 1e6:.1f} MB): median of {args.repeat}"
    )
    print(f"  export (write + dumps): {export_s * 1000:8.1f} ms")
    print(f"  json.dump alone       : {dump_s * 1000:8.1f} ms")
    print(f"  ratio                 : {export_s / dump_s:8.2f} x  (target < 3)")
    print(f"  {loaded}")


if __name__ == "__main__":
    main()
