// The supervisor socket's protocol: one JSON line in, one JSON line out. Requests are checked by zod; the caller is
// who SO_PEERCRED says, never what the request says. Nothing in a request is ever run: there is no command field.
import { z } from 'zod';
import { SafeName } from '@egress/core/model/primitives';

/** The supervisor's socket: 0660 root:egress. */
export const SOCKET_PATH = '/run/egress/client.sock';
/** Longest request line accepted (bytes, newline included); longer ones are refused unread. */
export const MAX_REQUEST_BYTES = 4096;

const Pid = z.number({ message: 'expected a process id (a whole number)' }).int({ message: 'expected a whole-number process id' }).min(1, { message: 'expected a process id 1-4194304' }).max(4_194_304, { message: 'expected a process id 1-4194304' });

export const SupervisorRequest = z.discriminatedUnion(
  'op',
  [
    z.object({ op: z.literal('ping') }).strict(),
    /** A launcher's own child, stopped before exec: put it in the egress's cgroup. */
    z.object({ op: z.literal('place'), pid: Pid, egress: SafeName.optional() }).strict(),
    /** A running process (with `tree`, also its descendants). */
    z.object({ op: z.literal('attach'), pid: Pid, egress: SafeName.optional(), tree: z.boolean().optional() }).strict(),
    z.object({ op: z.literal('detach'), pid: Pid, tree: z.boolean().optional() }).strict(),
  ],
  { message: "expected op 'ping', 'place', 'attach' or 'detach'" },
);
export type SupervisorRequest = z.infer<typeof SupervisorRequest>;

export const SupervisorReply = z.union([
  z.object({ ok: z.literal(true), egress: z.string().optional(), cgroup: z.string().optional(), pids: z.array(z.number()).default([]) }).strict(),
  z.object({ ok: z.literal(false), error: z.string() }).strict(),
]);
export type SupervisorReply = z.infer<typeof SupervisorReply>;

/** Parses one request line; returns the request or the reason it is refused (names the field, the value, what is allowed). */
export function parseRequest(line: string): { ok: true; request: SupervisorRequest } | { ok: false; error: string } {
  if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) return { ok: false, error: `request too large (${Buffer.byteLength(line)} bytes; at most ${MAX_REQUEST_BYTES})` };
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { ok: false, error: 'request is not JSON (expected one JSON object per line)' };
  }
  const r = SupervisorRequest.safeParse(json);
  if (r.success) return { ok: true, request: r.data };
  const i = r.error.issues[0]!;
  const path = i.path.join('.') || 'request';
  let got: unknown = json;
  for (const k of i.path) got = got && typeof got === 'object' ? (got as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined;
  const shown = JSON.stringify(got) ?? 'nothing';
  return { ok: false, error: `${path}: ${i.message}, got ${shown.length > 60 ? `${shown.slice(0, 60)}…` : shown}` };
}
