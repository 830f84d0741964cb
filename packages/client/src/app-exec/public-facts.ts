// Reads the public facts of an egress (the 0644 file under /etc/egress/public), the only state `exec` may read.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLIENT_PATHS } from '@egress/core/render/client-paths';
import { NotFoundError, ValidationError } from '@egress/core/errors';
import { PublicEgressFacts } from '@egress/core/model/client';
import { SafeName } from '@egress/core/model/primitives';
import { parseJsonWith } from '@egress/core/model/parse';

/** Picks the egress to use and returns its public facts: the named one, or the only one there is. */
export async function readPublicFacts(egress: string | undefined, dir: string = CLIENT_PATHS.publicDir): Promise<PublicEgressFacts> {
  if (egress !== undefined) {
    const named = SafeName.safeParse(egress);
    if (!named.success) {
      throw new ValidationError(`--egress: expected a name of 1-32 lowercase letters, digits, '_' or '-', got '${egress}'`, [{ path: 'egress', message: 'invalid name' }]);
    }
  }
  const names = await listEgresses(dir);
  if (names.length === 0) {
    throw new NotFoundError(`no egress is enrolled on this host (nothing in ${dir})`, { hint: 'enroll one first: sudo egress-client enroll BUNDLE --user NAME' });
  }
  let name = egress;
  if (name === undefined) {
    if (names.length > 1) {
      throw new ValidationError(`--egress: several egresses are enrolled (${names.join(', ')}); choose one`, [{ path: 'egress', message: 'required when several egresses exist' }], {
        hint: `e.g. egress-client exec --egress ${names[0]} -- CMD`,
      });
    }
    name = names[0]!;
  } else if (!names.includes(name)) {
    throw new NotFoundError(`--egress: no egress named '${name}' (enrolled: ${names.join(', ')})`);
  }
  const path = join(dir, `${name}.json`);
  const text = await readFile(path, 'utf8');
  return parseJsonWith(PublicEgressFacts, text, path);
}

/** Names of the egresses that have a public facts file, sorted. */
export async function listEgresses(dir: string = CLIENT_PATHS.publicDir): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .filter((n) => SafeName.safeParse(n).success)
    .sort();
}
