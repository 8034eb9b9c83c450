'use strict';
// Builds the browser page once and reuses it while its inputs are unchanged, so a warm render
// does not pay the bundler's seconds again.
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const TOOL_DIR = path.resolve(__dirname, '..');
const CACHE_DIR = path.join(TOOL_DIR, '.cache');
const ENTRY = path.join(TOOL_DIR, 'page', 'index.jsx');

/** Hash of everything the bundle is built from: the page source and the exact installed packages. */
function bundleInputsHash() {
    const hash = crypto.createHash('sha256');
    for (const file of [ENTRY, path.join(TOOL_DIR, 'package-lock.json')]) {
        hash.update(fs.readFileSync(file));
    }
    return hash.digest('hex').slice(0, 16);
}

/**
 * Returns {js, css} paths of the page bundle, building it when the cached one is stale.
 * @returns {Promise<{js: string, css: string}>}
 */
async function ensureBundle() {
    const stamp = bundleInputsHash();
    const dir = path.join(CACHE_DIR, `page-${stamp}`);
    const out = { js: path.join(dir, 'page.js'), css: path.join(dir, 'page.css') };
    if (fs.existsSync(out.js) && fs.existsSync(out.css)) {
        return out;
    }
    // Loaded lazily: validation alone never needs the bundler.
    const esbuild = require('esbuild');
    const tmp = `${dir}.tmp-${process.pid}`;
    await esbuild.build({
        entryPoints: [ENTRY],
        bundle: true,
        format: 'iife',
        platform: 'browser',
        minify: true,
        define: { 'process.env.NODE_ENV': '"production"' },
        outfile: path.join(tmp, 'page.js'),
        logLevel: 'error',
    });
    // Rename into place so a concurrent or interrupted build never leaves a half-written bundle.
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    for (const old of fs.readdirSync(CACHE_DIR)) {
        if (/^page-[0-9a-f]+$/.test(old) && path.join(CACHE_DIR, old) !== dir) {
            fs.rmSync(path.join(CACHE_DIR, old), { recursive: true, force: true });
        }
    }
    return out;
}

module.exports = { ensureBundle, CACHE_DIR, TOOL_DIR };
