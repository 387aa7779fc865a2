import * as fs from 'node:fs';

// Start every run from an empty database and log. Runs before the web server starts.
export default function globalSetup() {
  fs.rmSync('.tmp', { recursive: true, force: true });
  fs.mkdirSync('.tmp', { recursive: true });
}
