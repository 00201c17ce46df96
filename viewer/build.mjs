// Bundles the viewer into src/biomedai/web/static/viewer/ (run by `make viewer`; nothing is fetched
// at run time). The image decoders of compressed transfer syntaxes (WebAssembly codecs, ~3 MB) are
// left out unless CODECS=1: the viewer asks WADO-RS for uncompressed frames, which the server
// transcodes to.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'biomedai', 'web', 'static', 'viewer');
const withCodecs = process.env.CODECS === '1';

const stubCodecs = {
  name: 'stub-codecs',
  setup(b) {
    if (withCodecs) {
      return;
    }
    b.onResolve({ filter: /^@cornerstonejs\/codec-/ }, (args) => ({ path: args.path, namespace: 'stub-codec' }));
    b.onLoad({ filter: /.*/, namespace: 'stub-codec' }, (args) => ({
      contents: `export default function () { return Promise.reject(new Error(${JSON.stringify(
        `${args.path}: compressed frames are not decoded in this build; the viewer asks the server for uncompressed ones`)})); }`,
      loader: 'js',
    }));
  },
};

// vtk.js's XML mesh readers/writers (not used by the viewer) pull in a Node-only XML builder
const stubXml = {
  name: 'stub-xmlbuilder2',
  setup(b) {
    b.onResolve({ filter: /^xmlbuilder2$/ }, (args) => ({ path: args.path, namespace: 'stub-xml' }));
    b.onLoad({ filter: /.*/, namespace: 'stub-xml' }, () => ({
      contents: 'export function create() { throw new Error("VTK XML files are not supported in this build"); }',
      loader: 'js',
    }));
  },
};

// Cornerstone's packages declare "sideEffects": false, but esbuild reads the flag from the nearest
// package.json, which for their dist/esm files is one that only says "type": "module"; without this,
// every tool and loader of the libraries would be bundled whether used or not.
const sideEffectFree = {
  name: 'cornerstone-side-effect-free',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData && args.pluginData.again) {
        return undefined;
      }
      if (!/@cornerstonejs/.test(args.importer) && !/^@cornerstonejs\//.test(args.path)) {
        return undefined;
      }
      const resolved = await b.resolve(args.path, {
        kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { again: true },
      });
      if (resolved.errors.length || resolved.namespace !== 'file') {
        return resolved.errors.length ? { errors: resolved.errors } : undefined;
      }
      const ours = /node_modules\/@cornerstonejs\/(core|tools|dicom-image-loader|metadata|utils)\/dist\/esm\//;
      return { path: resolved.path, sideEffects: ours.test(resolved.path) ? false : resolved.sideEffects };
    });
  },
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const common = {
  bundle: true, format: 'esm', minify: true, target: 'es2020', legalComments: 'none', logLevel: 'warning',
  plugins: [stubCodecs, stubXml, sideEffectFree], define: { 'process.env.NODE_ENV': '"production"' },
};
const inputs = new Set();
const keep = (result) => Object.keys(result.metafile.inputs).forEach((f) => inputs.add(f));
const main = await build({ ...common, entryPoints: { viewer: join(here, 'src', 'main.js') }, outdir: out, metafile: true });
writeFileSync(join(here, 'meta.json'), JSON.stringify(main.metafile));
keep(main);
keep(await build({
  ...common,
  metafile: true,
  entryPoints: { decodeImageFrameWorker: join(here, 'node_modules', '@cornerstonejs', 'dicom-image-loader', 'dist',
    'esm', 'decodeImageFrameWorker.js') },
  outdir: out,
}));
await build({ ...common, entryPoints: { viewer: join(here, 'src', 'viewer.css') }, outdir: out });

// the licence of every package bundled (all MIT, BSD or Apache; their notices must travel with the code)
const packages = new Map();
for (const input of inputs) {
  const match = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (match && !packages.has(match[1])) {
    const dir = join(here, 'node_modules', match[1]);
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((n) => /^(licen[cs]e|copying)/i.test(n));
    packages.set(match[1], `${match[1]} ${meta.version} (${meta.license || 'see below'})\n` +
      (file ? readFileSync(join(dir, file), 'utf8').trim() : `no licence file in the package; package.json says ${meta.license}`));
  }
}
writeFileSync(join(out, 'THIRD-PARTY-LICENSES.txt'), 'The viewer bundle (viewer.js, decodeImageFrameWorker.js) contains these packages.\n\n' +
  [...packages.keys()].sort().map((k) => packages.get(k)).join('\n\n' + '-'.repeat(72) + '\n\n') + '\n');
for (const name of readdirSync(out)) {
  console.log(`${name}\t${statSync(join(out, name)).size} bytes`);
}
