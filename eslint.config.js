// Lint: type-aware rules plus the layering rule of DESIGN.md.
// Allowed imports point downward: cli, server -> governance, sim, storage, executors, traces -> core.
// Nothing imports server or cli; core imports nothing internal and no node:* module.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (folder, forbidden, extra = []) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...forbidden.map((target) => ({
            group: [`**/${target}/**`, `**/${target}`],
            message: `src/${folder} must not import src/${target} (layering rule, DESIGN.md).`,
          })),
          ...extra,
        ],
      },
    ],
  },
});

const nodeBuiltins = {
  group: ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'http', 'net', 'worker_threads'],
  message: 'src/core is pure: no I/O, no clock, no node:* imports (DESIGN.md).',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'web/dist/**', 'coverage/**', '**/*.js', '!eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ["vitest.config.ts", "web/vite.config.ts"] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      // Fastify handlers and port implementations are async by contract even when they do not await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
  layer('core', ['sim', 'traces', 'governance', 'storage', 'executors', 'server', 'cli'], [nodeBuiltins]),
  layer('sim', ['traces', 'governance', 'storage', 'executors', 'server', 'cli']),
  layer('traces', ['sim', 'governance', 'storage', 'executors', 'server', 'cli']),
  layer('executors', ['sim', 'traces', 'governance', 'storage', 'server', 'cli']),
  layer('storage', ['sim', 'traces', 'governance', 'executors', 'server', 'cli']),
  layer('governance', ['storage', 'executors', 'server', 'cli']),
  layer('server', ['cli']),
);
