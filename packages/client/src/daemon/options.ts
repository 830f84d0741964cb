// The daemon's flags, checked with zod so a bad value is refused naming the flag, the value and what is allowed.
import { z } from 'zod';
import { ValidationError } from '@egress/core/errors';

const Ms = (min: number, max: number) =>
  z.coerce
    .number({ message: 'expected a number of milliseconds' })
    .int('expected an integer number of milliseconds')
    .min(min, `expected at least ${min} ms`)
    .max(max, `expected at most ${max} ms`);

export const DaemonOptions = z
  .object({
    debounceMs: Ms(0, 5000).default(20),
    healthIntervalMs: Ms(1000, 3_600_000).default(10_000),
    backstopMs: Ms(1000, 86_400_000).default(60_000),
    staleAfter: z.coerce
      .number({ message: 'expected a number of seconds' })
      .int('expected whole seconds')
      .min(10, 'expected at least 10 s')
      .max(86_400, 'expected at most 86400 s')
      .default(180),
  })
  .strict();
export type DaemonOptions = z.infer<typeof DaemonOptions>;

const FLAG: Record<string, string> = { debounceMs: '--debounce-ms', healthIntervalMs: '--health-interval-ms', backstopMs: '--backstop-ms', staleAfter: '--stale-after' };

/** Parses the command's options, or throws a ValidationError naming the flag and the value. */
export function parseDaemonOptions(raw: Record<string, unknown>): DaemonOptions {
  const r = DaemonOptions.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const key = String(i.path[0] ?? '');
    const flag = FLAG[key] ?? key;
    return { path: flag, message: `${flag}: ${i.message}, got '${String(raw[key])}'` };
  });
  throw new ValidationError(`daemon: ${issues.map((i) => i.message).join('; ')}`, issues);
}
