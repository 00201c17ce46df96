"""The ``simulate`` and ``extract`` tools (no network needed)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError

from .inputs import collect_files, extract_boxes


def _structure_files(items: list[str]) -> list[Path]:
    return collect_files(items, (".mrc", ".map", ".pdb", ".ent"), ".mrc/.map/.pdb structures")


def run_simulate(args: argparse.Namespace) -> int:
    """Subtomograms (dataset.npz + particles.star [+ MRC files]) or a packed tomogram (MRC + STAR)."""
    from biomedai.data import cryoet_sim as sim
    from biomedai.io.mrc import write_mrc
    from biomedai.io.star import write_particle_coordinates, write_star

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = sim.SimulationSettings.from_dict({"tilt_min": args.tilt[0], "tilt_max": args.tilt[1],
                                                 "tilt_step": args.tilt[2], "voxel_size_a": args.voxel_size})
    templates = sim.load_structures(_structure_files(args.structures), settings.box, settings.voxel_size_a)
    if args.tomogram:
        tomo = sim.pack_tomogram(templates, args.n_particles, args.tomogram, args.snr, settings, args.seed)
        write_mrc(tomo.tomogram, out / "tomogram.mrc", voxel_size=settings.voxel_size_a)
        write_mrc(tomo.labels, out / "labels.mrc", voxel_size=settings.voxel_size_a)
        euler = sim.rotation_to_zyz_euler(tomo.rotations)
        write_particle_coordinates(out / "particles.star", tomo.positions_zyx[:, ::-1], tomo.particle_classes,
                                   {"rlnAngleRot": euler[:, 0].tolist(), "rlnAngleTilt": euler[:, 1].tolist(),
                                    "rlnAnglePsi": euler[:, 2].tolist()})
        print(f"tomogram {tuple(tomo.tomogram.shape)} with {len(tomo.particle_classes)} particles -> {out}")
        return 0
    data = sim.simulate_subtomograms(templates, args.n_per_class, args.snr, settings, args.seed)
    data.save(out / "dataset.npz")
    euler = sim.rotation_to_zyz_euler(data.rotations)
    names = [f"{data.class_names[c]}/{i:05d}.mrc" for i, c in enumerate(data.labels)]
    table = {"rlnImageName": names, "rlnClassName": [data.class_names[c] for c in data.labels],
             "rlnAngleRot": euler[:, 0].tolist(), "rlnAngleTilt": euler[:, 1].tolist(),
             "rlnAnglePsi": euler[:, 2].tolist(), "rlnDefocusU": data.defocus_a.tolist()}
    write_star(out / "particles.star", {"particles": table})
    if args.mrc:
        for name, vol, mask in zip(names, data.volumes, data.masks):
            (out / "subtomograms" / name).parent.mkdir(parents=True, exist_ok=True)
            (out / "masks" / name).parent.mkdir(parents=True, exist_ok=True)
            write_mrc(vol, out / "subtomograms" / name, voxel_size=settings.voxel_size_a)
            write_mrc(mask.astype(np.uint8), out / "masks" / name, voxel_size=settings.voxel_size_a)
    snr = "inf" if math.isinf(args.snr) else f"{args.snr:g}"
    print(f"{len(data.labels)} subtomograms of {len(data.class_names)} classes at SNR {snr} -> {out}")
    return 0


def run_extract(args: argparse.Namespace) -> int:
    """Cut ``box``^3 subtomograms at coordinates; writes one MRC per particle and particles.star."""
    from biomedai.io.mrc import read_mrc, write_mrc
    from biomedai.io.star import read_particle_coordinates, write_particle_coordinates

    if args.box < 8 or args.box % 2:
        raise InvalidInputError(f"--box must be an even size >= 8, got {args.box}")
    image = read_mrc(args.tomogram)
    if image.array.ndim != 3:
        raise InvalidInputError(f"a tomogram must be 3D, got shape {image.array.shape}", args.tomogram)
    xyz, classes = read_particle_coordinates(args.coordinates)
    boxes = extract_boxes(image.array, xyz, args.box, Path(args.coordinates))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    voxel = float(image.spacing[0]) if image.spacing_unit == "angstrom" and image.spacing else 1.0
    names = []
    for i, vol in enumerate(boxes):
        name = f"particle_{i:05d}.mrc"
        write_mrc(vol, out / name, voxel_size=voxel)
        names.append(name)
    write_particle_coordinates(out / "particles.star", xyz, classes, {"rlnImageName": names})
    print(f"extracted {len(boxes)} subtomograms of {args.box}^3 -> {out}")
    return 0
