// The biomedai study viewer: Cornerstone3D fed by the service's DICOMweb (QIDO-RS + WADO-RS).
// Series thumbnails, stack scrolling, window/level presets, zoom/pan, length/angle/ROI measurements
// saved to the study, axial/coronal/sagittal reformats, DICOM SEG masks and SR findings drawn over
// the images, and side-by-side comparison with a prior study of the same patient.
import {
  Enums, RenderingEngine, eventTarget, init as coreInit, setVolumesForViewports, utilities, volumeLoader,
} from '@cornerstonejs/core';
import {
  AngleTool, EllipticalROITool, Enums as ToolEnums, LengthTool, PanTool, RectangleROITool, StackScrollTool,
  ToolGroupManager, WindowLevelTool, ZoomTool, addTool, annotation, init as toolsInit,
} from '@cornerstonejs/tools';
import { init as loaderInit, wadors } from '@cornerstonejs/dicom-image-loader';
import { UNCOMPRESSED, dot, first, getJSON, numbers, retrieveInstance, sliceNormal, text, values } from './dicomweb.js';
import { drawSeg, parseSeg } from './seg.js';
import { srFindings } from './sr.js';

const { ViewportType, OrientationAxis, Events } = Enums;
const { MouseBindings } = ToolEnums;

export const PRESETS = {
  lung: { width: 1500, center: -600 },
  mediastinum: { width: 350, center: 50 },
  bone: { width: 2000, center: 300 },
  brain: { width: 80, center: 40 },
};
const MEASURE_TOOLS = [LengthTool.toolName, AngleTool.toolName, RectangleROITool.toolName,
  EllipticalROITool.toolName];
const NON_IMAGE = new Set(['SEG', 'SR', 'PR', 'KO', 'RTSTRUCT', 'RTPLAN', 'DOC', 'REG']);
const ENGINE = 'biomedai-viewer';

const state = {
  context: null,
  root: '',
  series: [], // {uid, modality, description, count, entries?}
  current: null, // series shown in the main viewport
  mode: 'stack',
  segs: [], // {id, label, seg, visible, hidden:Set}
  findings: [], // {source, label}
  showFindings: true,
  records: new Map(), // saved measurements by annotation UID
  restoring: false,
  saveTimer: null,
  saved: 0,
  volumeId: null,
  ready: false,
  errors: [],
};

const $ = (selector) => document.querySelector(selector);

function setStatus(message, isError = false) {
  const box = $('#bv-status');
  if (box) {
    box.textContent = message;
    box.classList.toggle('bv-error', isError);
  }
  if (isError) {
    state.errors.push(message);
  }
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'text') {
      node.textContent = value;
    } else if (key.startsWith('on')) {
      node.addEventListener(key.slice(2), value);
    } else if (value !== undefined && value !== null && value !== false) {
      node.setAttribute(key, value === true ? '' : value);
    }
  }
  children.forEach((child) => node.append(child));
  return node;
}

// ---------- series and images ----------

async function listSeries(studyUID) {
  const rows = await getJSON(`${state.root}/studies/${studyUID}/series`);
  return rows.map((row) => ({
    uid: text(row, '0020000E'),
    modality: text(row, '00080060'),
    description: text(row, '0008103E'),
    number: Number(first(row, '00200011') || 0),
    count: Number(first(row, '00201209') || 0),
    studyUID,
  })).sort((a, b) => a.number - b.number);
}

// Image ids of a series (one per frame), sorted along the slice normal, with their metadata registered.
async function loadEntries(series) {
  if (series.entries) {
    return series.entries;
  }
  const base = `${window.location.origin}${state.root}/studies/${series.studyUID}/series/${series.uid}`;
  const instances = await getJSON(`${base}/metadata`);
  const entries = [];
  for (const instance of instances) {
    if (!first(instance, '00280010')) {
      continue; // no Rows: not an image
    }
    const sop = text(instance, '00080018');
    const frames = Number(first(instance, '00280008') || 1);
    for (let frame = 1; frame <= frames; frame += 1) {
      const imageId = `wadors:${base}/instances/${sop}/frames/${frame}`;
      wadors.metaDataManager.add(imageId, instance);
      entries.push({
        imageId, sop, frame,
        number: Number(first(instance, '00200013') || 0),
        position: frames === 1 ? numbers(instance, '00200032') : null,
        orientation: numbers(instance, '00200037'),
      });
    }
  }
  const normal = entries.length ? sliceNormal(entries[0].orientation) : null;
  if (normal && entries.every((e) => e.position && e.position.length === 3)) {
    entries.sort((a, b) => dot(a.position, normal) - dot(b.position, normal));
  } else {
    entries.sort((a, b) => a.number - b.number || a.frame - b.frame);
  }
  series.normal = normal;
  series.entries = entries;
  return entries;
}

