/** Column helpers shared by the entities. */
import type { ValueTransformer } from 'typeorm';

/** PostgreSQL returns bigint as a string; parameter counts stay far below 2^53, so a number is exact. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};
