import type fc from 'fast-check';

/** Runs of a property: the CI figure, and a smaller one under mutation testing. */
export interface RunBudget {
  readonly numRuns: number;
  /**
   * Runs inside a Stryker worker (STRYKER_MUTATOR_WORKER is set), where the property runs once per
   * surviving mutant it covers. Default: a tenth of numRuns.
   */
  readonly mutationRuns?: number;
}

/**
 * fast-check parameters with a fixed number of runs, so CI time stays bounded. fast-check prints the
 * seed and the counterexample path of a failure; replay it with
 * `FC_SEED=<seed> FC_PATH=<path> npx vitest run <file>`. `FC_NUM_RUNS` sets the runs (a long local hunt).
 */
export function propertyParameters<T>(budget: RunBudget): fc.Parameters<T> {
  const { FC_SEED, FC_PATH, FC_NUM_RUNS, STRYKER_MUTATOR_WORKER } = process.env;
  const runs =
    STRYKER_MUTATOR_WORKER === undefined
      ? budget.numRuns
      : (budget.mutationRuns ?? Math.max(1, Math.ceil(budget.numRuns / 10)));
  return {
    numRuns: FC_NUM_RUNS === undefined ? runs : Number(FC_NUM_RUNS),
    ...(FC_SEED === undefined ? {} : { seed: Number(FC_SEED) }),
    ...(FC_PATH === undefined ? {} : { path: FC_PATH }),
  };
}
