import * as datasets from '@qimera/datasets';
import * as disentangle from '@qimera/disentangle';
import * as distill from '@qimera/distill';
import * as generator from '@qimera/generator';
import * as nodeIo from '@qimera/node-io';
import * as quantizers from '@qimera/quantizers';
import * as superposition from '@qimera/superposition';
import * as wasmTraining from '@qimera/wasm-training';
import * as umbrella from 'qimera';
import * as umbrellaNode from 'qimera/node';
import { describe, expect, it } from 'vitest';

describe('qimera umbrella', () => {
  it('re-exports every part under the same identity', () => {
    for (const part of [quantizers, datasets, generator, superposition, disentangle, distill, wasmTraining]) {
      for (const [name, value] of Object.entries(part)) expect(umbrella[name as keyof typeof umbrella]).toBe(value);
    }
    for (const [name, value] of Object.entries(nodeIo))
      expect(umbrellaNode[name as keyof typeof umbrellaNode]).toBe(value);
    expect(typeof umbrella.quantizeDataFree).toBe('function');
  });
});
