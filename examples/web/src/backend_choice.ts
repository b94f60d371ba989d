import { useFastestBackend } from 'qimera';
import type { PageBackend } from './protocol.js';

/**
 * Starts the backend the page asked for. 'auto' takes WebGPU, then WebGL, then wasm,
 * passing over a GPU backend that runs on a software renderer (SwiftShader, llvmpipe, a
 * fallback adapter): there training runs about 20 times slower than on wasm (8 s against
 * 0.35 s per MNIST iteration here). Reports skipped backends through `log`.
 */
export async function startBackend(choice: PageBackend, log: (text: string) => void): Promise<string> {
  if (choice !== 'auto') return useFastestBackend({ prefer: choice });
  for (const name of ['webgpu', 'webgl'] as const) {
    const software = await softwareRenderer(name);
    if (software === undefined) {
      log(`auto: no ${name} here`);
      continue;
    }
    if (software) {
      log(`auto: not ${name}, which runs on a software renderer here (${software})`);
      continue;
    }
    try {
      return await useFastestBackend({ prefer: name });
    } catch (error) {
      log(`auto: ${name} did not start (${(error as Error).message})`);
    }
  }
  return useFastestBackend({ prefer: 'wasm' });
}

/** The software renderer behind a GPU backend, '' for hardware, undefined when the API is absent. */
async function softwareRenderer(name: 'webgpu' | 'webgl'): Promise<string | undefined> {
  if (name === 'webgpu') {
    if (!('gpu' in navigator)) return undefined;
    const adapter = (await navigator.gpu.requestAdapter()) as FallbackFlags | null;
    if (!adapter) return undefined;
    return adapter.info?.isFallbackAdapter || adapter.isFallbackAdapter ? 'a fallback adapter' : '';
  }
  if (typeof OffscreenCanvas === 'undefined') return undefined;
  const context = new OffscreenCanvas(1, 1).getContext('webgl2');
  if (!context) return undefined;
  const info = context.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(
    info ? context.getParameter(info.UNMASKED_RENDERER_WEBGL) : context.getParameter(context.RENDERER),
  );
  return /swiftshader|llvmpipe|software/i.test(renderer) ? renderer : '';
}

/** Where WebGPU adapters say they are software (moved from the adapter to its info in 2024). */
interface FallbackFlags {
  isFallbackAdapter?: boolean;
  info?: { isFallbackAdapter?: boolean };
}
