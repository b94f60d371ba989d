/**
 * Qimera's superposed class embeddings: label batches (plain or superposed, with soft
 * targets), the class-embedding table, the embedding normaliser, and the generator
 * input they make together; plus the seeded random source the method uses.
 * @packageDocumentation
 */
export { ClassEmbedding } from './embedding.js';
export { type LabelBatch, type LabelSamplerOptions, sampleLabels, sliceLabels } from './labels.js';
export { type LatentOptions, superposedLatent } from './latent.js';
export { type EmbeddingNormalization, normalizeEmbeddings } from './normalize.js';
export { SeededRandom } from './random.js';