// ---------- rendering engine, viewports, tools ----------

let engine;

function viewportElement(id, label) {
  const element = el('div', { class: 'bv-viewport', id: `bv-vp-${id}`, 'data-viewport': id });
  element.addEventListener('contextmenu', (event) => event.preventDefault());
  const overlay = el('canvas', { class: 'bv-overlay', 'data-overlay': id });
  const findings = el('div', { class: 'bv-findings', 'data-findings': id });
  const caption = el('div', { class: 'bv-caption', 'data-caption': id, text: label || '' });
  const frame = el('div', { class: 'bv-frame' }, [element, overlay, findings, caption]);
  return { element, overlay, findings, caption, frame };
}

function makeToolGroups() {
  [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, LengthTool, AngleTool, RectangleROITool,
    EllipticalROITool].forEach((tool) => addTool(tool));
  const stack = ToolGroupManager.createToolGroup('bv-stack');
  const mpr = ToolGroupManager.createToolGroup('bv-mpr');
  for (const group of [stack, mpr]) {
    [WindowLevelTool, PanTool, ZoomTool, StackScrollTool].forEach((tool) => group.addTool(tool.toolName));
    group.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
    group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  }
  MEASURE_TOOLS.forEach((name) => {
    stack.addTool(name);
    stack.setToolPassive(name);
  });
  state.primary = WindowLevelTool.toolName;
}

function choosePrimary(name) {
  for (const group of [ToolGroupManager.getToolGroup('bv-stack'), ToolGroupManager.getToolGroup('bv-mpr')]) {
    if (!group.hasTool(name)) {
      continue;
    }
    if (group.hasTool(state.primary)) {
      group.setToolPassive(state.primary);
    }
    group.setToolActive(name, { bindings: [{ mouseButton: MouseBindings.Primary }] });
  }
  state.primary = name;
  document.querySelectorAll('[data-tool]').forEach((button) => {
    button.classList.toggle('bv-on', button.dataset.tool === name);
  });
}

function disableAll() {
  for (const id of ['main', 'prior', 'axial', 'coronal', 'sagittal']) {
    if (engine.getViewport(id)) {
      for (const group of ['bv-stack', 'bv-mpr']) {
        ToolGroupManager.getToolGroup(group).removeViewports(ENGINE, id);
      }
      engine.disableElement(id);
    }
  }
  $('#bv-viewports').replaceChildren();
}

function enable(id, type, group, label, orientation) {
  const parts = viewportElement(id, label);
  $('#bv-viewports').append(parts.frame);
  engine.enableElement({
    viewportId: id, type, element: parts.element,
    defaultOptions: { background: [0, 0, 0], ...(orientation ? { orientation } : {}) },
  });
  ToolGroupManager.getToolGroup(group).addViewport(id, ENGINE);
  return { viewport: engine.getViewport(id), ...parts };
}

// ---------- stack mode ----------

const shown = {}; // viewportId -> {viewport, overlay, findings, caption, series}

function currentEntry(id) {
  const item = shown[id];
  if (!item || !item.series.entries) {
    return null;
  }
  return item.series.entries[item.viewport.getCurrentImageIdIndex()] || null;
}

function redrawOverlay(id) {
  const item = shown[id];
  if (!item) {
    return;
  }
  const entry = currentEntry(id);
  const ctx = item.overlay.getContext('2d');
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, item.overlay.width, item.overlay.height);
  let drawn = 0;
  if (id === 'main') {
    for (const seg of state.segs.filter((s) => s.visible && s.seriesUID === item.series.uid)) {
      drawn += drawSeg(item.viewport, item.overlay, seg.seg, entry, item.series.normal, seg.hidden);
    }
  }
  item.overlay.dataset.segFrames = String(drawn);
  const index = item.viewport.getCurrentImageIdIndex();
  const voi = item.viewport.getProperties().voiRange;
  let wl = '';
  if (voi) {
    const { windowWidth, windowCenter } = utilities.windowLevel.toWindowLevel(voi.lower, voi.upper);
    wl = ` · W ${Math.round(windowWidth)} L ${Math.round(windowCenter)}`;
  }
  item.caption.textContent = `${item.label} · image ${index + 1}/${item.series.entries.length}${wl}`;
  item.element.dataset.index = String(index);
  const slider = $('#bv-slider');
  if (id === 'main' && slider) {
    slider.max = String(item.series.entries.length - 1);
    slider.value = String(index);
  }
}

