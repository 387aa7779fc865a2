// How every test and benchmark launches Debian's Chromium (never a downloaded browser).

// Chromium 151+ pre-renders its own address-bar popup (chrome://omnibox-popup, a WebUI
// renderer) for every new tab, headless too; on a 2-core machine it took a core for the
// first ~0.8 s of each page, which the page's own start then waited for. Puppeteer turns
// these off by default (puppeteer/puppeteer#15278). Chromium keeps only the last
// `--disable-features` on its command line, so Playwright's own list (1.65, from its
// chromiumSwitches) is repeated here, or it would be dropped.
const playwrightDisabled = [
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'OptimizationHints',
  'NetworkTimeServiceQuerying',
  'AimEnabled',
  'PreconnectToSearch',
];

export const chromiumExecutable = '/usr/bin/chromium';

export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  `--disable-features=${[...playwrightDisabled, 'WebUIOmniboxPopup', 'WebUIOmniboxAimPopup'].join(',')}`,
];
