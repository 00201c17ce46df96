// DICOM Segmentation (SEG) masks: parsed from the Part 10 instance with dicom-parser and drawn on
// a canvas laid over a stack viewport, aligned through the image-to-world-to-canvas transform.
import dicomParser from 'dicom-parser';
import { utilities } from '@cornerstonejs/core';

const PALETTE = [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]];

function item(element, index = 0) {
  return element && element.items && element.items[index] ? element.items[index].dataSet : undefined;
}

function nested(ds, ...tags) {
  let current = ds;
  for (const tag of tags) {
    current = current ? item(current.elements[tag]) : undefined;
  }
  return current;
}

function floats(ds, tag) {
  const value = ds && ds.elements[tag] ? ds.string(tag) : undefined;
  return value ? value.split('\\').map(Number) : null;
}

// CIELab (DICOM-scaled 0..65535) to sRGB 0..255.
function labToRgb(lab) {
  const L = (lab[0] / 65535) * 100;
  const a = (lab[1] / 65535) * 255 - 128;
  const b = (lab[2] / 65535) * 255 - 128;
  let y = (L + 16) / 116;
  let x = a / 500 + y;
  let z = y - b / 200;
  const f = (t) => (t ** 3 > 0.008856 ? t ** 3 : (t - 16 / 116) / 7.787);
  x = 0.95047 * f(x);
  y = 1.0 * f(y);
  z = 1.08883 * f(z);
  const lin = [x * 3.2406 + y * -1.5372 + z * -0.4986, x * -0.9689 + y * 1.8758 + z * 0.0415,
    x * 0.0557 + y * -0.204 + z * 1.057];
  return lin.map((c) => {
    const v = c > 0.0031308 ? 1.055 * c ** (1 / 2.4) - 0.055 : 12.92 * c;
    return Math.max(0, Math.min(255, Math.round(v * 255)));
  });
}

// Parse a SEG instance: its segments and, per frame, the segment, the source SOP instance and the
// position, with the frame's mask as a Uint8Array of rows*columns (0 or 255 for BINARY; 0..255 for
// FRACTIONAL).
export function parseSeg(bytes) {
  const ds = dicomParser.parseDicom(bytes);
  if (ds.string('x00080060') !== 'SEG') {
    throw new Error('not a DICOM SEG (Modality is not SEG)');
  }
  const syntax = ds.string('x00020010');
  if (syntax && !['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'].includes(syntax)) {
    throw new Error(`SEG stored with transfer syntax ${syntax}; the viewer reads uncompressed SEG only`);
  }
  const rows = ds.uint16('x00280010');
  const columns = ds.uint16('x00280011');
  const bits = ds.uint16('x00280100');
  const frames = parseInt(ds.string('x00280008') || '1', 10);
  const segments = new Map();
  const segmentSeq = ds.elements.x00620002;
  (segmentSeq && segmentSeq.items ? segmentSeq.items : []).forEach((entry, index) => {
    const seg = entry.dataSet;
    const number = seg.uint16('x00620004');
    const lab = seg.elements.x0062000d ? [0, 1, 2].map((i) => seg.uint16('x0062000d', i)) : null;
    segments.set(number, {
      number,
      label: seg.string('x00620005') || `segment ${number}`,
      color: lab ? labToRgb(lab) : PALETTE[index % PALETTE.length],
    });
  });
  const shared = item(ds.elements.x52009229);
  const perFrame = ds.elements.x52009230;
  const pixel = ds.elements.x7fe00010;
  if (!pixel) {
    throw new Error('SEG without PixelData');
  }
  const data = new Uint8Array(ds.byteArray.buffer, ds.byteArray.byteOffset + pixel.dataOffset, pixel.length);
  const size = rows * columns;
  const out = [];
  for (let f = 0; f < frames; f += 1) {
    const group = perFrame && perFrame.items && perFrame.items[f] ? perFrame.items[f].dataSet : undefined;
    const ident = nested(group, 'x0062000a') || nested(shared, 'x0062000a');
    const segment = ident ? ident.uint16('x0062000b') : 1;
    const source = nested(group, 'x00089124', 'x00082112') || nested(shared, 'x00089124', 'x00082112');
    const position = floats(nested(group, 'x00209113'), 'x00200032');
    const mask = new Uint8Array(size);
    if (bits === 1) {
      const offset = f * size;
      for (let p = 0; p < size; p += 1) {
        const bit = offset + p;
        if (data[bit >> 3] & (1 << (bit & 7))) {
          mask[p] = 255;
        }
      }
    } else {
      mask.set(data.subarray(f * size, (f + 1) * size));
    }
    out.push({
      segment,
      sopInstanceUID: source ? source.string('x00081155') : undefined,
      sourceFrame: source && source.elements.x00081160 ? parseInt(source.string('x00081160'), 10) : 1,
      position,
      mask,
    });
  }
  return { rows, columns, segments, frames: out };
}

// The SEG frames drawn on one source image: by referenced SOP instance (and frame), else by the
// nearest position along the slice normal.
export function framesFor(seg, entry, normal) {
  const byReference = seg.frames.filter((f) => f.sopInstanceUID && f.sopInstanceUID === entry.sop &&
    (f.sourceFrame || 1) === entry.frame);
  if (byReference.length || !entry.position || !normal) {
    return byReference;
  }
  const along = (p) => p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
  const here = along(entry.position);
  return seg.frames.filter((f) => f.position && Math.abs(along(f.position) - here) < 1e-3);
}

// Draw the masks of the viewport's current image onto ``canvas`` (a layer over the viewport).
export function drawSeg(viewport, canvas, seg, entry, normal, hidden) {
  const ctx = canvas.getContext('2d');
  const ratio = window.devicePixelRatio || 1;
  const { clientWidth: width, clientHeight: height } = canvas;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!seg || !entry) {
    return 0;
  }
  const frames = framesFor(seg, entry, normal).filter((f) => !hidden.has(f.segment));
  if (!frames.length) {
    return 0;
  }
  const layer = document.createElement('canvas');
  layer.width = seg.columns;
  layer.height = seg.rows;
  const image = layer.getContext('2d').createImageData(seg.columns, seg.rows);
  for (const frame of frames) {
    const color = (seg.segments.get(frame.segment) || { color: PALETTE[0] }).color;
    for (let p = 0; p < frame.mask.length; p += 1) {
      const value = frame.mask[p];
      if (value) {
        image.data[4 * p] = color[0];
        image.data[4 * p + 1] = color[1];
        image.data[4 * p + 2] = color[2];
        image.data[4 * p + 3] = Math.round(value * 0.5);
      }
    }
  }
  layer.getContext('2d').putImageData(image, 0, 0);
  // image pixel (column, row) -> canvas point, from three corners
  const toCanvas = (x, y) => viewport.worldToCanvas(utilities.imageToWorldCoords(entry.imageId, [x, y]));
  const o = toCanvas(0, 0);
  const right = toCanvas(seg.columns, 0);
  const down = toCanvas(0, seg.rows);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.transform((right[0] - o[0]) / seg.columns, (right[1] - o[1]) / seg.columns,
    (down[0] - o[0]) / seg.rows, (down[1] - o[1]) / seg.rows, o[0], o[1]);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(layer, 0, 0);
  return frames.length;
}
