import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/**
 * @agentcast/react's tests: `npx vitest run --config packages/react/vitest.config.ts` from the repo root.
 * "@agentcast/client" resolves to the SDK's source, as in tsconfig.json's "paths"; after the workspace split
 * it points at packages/client (or the alias goes and node_modules resolves it).
 */
export default defineConfig({
  root: here('.'),
  resolve: {
    alias: {
      '@agentcast/client': here('../../src/client/index.ts'),
      '@agentcast/react': here('./src/index.ts'),
    },
  },
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
