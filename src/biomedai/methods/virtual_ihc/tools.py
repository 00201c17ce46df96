"""``biomedai tool virtual_ihc bags IMAGE -o OUT [--labels CSV|GEOJSON]``: the MIL tiler on one image.

Writes ``bags.csv`` (one row per instance: bag corner, instance corner, tissue fraction, bag label when
labels are given), the tissue mask and an overlay of the bags (red = tumour, blue = normal, yellow = unlabelled),
ready for labelling in a CSV (``image,x,y,label`` of the bag corners) or for MIL training.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.data.tissue import tissue_mask
from biomedai.errors import InvalidInputError
from biomedai.utils import write_csv_atomic

from .realdata import read_rgb
from .tiler import bag_labels_from_regions, make_bags, read_bag_label_csv

LABEL_COLOURS = {1: (255, 0, 0), 0: (0, 0, 255), None: (255, 220, 0)}


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="virtual_ihc tools")
    sub = p.add_subparsers(dest="tool", required=True)
    b = sub.add_parser("bags", help="Otsu tissue mask and MIL bags of instances (coordinates) of one image")
    b.add_argument("image")
    b.add_argument("-o", "--out", required=True)
    b.add_argument("--labels", help="bag labels: CSV image,x,y,label or tumour/normal polygons (GeoJSON/Labelme)")
    b.add_argument("--bag-size", type=int, default=None, help="default: the config's bag_size (2240)")
    b.add_argument("--tile-size", type=int, default=None, help="default: the config's tile_size (224)")
    return p


def _overlay(rgb: np.ndarray, bags: list[Any]) -> np.ndarray:
    out = rgb[..., :3].copy()
    for bag in bags:
        colour = LABEL_COLOURS[bag.label]
        y0, y1, x0, x1 = bag.y, bag.y + bag.height - 1, bag.x, bag.x + bag.width - 1
        for ys, xs in ((slice(y0, y0 + 3), slice(x0, x1)), (slice(y1 - 2, y1 + 1), slice(x0, x1)),
                       (slice(y0, y1), slice(x0, x0 + 3)), (slice(y0, y1), slice(x1 - 2, x1 + 1))):
            out[ys, xs] = colour
    return out


def run(method: Any, args: argparse.Namespace) -> int:
    from biomedai.io.annotations import read_annotations
    from biomedai.viz import save_png

    cfg = method.config
    image = Path(args.image)
    rgb = read_rgb(image)
    mask = tissue_mask(rgb)
    if not mask.any():
        raise InvalidInputError("no tissue found (Otsu tissue mask is empty)", image)
    bags = make_bags(rgb, mask, args.bag_size or cfg.bag_size, args.tile_size or cfg.tile_size, cfg.bag_min_tissue,
                     cfg.instance_min_tissue, source=image.name)
    if args.labels:
        labels_path = Path(args.labels)
        if labels_path.suffix.lower() == ".csv":
            table = read_bag_label_csv(labels_path)
            for bag in bags:
                bag.label = table.get((image.name, bag.x, bag.y))
        else:
            bag_labels_from_regions(bags, read_annotations(labels_path), mask.shape)
    out = Path(args.out)
    rows = [{"image": image.name, "bag_x": b.x, "bag_y": b.y, "bag_tissue": round(b.tissue, 4),
             "label": {1: "tumour", 0: "normal", None: ""}[b.label], "instance_x": x, "instance_y": y}
            for b in bags for x, y in b.instances]
    write_csv_atomic(out / "bags.csv", rows)
    save_png((mask * 255).astype(np.uint8), out / "tissue_mask.png")
    save_png(_overlay(rgb, bags), out / "bags_overlay.png")
    print(json.dumps({"bags": len(bags), "instances": len(rows), "tumour_bags": sum(b.label == 1 for b in bags),
                      "normal_bags": sum(b.label == 0 for b in bags), "output": str(out)}))
    return 0