function showFindings(id) {
  const item = shown[id];
  if (!item) {
    return;
  }
  const visible = state.showFindings && id === 'main' && state.findings.length;
  item.findings.hidden = !visible;
  item.findings.replaceChildren(...(visible ? [el('b', { text: 'AI findings' }),
    ...state.findings.map((f) => el('div', { class: 'bv-finding', text: `${f.label}${f.source ? ` (${f.source})` : ''}` }))]
    : []));
}

async function showSeries(id, series, label) {
  const entries = await loadEntries(series);
  if (!entries.length) {
    throw new Error(`series ${series.description || series.uid} has no images`);
  }
  let item = shown[id];
  if (!item || !engine.getViewport(id)) {
    const parts = enable(id, ViewportType.STACK, 'bv-stack', label);
    item = { ...parts };
    shown[id] = item;
    parts.element.addEventListener(Events.STACK_NEW_IMAGE, () => {
      redrawOverlay(id);
      if (id === 'main') {
        followPrior();
      }
    });
    parts.element.addEventListener(Events.IMAGE_RENDERED, () => {
      if (id === 'main' && state.firstImageMs === undefined) {
        state.firstImageMs = performance.now() - state.started; // time to the first drawn image
      }
      redrawOverlay(id);
    });
  }
  item.series = series;
  item.label = label;
  if (id === 'main') {
    state.current = series;
  }
  await item.viewport.setStack(entries.map((e) => e.imageId), Math.floor(entries.length / 2));
  item.viewport.render();
  if (id === 'main') {
    restoreAnnotations(series, item.viewport);
    showFindings(id);
    document.querySelectorAll('.bv-thumb').forEach((t) => t.classList.toggle('bv-on', t.dataset.series === series.uid));
  }
  return item;
}

async function stackMode(series) {
  disableAll();
  Object.keys(shown).forEach((key) => delete shown[key]);
  setMode('stack');
  await showSeries('main', series, seriesLabel(series));
}

function seriesLabel(series) {
  return `${series.modality} ${series.description || `series ${series.number}`}`.trim();
}

function setMode(mode) {
  state.mode = mode;
  $('#bv-viewports').dataset.mode = mode;
  document.querySelectorAll('[data-mode-button]').forEach((button) => {
    button.classList.toggle('bv-on', button.dataset.modeButton === mode);
  });
  if (engine) {
    engine.resize(true, false); // a new layout: fit the images again
  }
}

// ---------- MPR ----------

async function mprMode() {
  const series = state.current;
  if (!series || !series.entries || series.entries.length < 3) {
    setStatus('Reformats need a series of at least three slices', true);
    return;
  }
  disableAll();
  Object.keys(shown).forEach((key) => delete shown[key]);
  setMode('mpr');
  const ids = ['axial', 'coronal', 'sagittal'];
  const axes = [OrientationAxis.AXIAL, OrientationAxis.CORONAL, OrientationAxis.SAGITTAL];
  ids.forEach((id, i) => {
    const parts = enable(id, ViewportType.ORTHOGRAPHIC, 'bv-mpr', id, axes[i]);
    parts.caption.textContent = `${id} · ${seriesLabel(series)}`;
  });
  const volumeId = `cornerstoneStreamingImageVolume:bv-${series.uid}`;
  const volume = await volumeLoader.createAndCacheVolume(volumeId, { imageIds: series.entries.map((e) => e.imageId) });
  volume.load();
  await setVolumesForViewports(engine, [{ volumeId }], ids);
  state.volumeId = volumeId;
  engine.resize(true, false);
  ids.forEach((id) => engine.getViewport(id).render());
  setStatus(`Reformats of ${seriesLabel(series)}: axial, coronal, sagittal`);
}

// ---------- prior comparison ----------

