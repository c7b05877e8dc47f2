import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/**
 * @agentcast/react's tests alone: `npx vitest run --config packages/react/vitest.config.ts` from the repo
 * root (the root `npm test` runs them too). "@agentcast/client" resolves to the SDK's source, as in
 * tsconfig.json's "paths".
 */
export default defineConfig({
  root: here('.'),
  resolve: {
    alias: {
      '@agentcast/client': here('../client/src/index.ts'),
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
