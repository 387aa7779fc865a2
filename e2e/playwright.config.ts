import { defineConfig, devices } from '@playwright/test';
import { chromiumArgs, chromiumExecutable } from './chromium';

// The real server binary (built by `cargo xtask test`) serving the real built app
// (`cargo xtask build-app-only` → ../dist) on a throwaway SQLite file. Debian's Chromium, never a
// downloaded browser.
const PORT = Number(process.env.QD_E2E_PORT ?? 8091);
// A plain static host serving the same build on another origin, configured to call the
// API on PORT: the recommended deployment (app and API on different origins).
export const APP_ORIGIN_PORT = PORT + 1;

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 60_000,
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath: chromiumExecutable,
          args: chromiumArgs,
        },
      },
    },
  ],
  webServer: [
    {
      // Every run starts from an empty database and log (the web server starts before
      // any global setup would, so the wipe lives here).
      command:
        `rm -rf .tmp && mkdir -p .tmp && exec ../target/debug/quietdesk-server --listen 127.0.0.1:${PORT} ` +
        `--database sqlite:.tmp/e2e.sqlite --static-dir ../dist --log-file .tmp/server.log ` +
        `--allow-origin http://127.0.0.1:${APP_ORIGIN_PORT} ` +
        // Low, so a test can cross it with a few deletions (the default is 20 an hour).
        `--bulk-delete-threshold 3 > .tmp/server.stdout 2> .tmp/server.stderr`,
      url: `http://127.0.0.1:${PORT}/api/v1/health`,
      reuseExistingServer: false,
      timeout: 60_000,
      env: { RUST_LOG: 'debug' },
      // The server logs to .tmp/server.log; keep the test output readable.
      stdout: 'ignore',
      stderr: 'ignore',
    },
    {
      // The built app on a static host of its own, told where the API is.
      command:
        `rm -rf .tmp-app && cp -r ../dist .tmp-app && ` +
        `../target/debug/xtask api-origin "$PWD/.tmp-app" http://127.0.0.1:${PORT} && ` +
        `exec python3 -m http.server ${APP_ORIGIN_PORT} --bind 127.0.0.1 --directory .tmp-app`,
      url: `http://127.0.0.1:${APP_ORIGIN_PORT}/index.html`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'ignore',
      stderr: 'ignore',
    },
  ],
});
