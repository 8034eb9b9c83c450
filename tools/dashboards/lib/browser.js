'use strict';
// One place that knows how to start Debian's Chromium offline: Playwright never downloads a
// browser here, and a default Chromium profile reaches for Google services on start.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const DEFAULT_EXECUTABLE = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // Anything but loopback fails to resolve, so a stray fetch fails fast instead of hanging.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    // Text rendering must not depend on the machine's font hinting settings.
    '--font-render-hinting=none',
];

/**
 * Launches headless Chromium with a fresh profile; close() also removes the profile.
 * @param {{width?: number, height?: number, executablePath?: string}} [options]
 * @returns {Promise<{context: import('playwright-core').BrowserContext, close: () => Promise<void>}>}
 */
async function launchBrowser({ width = 1440, height = 900, executablePath } = {}) {
    const { chromium } = require('playwright-core');
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboards-chromium-'));
    let context;
    try {
        context = await chromium.launchPersistentContext(profile, {
            executablePath: executablePath || process.env.CHROMIUM || DEFAULT_EXECUTABLE,
            headless: true,
            args: CHROMIUM_ARGS,
            viewport: { width, height },
            deviceScaleFactor: 1,
            locale: 'en-US',
            timezoneId: 'UTC',
        });
    } catch (err) {
        fs.rmSync(profile, { recursive: true, force: true });
        throw err;
    }
    return {
        context,
        close: async () => {
            await context.close();
            fs.rmSync(profile, { recursive: true, force: true });
        },
    };
}

module.exports = { launchBrowser };