async function listPriors() {
  const patient = state.context.study.patient_id;
  if (!patient) {
    return [];
  }
  const rows = await getJSON(`${state.root}/studies?PatientID=${encodeURIComponent(patient)}` +
    '&includefield=StudyDescription&includefield=ModalitiesInStudy');
  return rows.map((row) => ({
    uid: text(row, '0020000D'),
    date: text(row, '00080020').replace(/^(\d{4})(\d{2})(\d{2})$/, '$1-$2-$3'),
    description: text(row, '00081030'),
    modalities: values(row, '00080061').join('/'),
  })).filter((p) => p.uid && p.uid !== state.context.study.uid).sort((a, b) => (b.date > a.date ? 1 : -1));
}

async function compareMode(priorUID) {
  const prior = state.priors.find((p) => p.uid === priorUID);
  if (!prior) {
    setStatus('No prior study of this patient', true);
    return;
  }
  const series = state.current;
  if (state.mode !== 'stack') {
    await stackMode(series);
  }
  const priorSeries = (await listSeries(prior.uid)).filter((s) => !NON_IMAGE.has(s.modality));
  const match = priorSeries.find((s) => s.modality === series.modality && s.description === series.description) ||
    priorSeries.find((s) => s.modality === series.modality) || priorSeries[0];
  if (!match) {
    setStatus(`The prior study ${prior.uid} has no image series`, true);
    return;
  }
  setMode('compare');
  await showSeries('prior', match, `prior ${prior.date || ''}: ${seriesLabel(match)}`);
  engine.resize(true, false);
  if (state.preset) {
    applyPreset(state.preset); // both sides in the same window
  }
  state.linkOffset = along(shown.main.series, shown.main.viewport.getCurrentImageIdIndex()) -
    along(shown.prior.series, shown.prior.viewport.getCurrentImageIdIndex());
  state.comparing = prior.uid;
  setStatus(`Comparing with the prior study of ${prior.date || 'unknown date'} (${prior.description || prior.uid})`);
}

// Linked scrolling: the prior follows the current series by position along the slice normal (by slice
// number when either has no positions), keeping the offset between the two slices shown when the
// comparison started.
function along(series, index) {
  const positioned = (x) => x.normal && x.entries.every((e) => e.position && e.position.length === 3);
  const main = shown.main && shown.main.series;
  const prior = shown.prior && shown.prior.series;
  if (main && prior && positioned(main) && positioned(prior)) {
    return dot(series.entries[index].position, series.normal);
  }
  return index;
}

function followPrior() {
  const link = $('#bv-link');
  if (state.mode !== 'compare' || !shown.prior || !shown.main || (link && !link.checked) ||
      state.linkOffset === undefined) {
    return;
  }
  const target = along(shown.main.series, shown.main.viewport.getCurrentImageIdIndex()) - state.linkOffset;
  let best = 0;
  shown.prior.series.entries.forEach((_, k) => {
    if (Math.abs(along(shown.prior.series, k) - target) < Math.abs(along(shown.prior.series, best) - target)) {
      best = k;
    }
  });
  if (best !== shown.prior.viewport.getCurrentImageIdIndex()) {
    shown.prior.viewport.setImageIdIndex(best);
  }
}

// ---------- measurements ----------

function summarize(cachedStats) {
  const first = Object.values(cachedStats || {})[0] || {};
  const out = {};
  for (const [key, value] of Object.entries(first)) {
    if ((typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && value.length < 32)) {
      out[key] = value;
    }
  }
  return out;
}

function recordOf(item) {
  const main = shown.main;
  if (!main || !MEASURE_TOOLS.includes(item.metadata.toolName)) {
    return null;
  }
  const entry = main.series.entries.find((e) => e.imageId === item.metadata.referencedImageId);
  if (!entry) {
    return null;
  }
  return {
    uid: item.annotationUID,
    tool: item.metadata.toolName,
    series_uid: main.series.uid,
    sop_instance_uid: entry.sop,
    frame: entry.frame,
    points: item.data.handles.points.map((p) => Array.from(p)),
    label: item.data.label || '',
    stats: summarize(item.data.cachedStats),
    view: {
      FrameOfReferenceUID: item.metadata.FrameOfReferenceUID || '',
      viewPlaneNormal: item.metadata.viewPlaneNormal ? Array.from(item.metadata.viewPlaneNormal) : null,
      viewUp: item.metadata.viewUp ? Array.from(item.metadata.viewUp) : null,
    },
  };
}

