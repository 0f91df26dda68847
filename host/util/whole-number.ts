import { UserError } from './errors.ts';

/** An integer option within [min, max]; an option left unset (undefined) passes. */
export function checkWholeNumber(name: string, v: number | undefined, min = 1, max = Number.MAX_SAFE_INTEGER): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max)) throw new UserError(`${name} ${v} must be a whole number from ${min} to ${max}`);
}
