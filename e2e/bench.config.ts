import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// Browser benchmarks (not tests): the release app (built into ../dist-release by
// `cargo xtask bench`) on the release server. Run by `cargo xtask bench`.
const PORT = 8093;

export default defineConfig({
  ...base,
  testDir: './bench',
  testMatch: /.*\.bench\.ts/,
  outputDir: './bench-results',
  timeout: 45 * 60_000,
  use: { ...base.use, baseURL: `http://127.0.0.1:${PORT}`, trace: 'off', screenshot: 'off' },
  webServer: {
    command:
      `rm -rf .tmp-bench && mkdir -p .tmp-bench && exec ../target/release/quietdesk-server --listen 127.0.0.1:${PORT} ` +
      `--database sqlite:.tmp-bench/bench.sqlite --static-dir ../dist-release --log-file .tmp-bench/server.log`,
    url: `http://127.0.0.1:${PORT}/api/v1/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'ignore',
  },
});
