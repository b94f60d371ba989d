import { dispose, type Tensor } from '@tensorflow/tfjs-core';

/** A batch being synthesized, and how to stop it. */
interface Part {
  images: Promise<Tensor>;
  stop: AbortController;
  started: number;
  count: number;
  done: boolean;
  /** Started before the time per image was known, and found to end too late: stopped and left out. */
  dropped: boolean;
}

/**
 * Images `[0, total)` in parts, in order: the first `first` in one call, then batches of
 * `batchSize`, as many at once as there are `threads`. A batch starts only while it is
 * expected to end before `end` at the first call's time per image; one that a free
 * thread starts before that time is known is stopped and left out if it turns out to
 * end later (none starts once `end` has passed). None starts after `signal` aborts.
 * @returns the parts (the caller disposes them); on an error none is left undisposed.
 */
export async function synthesizeBefore(
  threads: number,
  synthesize: (from: number, to: number, signal: AbortSignal) => Promise<Tensor>,
  plan: { first: number; total: number; batchSize: number; end: number; signal: AbortSignal | undefined },
): Promise<Tensor[]> {
  const timing = { msPerImage: null as number | null, failed: false };
  const parts: Part[] = [];
  // Settle-only copies of the running parts, to wait for a free thread without throwing.
  const running = new Set<Promise<void>>();
  const launch = (from: number, to: number) => {
    const stop = new AbortController();
    const signal = plan.signal ? AbortSignal.any([plan.signal, stop.signal]) : stop.signal;
    const part: Part = {
      images: synthesize(from, to, signal),
      stop,
      started: Date.now(),
      count: to - from,
      done: false,
      dropped: false,
    };
    parts.push(part);
    const settled: Promise<void> = part.images.then(
      () => {
        part.done = true;
        if (part === parts[0]) timeBy(part);
        running.delete(settled);
      },
      () => {
        // The others stop between steps: the failure is reported without waiting them out.
        timing.failed = true;
        for (const other of parts) other.stop.abort();
        running.delete(settled);
      },
    );
    running.add(settled);
  };
  // The first part's time per image on one thread (a first part of several batches ran on
  // as many threads as it had batches); batches started meanwhile that cannot end by `end` stop.
  const timeBy = (first: Part) => {
    const threadsUsed = Math.min(threads, Math.ceil(first.count / plan.batchSize));
    const msPerImage = ((Date.now() - first.started) * threadsUsed) / first.count;
    timing.msPerImage = msPerImage;
    for (const part of parts.slice(1)) {
      if (!part.done && part.started + part.count * msPerImage > plan.end) {
        part.dropped = true;
        part.stop.abort();
      }
    }
  };
  launch(0, plan.first);
  for (let from = plan.first; from < plan.total; from += plan.batchSize) {
    const to = Math.min(plan.total, from + plan.batchSize);
    while (!timing.failed && running.size >= threads) await Promise.race(running);
    if (timing.failed || plan.signal?.aborted) break;
    if (Date.now() + (to - from) * (timing.msPerImage ?? 0) >= plan.end) break;
    launch(from, to);
  }
  const outcomes = await Promise.allSettled(parts.map((part) => part.images));
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  const made = outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : null));
  const kept = made.filter((images, i): images is Tensor => images !== null && !parts[i]?.dropped);
  dispose(made.filter((images, i): images is Tensor => images !== null && parts[i]?.dropped === true));
  if (failure) {
    dispose(kept);
    throw failure.reason;
  }
  return kept;
}
