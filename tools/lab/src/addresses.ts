// The lab's fixed addresses and links (documented with a drawing in tools/lab/README.md).

export type LabHostName = 'internet' | 'vps' | 'client';

/** Every host of a lab, in start order. */
export const LAB_HOSTS: readonly LabHostName[] = ['internet', 'vps', 'client'];

/** Addresses tests can rely on; all from the documentation ranges. */
export const LAB_ADDR = {
  clientV4: '192.0.2.2',
  clientV6: '2001:db8:2::2',
  clientGwV4: '192.0.2.1',
  clientGwV6: '2001:db8:2::1',
  clientWlanV4: '192.0.2.130',
  clientWlanV6: '2001:db8:3::2',
  clientWlanGwV4: '192.0.2.129',
  clientWlanGwV6: '2001:db8:3::1',
  vpsV4: '198.51.100.2',
  vpsV6: '2001:db8:100::2',
  vpsGwV4: '198.51.100.1',
  vpsGwV6: '2001:db8:100::1',
  internetV4: '203.0.113.1',
  internetV6: '2001:db8:113::1',
  whoamiV4: '203.0.113.10',
  whoamiV6: '2001:db8:113::10',
  whoamiPort: 8000,
  dnsV4: '203.0.113.53',
  dnsV6: '2001:db8:113::53',
} as const;

export type LabAddresses = typeof LAB_ADDR;

/** The DNS test zone the `internet` host answers. */
export const LAB_ZONE = 'egress.test';

/** Records of the test zone (name -> type -> values); `asker.egress.test TXT` answers the asker's address. */
export const LAB_ZONE_RECORDS: Record<string, Record<string, string[]>> = {
  [`whoami.${LAB_ZONE}`]: { A: [LAB_ADDR.whoamiV4], AAAA: [LAB_ADDR.whoamiV6] },
  [`dns.${LAB_ZONE}`]: { A: [LAB_ADDR.dnsV4], AAAA: [LAB_ADDR.dnsV6] },
  [`vps.${LAB_ZONE}`]: { A: [LAB_ADDR.vpsV4], AAAA: [LAB_ADDR.vpsV6] },
  [`client.${LAB_ZONE}`]: { A: [LAB_ADDR.clientV4], AAAA: [LAB_ADDR.clientV6] },
  [`v4only.${LAB_ZONE}`]: { A: [LAB_ADDR.whoamiV4] },
};

/** One veth link: `inetSide` lives in `internet`, `hostSide` in `host`. */
export interface LabLink {
  host: LabHostName;
  inetSide: string;
  hostSide: string;
  inetAddrs: string[];
  hostAddrs: string[];
  /** Default routes the host gets over this link (gateway, metric). */
  defaults: Array<{ via: string; metric: number }>;
}

/** The three links of the lab: vps uplink, client main uplink, client second ISP (`wlan0`). */
export const LAB_LINKS: readonly LabLink[] = [
  {
    host: 'vps', inetSide: 'to-vps', hostSide: 'eth0',
    inetAddrs: [`${LAB_ADDR.vpsGwV4}/24`, `${LAB_ADDR.vpsGwV6}/64`],
    hostAddrs: [`${LAB_ADDR.vpsV4}/24`, `${LAB_ADDR.vpsV6}/64`],
    defaults: [{ via: LAB_ADDR.vpsGwV4, metric: 100 }, { via: LAB_ADDR.vpsGwV6, metric: 100 }],
  },
  {
    host: 'client', inetSide: 'to-client', hostSide: 'eth0',
    inetAddrs: [`${LAB_ADDR.clientGwV4}/25`, `${LAB_ADDR.clientGwV6}/64`],
    hostAddrs: [`${LAB_ADDR.clientV4}/25`, `${LAB_ADDR.clientV6}/64`],
    defaults: [{ via: LAB_ADDR.clientGwV4, metric: 100 }, { via: LAB_ADDR.clientGwV6, metric: 100 }],
  },
  {
    host: 'client', inetSide: 'to-wlan', hostSide: 'wlan0',
    inetAddrs: [`${LAB_ADDR.clientWlanGwV4}/25`, `${LAB_ADDR.clientWlanGwV6}/64`],
    hostAddrs: [`${LAB_ADDR.clientWlanV4}/25`, `${LAB_ADDR.clientWlanV6}/64`],
    defaults: [{ via: LAB_ADDR.clientWlanGwV4, metric: 600 }, { via: LAB_ADDR.clientWlanGwV6, metric: 600 }],
  },
];

/** Addresses the `internet` host carries on its loopback (services live there). */
export const INTERNET_SERVICE_ADDRS: readonly string[] = [
  `${LAB_ADDR.internetV4}/32`, `${LAB_ADDR.whoamiV4}/32`, `${LAB_ADDR.dnsV4}/32`,
  `${LAB_ADDR.internetV6}/128`, `${LAB_ADDR.whoamiV6}/128`, `${LAB_ADDR.dnsV6}/128`,
];

/** Users that exist only in the client host's /etc view. */
export const LAB_USERS = { app: 'appuser', other: 'otheruser' } as const;
