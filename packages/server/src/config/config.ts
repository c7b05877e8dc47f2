import type { OPTION_SPECS } from './options.js';

/** One row of the option table, with its literal key, kind, values and whether it has a default. */
type OptionRow = (typeof OPTION_SPECS)[number];

/** The key of every option: a field of Config and of a JSON config file. */
export type OptionKey = OptionRow['key'];

/** The options whose default load-config.ts derives from other options (`derivedDefault`). */
export type DerivedDefaultKey = Extract<OptionRow, { readonly derivedDefault: true }>['key'];

/** The TypeScript type of a value of `row`'s kind; an enum is the union of its `values`. */
type KindValue<Row extends OptionRow> = Row extends { readonly kind: 'int' }
  ? number
  : Row extends { readonly kind: 'bool' }
    ? boolean
    : Row extends { readonly kind: 'string' }
      ? string
      : Row extends { readonly kind: 'list' }
        ? readonly string[]
        : Row extends { readonly kind: 'enum'; readonly values: readonly (infer V)[] }
          ? V
          : never;

/** An option with a default (given or derived) always has a value; one without may be unset. */
type OptionValue<Row extends OptionRow> = Row extends { readonly default: unknown }
  ? KindValue<Row>
  : Row extends { readonly derivedDefault: true }
    ? KindValue<Row>
    : KindValue<Row> | undefined;

/**
 * The validated, frozen configuration of one gateway. Built by `loadConfig` (from flags, env and a JSON
 * file, or values given in code). Derived from OPTION_SPECS: one field per row, named by its `key`,
 * documented by its `help` (options.ts).
 */
export type Config = {
  readonly [K in OptionKey]: OptionValue<Extract<OptionRow, { readonly key: K }>>;
};