function annotationsChanged(event) {
  if (state.restoring) {
    return;
  }
  const item = event.detail && event.detail.annotation;
  if (!item) {
    return;
  }
  if (event.type === ToolEnums.Events.ANNOTATION_REMOVED) {
    state.records.delete(item.annotationUID);
  } else {
    const record = recordOf(item);
    if (!record) {
      return;
    }
    state.records.set(record.uid, record);
  }
  if (!state.context.can_save) {
    setStatus('Measurements are not saved: saving them to the study needs the operator role');
    return;
  }
  clearTimeout(state.saveTimer);
  state.saveTimer = setTimeout(saveAnnotations, event.type === ToolEnums.Events.ANNOTATION_MODIFIED ? 600 : 50);
}

async function saveAnnotations() {
  // stats are computed when drawn; take them again now
  for (const item of annotation.state.getAllAnnotations()) {
    if (state.records.has(item.annotationUID)) {
      const record = recordOf(item);
      if (record) {
        state.records.set(record.uid, record);
      }
    }
  }
  const body = JSON.stringify({ measurements: [...state.records.values()] });
  const response = await fetch(state.context.annotations_url, {
    method: 'PUT', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body,
  });
  if (!response.ok) {
    setStatus(`Measurements not saved: HTTP ${response.status} ${(await response.text()).slice(0, 200)}`, true);
    return;
  }
  state.saved = state.records.size;
  setStatus(`Saved ${state.records.size} measurement(s) to the study`);
  $('#bv-measurements').textContent = `${state.records.size} measurement(s) saved`;
}

async function loadAnnotations() {
  const saved = await getJSON(state.context.annotations_url);
  for (const record of saved.measurements || []) {
    state.records.set(record.uid, record);
  }
  $('#bv-measurements').textContent = `${state.records.size} measurement(s) saved`;
}

function restoreAnnotations(series, viewport) {
  state.restoring = true;
  try {
    for (const record of state.records.values()) {
      if (record.series_uid !== series.uid || annotation.state.getAnnotation(record.uid)) {
        continue;
      }
      const entry = series.entries.find((e) => e.sop === record.sop_instance_uid && e.frame === (record.frame || 1));
      if (!entry || !MEASURE_TOOLS.includes(record.tool)) {
        continue;
      }
      const zero = [0, 0, 0];
      annotation.state.addAnnotation({
        annotationUID: record.uid,
        highlighted: false, isLocked: false, isVisible: true, invalidated: true,
        metadata: {
          toolName: record.tool, referencedImageId: entry.imageId,
          FrameOfReferenceUID: record.view && record.view.FrameOfReferenceUID,
          viewPlaneNormal: record.view && record.view.viewPlaneNormal,
          viewUp: record.view && record.view.viewUp,
        },
        data: {
          handles: {
            points: record.points, activeHandleIndex: null,
            textBox: { hasMoved: false, worldPosition: zero,
              worldBoundingBox: { topLeft: zero, topRight: zero, bottomLeft: zero, bottomRight: zero } },
          },
          label: record.label || '', cachedStats: {},
        },
      }, viewport.element);
    }
  } finally {
    state.restoring = false;
  }
  viewport.render();
}

// ---------- SEG and SR ----------

async function loadResults(series) {
  const segSources = [];
  const srSources = [];
  for (const s of series.filter((x) => x.modality === 'SEG' || x.modality === 'SR')) {
    const instances = await getJSON(`${state.root}/studies/${s.studyUID}/series/${s.uid}/instances`);
    for (const instance of instances) {
      const sop = text(instance, '00080018');
      const url = `${state.root}/studies/${s.studyUID}/series/${s.uid}/instances/${sop}`;
      (s.modality === 'SEG' ? segSources : srSources).push({ label: s.description || `series ${s.number}`, url });
    }
  }
  for (const source of segSources) {
    try {
      const seg = parseSeg(await retrieveInstance(source.url));
      const referenced = state.series.find((s) => s.entries && s.entries.some((e) => seg.frames.some(
        (f) => f.sopInstanceUID === e.sop)));
      state.segs.push({ label: source.label, seg, visible: true, hidden: new Set(),
        seriesUID: referenced ? referenced.uid : (state.current && state.current.uid) });
    } catch (error) {
      setStatus(`SEG ${source.label}: ${error.message}`, true);
    }
  }
  for (const source of srSources) {
    try {
      const [instance] = await getJSON(`${source.url}/metadata`);
      srFindings(instance).forEach((f) => state.findings.push({ label: f.label, source: source.label, from: 'SR' }));
    } catch (error) {
      setStatus(`SR ${source.label}: ${error.message}`, true);
    }
  }
  if (!srSources.length) {
    for (const f of state.context.findings || []) {
      state.findings.push({ label: `${f.label}${f.severity ? ` (severity ${f.severity})` : ''}`, source: f.method,
        from: 'result' });
    }
  }
  renderResultToggles();
}

