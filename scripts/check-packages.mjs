// Checks the packages as users get them (run after `pnpm run build`):
//   1. every package.json carries the metadata npm shows and the same version;
//   2. every module a package's dist imports is listed in its dependencies or peers;
//   3. `pnpm pack` tarballs hold dist, README.md, LICENSE (and CHANGELOG.md) and nothing else;
//   4. arethetypeswrong passes with the ESM-only profile (the packages are ESM only);
//   5. the tarballs install into a fresh npm project outside the workspace, where Node
//      imports and requires them, the CLI starts, importing qimera leaves tfjs's backend
//      alone, and every package with a browser path bundles for browsers with esbuild
//      and with Vite, nothing marked external.
// Prints one line per check and exits non-zero when any fails.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build as esbuild } from 'esbuild';
import { build as viteBuild } from 'vite';

const root = fileURLToPath(new URL('..', import.meta.url));
const NODE_ONLY = new Set(['@qimera/node-io']); // its whole job is the file system
const REQUIRED_FIELDS = ['description', 'keywords', 'homepage', 'bugs', 'repository', 'license', 'engines', 'exports'];

const failures = [];
function check(name, run) {
  try {
    const detail = run();
    console.log(`ok    ${name}${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    failures.push(name);
    console.log(`FAIL  ${name}: ${error.message}`);
  }
}
async function checkAsync(name, run) {
  try {
    const detail = await run();
    console.log(`ok    ${name}${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    failures.push(name);
    console.log(`FAIL  ${name}: ${error.message}`);
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}
const run = (command, args, cwd) => execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe' });
// The pnpm running this script (`pnpm run check:packages`: a binary, or a script in
// older releases), else the one on PATH.
function pnpm(args, cwd) {
  const self = process.env.npm_execpath ?? '';
  if (!self.includes('pnpm')) return run('pnpm', args, cwd);
  return /\.[cm]?js$/.test(self) ? run(process.execPath, [self, ...args], cwd) : run(self, args, cwd);
}

const packages = readdirSync(join(root, 'packages')).map((dir) => {
  const path = join(root, 'packages', dir);
  return { dir, path, json: JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) };
});
const rootRepository = 'git+https://github.com/qimera-js/qimera.git';

for (const { dir, json } of packages) {
  check(`${json.name}: package.json metadata`, () => {
    const missing = REQUIRED_FIELDS.filter((field) => json[field] === undefined);
    assert(missing.length === 0, `missing ${missing.join(', ')}`);
    assert(json.license === 'Apache-2.0', `license is ${json.license}`);
    assert(json.repository.url === rootRepository, `repository.url is ${json.repository.url}`);
    assert(json.repository.directory === `packages/${dir}`, `repository.directory is ${json.repository.directory}`);
    assert(json.publishConfig?.access === 'public', 'publishConfig.access is not "public"');
    assert(
      json.version === packages[0].json.version,
      `version ${json.version} differs from ${packages[0].json.version}`,
    );
    for (const [subpath, target] of Object.entries(json.exports)) {
      if (subpath === './package.json') continue;
      assert(target.types && target.default, `exports["${subpath}"] needs "types" and "default"`);
    }
    const optional = json.peerDependenciesMeta ?? {};
    for (const peer of Object.keys(json.peerDependencies ?? {})) {
      const backend = /tfjs-(backend-|node)/.test(peer);
      assert(backend === (optional[peer]?.optional === true), `peer ${peer} must be optional exactly when a backend`);
    }
  });
}

/** Bare package names a module imports, statically or by a literal dynamic import. */
function importedPackages(code) {
  const names = new Set();
  const patterns = [
    /^\s*(?:import|export)\b[^'"]*?\bfrom\s*["']([^"']+)["']/gm, // import x from 'm', export * from 'm'
    /^\s*import\s*["']([^"']+)["']/gm, // import 'm'
    /\bimport\(\s*["']([^"']+)["']\s*\)/g, // import('m')
  ];
  for (const [, specifier] of patterns.flatMap((pattern) => [...code.matchAll(pattern)])) {
    if (specifier.startsWith('.') || specifier.startsWith('#') || specifier.startsWith('node:')) continue;
    const parts = specifier.split('/');
    names.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
  }
  return names;
}
const jsFiles = (dir) =>
  readdirSync(dir, { recursive: true })
    .filter((file) => file.endsWith('.js'))
    .map((file) => join(dir, file));

for (const { path, json } of packages) {
  check(`${json.name}: lists every package its dist imports`, () => {
    const listed = new Set([...Object.keys(json.dependencies ?? {}), ...Object.keys(json.peerDependencies ?? {})]);
    const unlisted = new Set();
    for (const file of jsFiles(join(path, 'dist'))) {
      for (const name of importedPackages(readFileSync(file, 'utf8'))) if (!listed.has(name)) unlisted.add(name);
    }
    assert(unlisted.size === 0, `not in dependencies or peers: ${[...unlisted].join(', ')}`);
  });
}

const work = mkdtempSync(join(tmpdir(), 'qimera-packages-'));
try {
  const packs = join(work, 'packs');
  pnpm(['-r', '--filter', './packages/*', 'pack', '--pack-destination', packs], root);
  const tarballs = Object.fromEntries(
    packages.map(({ json }) => [
      json.name,
      join(packs, `${json.name.replace('@', '').replace('/', '-')}-${json.version}.tgz`),
    ]),
  );
  for (const [name, tarball] of Object.entries(tarballs)) {
    check(`${name}: tarball contents`, () => {
      const files = run('tar', ['-tzf', tarball]).trim().split('\n');
      for (const needed of ['package/LICENSE', 'package/README.md', 'package/package.json', 'package/dist/index.js']) {
        assert(files.includes(needed), `${needed} is missing`);
      }
      const stray = files.filter(
        (f) => !/^package\/(dist\/|LICENSE$|README\.md$|CHANGELOG\.md$|package\.json$)/.test(f),
      );
      assert(stray.length === 0, `unexpected files: ${stray.join(', ')}`);
      const license = run('tar', ['-xzOf', tarball, 'package/LICENSE']);
      assert(license === readFileSync(join(root, 'LICENSE'), 'utf8'), 'LICENSE differs from the repository LICENSE');
      return `${files.length} files`;
    });
    check(`${name}: arethetypeswrong (esm-only profile)`, () => {
      run(join(root, 'node_modules/.bin/attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii'], root);
    });
  }

  // A user's project: npm, the tarballs, and tfjs as the README says.
  const project = join(work, 'project');
  run('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
  run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', ...Object.values(tarballs), '@tensorflow/tfjs@4.22.0'],
    project,
  );

  check('Node: import, require and a quantization with the user backend kept', () => {
    const script = `
      import * as tf from '@tensorflow/tfjs';
      import { quantizeDataFree } from 'qimera';
      await tf.setBackend('cpu');
      if (tf.findBackendFactory('wasm')) throw new Error('importing qimera registered the wasm backend');
      const net = tf.sequential({ layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, activation: 'relu' }),
        tf.layers.flatten(), tf.layers.dense({ units: 3 }) ] });
      const { model } = await quantizeDataFree(net, { weightBits: 8, activationBits: 8, method: 'minmax', backend: 'current' });
      console.log(tf.getBackend(), model.predict(tf.zeros([1, 8, 8, 3])).shape.join('x'));`;
    const out = run(process.execPath, ['--input-type=module', '-e', script], project).trim();
    assert(out.endsWith('cpu 1x3'), `printed ${out}`);
    const required = run(process.execPath, ['-e', "console.log(typeof require('qimera').quantizeDataFree)"], project);
    assert(required.trim() === 'function', `require('qimera') gave ${required}`);
  });

  check('CLI: qimera --help from the installed package', () => {
    const help = run(join(project, 'node_modules/.bin/qimera'), ['--help'], project);
    assert(help.startsWith('qimera: data-free quantization'), help.slice(0, 80));
  });

  const browserPackages = packages.map(({ json }) => json.name).filter((name) => !NODE_ONLY.has(name));
  for (const name of browserPackages) {
    await checkAsync(`${name}: esbuild browser bundle`, async () => {
      const result = await esbuild({
        stdin: { contents: `export * from '${name}';`, resolveDir: project, loader: 'js' },
        bundle: true,
        platform: 'browser',
        format: 'esm',
        write: false,
        logLevel: 'silent',
      });
      const code = result.outputFiles[0].text;
      assert(!/(?:from|import\(|require\()\s*["']node:/.test(code), 'the bundle imports node: built-ins');
      return `${(code.length / 1024).toFixed(0)} KiB`;
    });
  }

  await checkAsync('Vite browser build of every browser package', async () => {
    const entry = join(project, 'entry.js');
    writeFileSync(entry, browserPackages.map((name, i) => `export * as p${i} from '${name}';`).join('\n'));
    const output = await viteBuild({
      root: project,
      configFile: false,
      logLevel: 'silent',
      build: { lib: { entry, formats: ['es'], fileName: 'entry' }, write: false, minify: false },
    });
    const code = [output]
      .flat()[0]
      .output.map((chunk) => chunk.code ?? '')
      .join('\n');
    assert(!/(?:from|import\(|require\()\s*["']node:/.test(code), 'the bundle imports node: built-ins');
    return `${(code.length / 1024).toFixed(0)} KiB`;
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.log(failures.length === 0 ? 'all package checks passed' : `${failures.length} package checks failed`);
process.exitCode = failures.length === 0 ? 0 : 1;
