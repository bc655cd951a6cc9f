import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

/** The Debian `chromium` package's binary; CHROMIUM_PATH overrides it. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The flags a headless, sandbox-less, quiet Chromium needs in a container. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-gpu',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export const ARTIFACTS_DIR = path.resolve('test/artifacts');

class ChromiumMissing extends Error {}

function run(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 15 * 60_000,
  });
  return result.status === 0;
}

/**
 * Makes sure Chromium is there: installs the Debian package when it is missing and this process
 * may (root, apt-get present); otherwise stops with what to do.
 */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const apt = existsSync('/usr/bin/apt-get');
  if (!root || !apt) {
    throw new ChromiumMissing(
      `The browser test needs Chromium at ${CHROMIUM_PATH}, and it is not there. ` +
        (apt ? 'Install it with "sudo apt-get install -y chromium"' : 'Install Chromium with your package manager') +
        ', or point CHROMIUM_PATH at a Chromium binary, then run the tests again.',
    );
  }
  console.error(`[browser] ${CHROMIUM_PATH} is missing: installing the Debian chromium package`);
  // the package lists may be stale or absent in a fresh container: refresh them if the first try fails
  if (!run('apt-get', ['install', '-y', 'chromium'])) {
    run('apt-get', ['update']);
    run('apt-get', ['install', '-y', 'chromium']);
  }
  if (!existsSync(CHROMIUM_PATH))
    throw new ChromiumMissing(`"apt-get install -y chromium" did not provide ${CHROMIUM_PATH}; see its output above.`);
  return CHROMIUM_PATH;
}

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * One Chromium per test worker process, shared by the browser files the worker runs one after another (`isolate:
 * false` keeps this module's state between files): starting Chromium is ~2 s of CPU a file on two cores, a context
 * a few ms. Playwright closes it when the worker exits. Launched again if it went away (a crash).
 */
let shared: Promise<Browser> | undefined;

async function sharedChromium(): Promise<Browser> {
  const launch = () => chromium.launch({ executablePath: ensureChromium(), args: CHROMIUM_ARGS, headless: true });
  shared ??= launch();
  const browser = await shared.catch(() => undefined);
  if (browser?.isConnected()) return browser;
  shared = launch();
  return shared;
}

/**
 * A fresh browser context of Chromium — cookies, storage, cache and downloads of its own, as a new profile has
 * (what a test sees is the same as with a Chromium of its own), downloads allowed; closed with the file.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  const context = await (await sharedChromium()).newContext({
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
  });
  return { context, close: () => context.close() };
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, name);
}
