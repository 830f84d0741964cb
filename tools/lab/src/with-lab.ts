// The vitest helper: runs a test body against a fresh lab and always tears it down.
import type { Lab } from './lab.js';
import { startLab, type StartLabOptions } from './start.js';

/** Starts a lab, runs `fn`, and removes the lab afterwards: on success, on failure, and when vitest times the test out. */
export async function withLab<T>(options: StartLabOptions, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const starting = startLab(options);
  // Registered before the lab is up, so a timeout that hits while it starts still removes it once started.
  await tearDownWhenTestEnds(() => starting.then((lab) => lab.down(), () => {}));
  const lab = await starting;
  try {
    return await fn(lab);
  } finally {
    await lab.down();
  }
}

// A timed-out test leaves `fn` running; vitest still runs onTestFinished hooks, so the lab goes there too.
async function tearDownWhenTestEnds(down: () => Promise<void>): Promise<void> {
  try {
    const vitest = await import('vitest');
    vitest.onTestFinished(down);
  } catch {
    /* not inside a vitest test (e.g. beforeAll or a plain script): the finally block and the exit handler cover it */
  }
}
