// The environment that makes a program load the shim and bind to an egress.

/** The egress facts the shim needs (a subset of PublicEgressFacts). */
export interface ShimTarget {
  interface: string;
  address4?: string | undefined;
  address6?: string | undefined;
  /** Resolvers the shim's getaddrinfo asks through the egress. */
  dns?: readonly string[] | undefined;
  /** Let the shim's exec hooks start programs it cannot cover (exec --allow-uncovered): EGRESS_ALLOW_UNCOVERED=1. */
  allowUncovered?: boolean | undefined;
}

/**
 * Environment variables the shim reads. EGRESS_CGROUP is set by the launcher only once the supervisor placed the app
 * in the egress's cgroup (the exec guard then lets uncovered programs start: the kernel selects them); a stale one
 * from the caller's environment is dropped.
 */
export const SHIM_ENV_KEYS = ['EGRESS_BIND_V4', 'EGRESS_BIND_V6', 'EGRESS_BIND_IFACE', 'EGRESS_DNS', 'EGRESS_ALLOW_UNCOVERED', 'EGRESS_CGROUP'] as const;

/** A copy of `env` with the shim first in LD_PRELOAD and the egress's bind variables set (stale ones removed). */
export function shimEnv(shimPath: string, target: ShimTarget, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (!shimPath.startsWith('/') || /[\s:]/.test(shimPath)) {
    throw new Error(`shim path must be absolute and free of spaces and ':' (LD_PRELOAD separators), got '${shimPath}'`);
  }
  const out: NodeJS.ProcessEnv = { ...env };
  const others = (env.LD_PRELOAD ?? '')
    .split(/[\s:]+/)
    .filter((entry) => entry !== '' && entry !== shimPath);
  out.LD_PRELOAD = [shimPath, ...others].join(':');
  for (const key of SHIM_ENV_KEYS) delete out[key];
  if (target.address4) out.EGRESS_BIND_V4 = target.address4;
  if (target.address6) out.EGRESS_BIND_V6 = target.address6;
  out.EGRESS_BIND_IFACE = target.interface;
  if (target.dns && target.dns.length > 0) out.EGRESS_DNS = target.dns.join(',');
  if (target.allowUncovered) out.EGRESS_ALLOW_UNCOVERED = '1';
  return out;
}
