// Detects a suspend/resume (or a wall-clock jump): the wall clock moved much more than the monotonic clock.
export interface ResumeDetector {
  stop(): void;
}

/** Checks every `intervalMs`; calls `onResume(gapMs)` when wall time advanced more than `slackMs` beyond monotonic time. */
export function watchResume(onResume: (gapMs: number) => void, intervalMs = 5000, slackMs = 3000): ResumeDetector {
  let wall = Date.now();
  let mono = performance.now();
  const timer = setInterval(() => {
    const w = Date.now();
    const m = performance.now();
    const gap = w - wall - (m - mono);
    wall = w;
    mono = m;
    if (Math.abs(gap) > slackMs) onResume(gap);
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