function renderResultToggles() {
  const box = $('#bv-results');
  box.replaceChildren();
  state.segs.forEach((s, i) => {
    const input = el('input', { type: 'checkbox', 'data-seg': String(i), checked: s.visible, onchange: (event) => {
      s.visible = event.target.checked;
      redrawOverlay('main');
    } });
    const segments = [...s.seg.segments.values()].map((g) => `${g.label}`).join(', ');
    box.append(el('label', { class: 'bv-toggle' }, [input, ` SEG: ${s.label}${segments ? ` (${segments})` : ''}`]));
  });
  const findings = el('input', { type: 'checkbox', 'data-findings-toggle': '', checked: state.showFindings,
    onchange: (event) => {
      state.showFindings = event.target.checked;
      showFindings('main');
    } });
  box.append(el('label', { class: 'bv-toggle' }, [findings, ` SR / AI findings (${state.findings.length})`]));
  if (shown.main) {
    redrawOverlay('main');
    showFindings('main');
  }
}

// ---------- window/level ----------

function applyPreset(name) {
  const preset = PRESETS[name];
  const range = utilities.windowLevel.toLowHighRange(preset.width, preset.center);
  for (const id of Object.keys(shown)) {
    shown[id].viewport.setProperties({ voiRange: range });
    shown[id].viewport.render();
  }
  if (state.mode === 'mpr') {
    for (const id of ['axial', 'coronal', 'sagittal']) {
      const viewport = engine.getViewport(id);
      viewport.setProperties({ voiRange: range }, state.volumeId);
      viewport.render();
    }
  }
  state.preset = name;
  document.querySelectorAll('[data-preset]').forEach((b) => b.classList.toggle('bv-on', b.dataset.preset === name));
  setStatus(`Window ${name}: W ${preset.width} L ${preset.center}`);
}

// ---------- page ----------

function toolbar() {
  const bar = $('#bv-toolbar');
  const group = (title, buttons) => el('span', { class: 'bv-group', title }, buttons);
  const toolButton = (name, label) => el('button', { type: 'button', 'data-tool': name, text: label,
    onclick: () => choosePrimary(name) });
  bar.append(
    group('Mouse tool (left button); middle button pans, right button zooms, the wheel scrolls', [
      toolButton(WindowLevelTool.toolName, 'W/L'), toolButton(PanTool.toolName, 'Pan'),
      toolButton(ZoomTool.toolName, 'Zoom'), toolButton(LengthTool.toolName, 'Length'),
      toolButton(AngleTool.toolName, 'Angle'), toolButton(RectangleROITool.toolName, 'Rect ROI'),
      toolButton(EllipticalROITool.toolName, 'Ellipse ROI')]),
    group('Window presets', Object.keys(PRESETS).map((name) => el('button', { type: 'button', 'data-preset': name,
      text: name, onclick: () => applyPreset(name) }))),
    group('Layout', [
      el('button', { type: 'button', 'data-mode-button': 'stack', text: 'Stack',
        onclick: () => state.current && stackMode(state.current).catch(fail) }),
      el('button', { type: 'button', 'data-mode-button': 'mpr', text: 'MPR', id: 'bv-mpr',
        onclick: () => mprMode().catch(fail) }),
      priorPicker(),
      el('label', { class: 'bv-muted', title: 'The prior follows the current series when it scrolls' },
        [el('input', { type: 'checkbox', id: 'bv-link', checked: true }), ' link scrolling'])]),
    el('input', { type: 'range', id: 'bv-slider', min: '0', max: '0', value: '0', 'aria-label': 'slice',
      oninput: (event) => shown.main && utilities.jumpToSlice(shown.main.viewport.element,
        { imageIndex: Number(event.target.value) }) }),
    el('span', { id: 'bv-measurements', class: 'bv-muted' }),
  );
}

