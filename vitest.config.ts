import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** Tests run against the packages' sources: the server and the React binding import the client by name. */
const alias = {
  '@agentcast/client': here('./packages/client/src/index.ts'),
  '@agentcast/react': here('./packages/react/src/index.ts'),
  '@agentcast/ag-ui': here('./packages/ag-ui/src/index.ts'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    projects: [
      // The gateway, the client SDK and their cross-package tests (test/).
      { extends: true, test: { name: 'agentcast', include: ['test/**/*.test.ts'] } },
      // @agentcast/react's own tests (packages/react/test), with its JSX.
      {
        extends: true,
        test: { name: 'react', include: ['packages/react/test/**/*.test.{ts,tsx}'] },
      },
    ],
    coverage: {
      provider: 'v8',
      include: ['packages/*/src/**/*.{ts,tsx}'],
      // The demo page's browser code is measured by the browser test, not by V8 in Node.
      exclude: ['packages/server/src/demo/page/**', 'packages/*/src/**/index.ts'],
      reporter: ['text-summary', 'json-summary', 'html'],
      thresholds: { lines: 95, branches: 90 },
    },
  },
});
