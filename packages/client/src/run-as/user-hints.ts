// run-as's USER checked before any lookup, so no hint ever suggests a uid, a shell fragment or root as a user name.
import { ValidationError } from '@egress/core/errors';

/** A user name as useradd accepts it (same rule as the model's UserName, without loading zod on the fast path). */
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

/** Refuses a USER that is not a user name: a numeric uid or anything a shell would split or run. */
export function checkRunAsUser(userName: string): void {
  if (/^\d+$/.test(userName)) {
    throw new ValidationError(`run-as: USER: expected a user name, got the number '${userName}' (run-as takes the name of the user bound to an egress, not a uid)`, [{ path: 'user', message: 'uid' }], {
      hint: 'egress-client status lists the users of each egress',
    });
  }
  if (!USER_NAME.test(userName)) {
    throw new ValidationError(`run-as: USER: expected a user name (a letter or '_' then up to 31 letters, digits, '_', '.' or '-'), got ${JSON.stringify(userName)}`, [{ path: 'user', message: 'bad user name' }], {
      hint: 'egress-client status lists the users of each egress',
    });
  }
}
