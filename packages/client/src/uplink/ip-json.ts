// zod schemas for the JSON `ip -j addr` prints (routes and rules use the engine's schemas), so nothing unparsed crosses into the uplink logic.
import { InternalError } from '@egress/core/errors';
import { z } from 'zod';

/** One address of a link in `ip -j addr show`. */
export const IpAddrInfo = z
  .object({
    family: z.string(),
    local: z.string(),
    prefixlen: z.number().int().min(0).max(128),
    scope: z.string().optional(),
    /** Set on a point-to-point address (`peer`). */
    address: z.string().optional(),
    tentative: z.boolean().optional(),
    deprecated: z.boolean().optional(),
    dadfailed: z.boolean().optional(),
    dynamic: z.boolean().optional(),
  })
  .passthrough();
export type IpAddrInfo = z.infer<typeof IpAddrInfo>;

/** One link in `ip -j addr show`. */
export const IpLink = z
  .object({
    ifindex: z.number().int().min(1),
    ifname: z.string(),
    flags: z.array(z.string()).default([]),
    operstate: z.string().optional(),
    link_type: z.string().optional(),
    addr_info: z.array(IpAddrInfo).default([]),
  })
  .passthrough();
export type IpLink = z.infer<typeof IpLink>;

/** Parses the stdout of an `ip -j …` command with `schema`; a parse failure is a bug or an unexpected iproute2, not user input. */
export function parseIpJson<S extends z.ZodType>(schema: S, stdout: string, argv: readonly string[]): z.infer<S> {
  let data: unknown;
  try {
    data = JSON.parse(stdout.trim() === '' ? '[]' : stdout);
  } catch (err) {
    throw new InternalError(`'${argv.join(' ')}' printed text that is not JSON`, { cause: err });
  }
  const result = schema.safeParse(data);
  if (!result.success) throw new InternalError(`'${argv.join(' ')}' printed JSON of an unexpected shape: ${result.error.issues[0]?.message ?? ''}`);
  return result.data;
}
