// One entry point for untrusted input: parse with a schema, or throw a ValidationError naming field, value and rule.
import type { z } from 'zod';
import { ValidationError, fromZodError } from '../errors.js';
import { checkJsonDepth } from '../fs/user-file.js';

/** Parses `input` with `schema`; `what` prefixes field paths ("bundle", "--subnet"). */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw fromZodError(result.error, what, input);
  return result.data;
}

/** Parses a JSON text then validates it; a JSON syntax error names the source. */
export function parseJsonWith<S extends z.ZodType>(schema: S, text: string, what: string): z.infer<S> {
  let data: unknown;
  checkJsonDepth(text, what);
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${what}: expected a JSON document, got text that does not parse (${(err as Error).message})`, [
      { path: what, message: 'not JSON' },
    ]);
  }
  return parseWith(schema, data, what);
}
