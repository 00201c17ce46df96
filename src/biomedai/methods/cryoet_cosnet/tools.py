"""The ``simulate``, ``extract`` and ``match`` tools (no network needed)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import lazy_import

from .inputs import collect_files, extract_boxes, list_mrc, read_subtomogram, read_support_folder


matching = lazy_import(".matching", __package__)  # torch: imported on first use

#: the "realistic boxes" of the SNR sweep: neighbours, membranes, gold fiducials, dose weighting (3 e/A^2 a tilt)
REALISTIC_BOXES = {"crowding": 2, "membrane_probability": 0.3, "fiducial_probability": 0.1, "dose_per_tilt": 3.0}


def _structure_files(items: list[str]) -> list[Path]:
    return collect_files(items, (".mrc", ".map", ".pdb", ".ent"), ".mrc/.map/.pdb structures")


def run_simulate(args: argparse.Namespace) -> int:
    """Subtomograms (dataset.npz + particles.star [+ MRC files]) or a packed tomogram (MRC + STAR)."""
    from biomedai.data import cryoet_sim as sim
    from biomedai.io.mrc import write_mrc
    from biomedai.io.star import write_particle_coordinates, write_star

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extra = dict(REALISTIC_BOXES) if getattr(args, "realistic", False) else {}
    settings = sim.SimulationSettings.from_dict({"tilt_min": args.tilt[0], "tilt_max": args.tilt[1],
                                                 "tilt_step": args.tilt[2], "voxel_size_a": args.voxel_size,
                                                 "snr_definition": getattr(args, "snr_definition", "projection_band"),
                                                 **extra})
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


def run_match(args: argparse.Namespace) -> int:
    """Template matching of subtomograms against a support folder: classes.csv + result.json.

    Wedge-aware constrained correlation by default (``--no-wedge``: band-limited plain correlation;
    ``--plain-ncc``: whole-band NCC as in the benchmark's plain baseline). With K shots per class the
    best shot's score counts.
    """
    from biomedai.provenance import RunRecorder

    out = Path(args.out)
    files = list_mrc(args.targets)
    names, shots = read_support_folder(Path(args.support), args.box)
    targets = np.stack([read_subtomogram(p, args.box) for p in files])
    supports = np.concatenate(shots)
    owner = np.repeat(np.arange(len(names)), [len(s) for s in shots])
    rec = RunRecorder(out, "cryoet_cosnet", "match", seed=args.seed,
                      config={"rotations": args.rotations, "tilt_range": None if args.no_wedge else args.tilt_range,
                              "band": args.band, "plain_ncc": args.plain_ncc})
    rec.add_inputs(files + [Path(args.support)])
    with rec.timer("match"):
        if args.plain_ncc:
            scores = matching.ncc_scores(supports, targets, args.rotations, args.seed)
        else:
            scores = matching.constrained_correlation_scores(supports, targets, args.rotations,
                                                    None if args.no_wedge else tuple(args.tilt_range),
                                                    tuple(args.band), args.seed)
    per_class = np.stack([scores[owner == c].max(0) for c in range(len(names))])       # [classes, targets]
    best = per_class.argmax(0)
    lines = ["target,predicted_class,best_score," + ",".join(f"score_{n}" for n in names)]
    for i, path in enumerate(files):
        lines.append(f"{path.name},{names[best[i]]},{per_class[best[i], i]:.4f}," +
                     ",".join(f"{v:.4f}" for v in per_class[:, i]))
    out.mkdir(parents=True, exist_ok=True)
    (out / "classes.csv").write_text("\n".join(lines) + "\n")
    rec.add_file(out / "classes.csv")
    rec.metrics = {"predicted": {p.name: names[best[i]] for i, p in enumerate(files)}, "support_classes": names,
                   "shots_per_class": [len(s) for s in shots],
                   "method": "plain NCC" if args.plain_ncc else ("band-limited correlation" if args.no_wedge
                                                                 else "missing-wedge-aware constrained correlation")}
    rec.write()
    print(f"matched {len(files)} subtomograms against {len(names)} classes -> {out / 'classes.csv'}")
    return 0