function priorPicker() {
  const priors = state.priors;
  const select = el('select', { id: 'bv-prior', 'aria-label': 'prior study', disabled: !priors.length,
    title: priors.length ? 'Compare side by side with a prior study of this patient'
      : 'No prior study of this patient on this service',
    onchange: (event) => event.target.value && compareMode(event.target.value).catch(fail) },
  [el('option', { value: '', text: priors.length ? 'Compare with prior…' : 'No prior study' }),
    ...priors.map((p) => el('option', { value: p.uid, text: `${p.date || 'no date'} ${p.modalities} ${p.description}` }))]);
  return select;
}

function thumbnails(series) {
  const box = $('#bv-series');
  box.replaceChildren();
  for (const s of series) {
    const image = !NON_IMAGE.has(s.modality);
    const canvas = el('canvas', { width: '96', height: '96' });
    const button = el('button', { type: 'button', class: 'bv-thumb', 'data-series': s.uid, disabled: !image,
      title: seriesLabel(s), onclick: () => stackMode(s).catch(fail) },
    [canvas, el('span', { text: `${seriesLabel(s)} (${s.count || '?'})` })]);
    box.append(button);
    if (image) {
      loadEntries(s).then((entries) => entries.length && utilities.loadImageToCanvas({
        canvas, imageId: entries[Math.floor(entries.length / 2)].imageId, thumbnail: true,
      })).then(() => button.classList.add('bv-loaded')).catch((error) => setStatus(`thumbnail: ${error.message}`, true));
    }
  }
}

function fail(error) {
  console.error(error);
  setStatus(`Viewer error: ${error.message || error}`, true);
}

async function main() {
  state.started = performance.now();
  const app = $('#bv-app');
  state.context = await getJSON(app.dataset.context);
  state.root = state.context.dicomweb.replace(/\/$/, '');
  await coreInit();
  loaderInit({
    maxWebWorkers: 1,
    beforeSend: () => ({ Accept: `multipart/related; type="application/octet-stream"; transfer-syntax=${UNCOMPRESSED}` }),
  });
  toolsInit();
  makeToolGroups();
  engine = new RenderingEngine(ENGINE);
  state.priors = await listPriors().catch((error) => {
    setStatus(`priors: ${error.message}`, true);
    return [];
  });
  toolbar();
  choosePrimary(WindowLevelTool.toolName);
  [ToolEnums.Events.ANNOTATION_COMPLETED, ToolEnums.Events.ANNOTATION_MODIFIED,
    ToolEnums.Events.ANNOTATION_REMOVED].forEach((name) => eventTarget.addEventListener(name, annotationsChanged));
  new ResizeObserver(() => engine.resize(true, true)).observe($('#bv-viewports'));
  await loadAnnotations();
  state.series = await listSeries(state.context.study.uid);
  const images = state.series.filter((s) => !NON_IMAGE.has(s.modality));
  thumbnails(state.series);
  if (!images.length) {
    setStatus('This study has no DICOM image series to show', true);
    state.ready = true;
    return;
  }
  const largest = images.reduce((a, b) => ((b.count || 0) > (a.count || 0) ? b : a));
  await stackMode(largest);
  await Promise.all(images.map((s) => loadEntries(s).catch(() => null)));
  await loadResults(state.series);
  setStatus(`${seriesLabel(largest)}: ${largest.entries.length} image(s). Wheel or arrow keys scroll.`);
  document.addEventListener('keydown', (event) => {
    if (!shown.main || !['ArrowUp', 'ArrowDown', 'PageUp', 'PageDown'].includes(event.key)) {
      return;
    }
    event.preventDefault();
    const step = event.key === 'ArrowUp' || event.key === 'PageUp' ? -1 : 1;
    utilities.scroll(shown.main.viewport, { delta: step });
  });
  state.ready = true;
}

// read by the browser tests and handy in the console
window.biomedaiViewer = {
  state, shown, PRESETS, applyPreset, choosePrimary, mprMode, compareMode, stackMode,
  annotations: () => annotation.state.getAllAnnotations().map((a) => ({
    uid: a.annotationUID, tool: a.metadata.toolName, stats: summarize(a.data.cachedStats) })),
  engine: () => engine,
};

main().catch((error) => {
  fail(error);
  state.ready = true;
});
