"""ABL picture and odontogram on a simulated film."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from biomedai.errors import InvalidInputError
from biomedai.methods.dental_perio.abl import measure_abl
from biomedai.methods.dental_perio.charts import draw_abl, odontogram
from biomedai.methods.dental_perio.synthetic import synthetic_panoramic


def test_draw_abl_marks_bone_and_lines() -> None:
    film = synthetic_panoramic(4, size=(256, 512))
    abl = measure_abl(film.tooth_masks(), film.bone_mask)
    plain = draw_abl(film.image, {})
    picture = draw_abl(film.image, abl, film.bone_mask)
    assert picture.shape == (256, 512, 3) and picture.dtype == np.uint8
    assert np.array_equal(plain[..., 0], film.image)                   # nothing drawn without results
    changed = np.any(picture != plain, axis=-1)
    assert changed.sum() > 2000
    # the bone contour is drawn in its colour, and each tooth's bone line passes near its crest points
    assert (np.all(picture == (60, 160, 255), axis=-1)).sum() > 500
    for r in abl.values():
        x, y = (round(v) for v in r.bone_points[0])
        window = picture[max(0, y - 1):y + 2, max(0, x - 1):x + 2]
        assert np.any(np.all(window == (255, 220, 0), axis=-1)), r.fdi
    with pytest.raises(InvalidInputError, match="bone_mask"):
        draw_abl(film.image, abl, film.bone_mask[:10])


def test_odontogram_png(tmp_path) -> None:
    d = {11: 0.4, 12: 0.5, 36: 0.8, 47: 0.3}
    path = odontogram(d, tmp_path / "chart.png", imputed={12: True})
    with PILImage.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 400
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.std() > 10  # something is drawn
    with pytest.raises(InvalidInputError, match="FDI"):
        odontogram({9: 0.1}, tmp_path / "bad.png")
