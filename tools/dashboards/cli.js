#!/usr/bin/env node
'use strict';
// Command line of the dashboard tooling. Exit status: 0 all good, 1 a dashboard has problems,
// 2 the tool itself could not run (bad arguments, no browser, missing schema snapshot).
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { readViewFile } = require('./lib/viewFile');
const { validateViews, formatProblem, INDEX_MACROS } = require('./lib/validateViews');
const { SNAPSHOT_FILE, formatSnapshot } = require('./lib/schemaSnapshot');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const VIEWS_DIR = path.join(REPO_ROOT, 'default', 'data', 'ui', 'views');

const USAGE = `usage:
  cli.js validate [--macro NAME ...] [VIEW.xml ...]
      Splunk's schema validation plus reference, macro and token checks. Every search must use one of
      the --macro names (default: ${INDEX_MACROS.join(', ')}).
      Default views: every default/data/ui/views/*.xml.
  cli.js render [--rows-dir DIR] [--out-dir DIR] [--theme dark|light] [--width PX]
                [--timeout-ms MS] [--quiet-ms MS] [--check-schema] [VIEW.xml ...]
      Draws each tab of each view in headless Chromium with DIR/<view>.rows.json (else <view>.rows.json
      next to the view) as data and writes OUT/<view>.png (first tab) and OUT/<view>-<tab>.png.
      Fails on render errors, time-outs and panels in an error or no-data state, on any tab. --check-schema also runs capture-schema --check in the same
      browser. Defaults: tests/dashboards, docs/images, dark, 1440, 60000, 750.
  cli.js capture-schema [--check]
      Captures the EnterpriseViewOnlyPreset schema in the browser into
      ${path.relative(REPO_ROOT, SNAPSHOT_FILE)}; --check only compares.`;

class UsageError extends Error {}

function defaultViews(files) {
    if (files.length) {
        return files.map((f) => path.resolve(f));
    }
    if (!fs.existsSync(VIEWS_DIR)) {
        return [];
    }
    return fs
        .readdirSync(VIEWS_DIR)
        .filter((f) => f.endsWith('.xml'))
        .sort()
        .map((f) => path.join(VIEWS_DIR, f));
}

function positiveInt(value, name) {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) {
        throw new UsageError(`--${name} must be a positive whole number, got "${value}"`);
    }
    return n;
}

function runValidate(args) {
    const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { macro: { type: 'string', multiple: true } },
    });
    const files = defaultViews(positionals);
    if (!files.length) {
        throw new UsageError(`no views to validate in ${VIEWS_DIR}`);
    }
    let failed = false;
    for (const { view, definition, problems } of validateViews(files, { macros: values.macro || INDEX_MACROS })) {
        if (problems.length) {
            failed = true;
            problems.forEach((p) => console.log(formatProblem(view, p)));
        } else {
            const count = (section) => Object.keys(definition[section] || {}).length;
            console.log(
                `${view}: valid (${count('visualizations')} visualizations, ${count('dataSources')} data sources, ` +
                    `${count('inputs')} inputs)`
            );
        }
    }
    return failed ? 1 : 0;
}

/** Shipped views keep their rows under tests/; a test fixture keeps them next to itself. */
function rowsFileFor(viewFile, view, rowsDir) {
    const inRowsDir = path.join(rowsDir, `${view}.rows.json`);
    const besideView = path.join(path.dirname(viewFile), `${view}.rows.json`);
    return fs.existsSync(inRowsDir) || !fs.existsSync(besideView) ? inRowsDir : besideView;
}

async function runRender(args) {
    const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
            'rows-dir': { type: 'string', default: path.join(REPO_ROOT, 'tests', 'dashboards') },
            'out-dir': { type: 'string', default: path.join(REPO_ROOT, 'docs', 'images') },
            theme: { type: 'string', default: 'dark' },
            width: { type: 'string', default: '1440' },
            'timeout-ms': { type: 'string', default: '60000' },
            'quiet-ms': { type: 'string', default: '750' },
            'check-schema': { type: 'boolean', default: false },
        },
    });
    if (!['dark', 'light'].includes(values.theme)) {
        throw new UsageError(`--theme must be dark or light, got "${values.theme}"`);
    }
    const files = defaultViews(positionals);
    if (!files.length) {
        throw new UsageError(`no views to render in ${VIEWS_DIR}`);
    }
    const options = {
        colorScheme: values.theme,
        width: positiveInt(values.width, 'width'),
        timeoutMs: positiveInt(values['timeout-ms'], 'timeout-ms'),
        quietMs: positiveInt(values['quiet-ms'], 'quiet-ms'),
    };
    fs.mkdirSync(values['out-dir'], { recursive: true });
    // Loaded here so `validate` never pays for Playwright.
    const { openPageSession } = require('./lib/pageSession');
    const { loadRows } = require('./lib/sampleData');
    const { renderView } = require('./lib/renderView');
    const session = await openPageSession();
    let failed = false;
    try {
        if (values['check-schema']) {
            failed = !(await checkSchema(session));
        }
        for (const file of files) {
            const { view, definition, problem } = readViewFile(file);
            const rowsFile = rowsFileFor(file, view, values['rows-dir']);
            let result;
            if (problem) {
                result = { view, panels: 0, problems: [problem], ms: 0, files: [] };
            } else if (!fs.existsSync(rowsFile)) {
                result = { view, panels: 0, problems: [`no sample rows: create ${rowsFile}`], ms: 0, files: [] };
            } else {
                const outFile = path.join(values['out-dir'], `${view}.png`);
                result = await renderView(session, { ...options, view, definition, rows: loadRows(rowsFile), outFile });
            }
            const seconds = (result.ms / 1000).toFixed(1);
            if (result.problems.length) {
                failed = true;
                result.problems.forEach((p) => console.log(`${view}: render: ${p}`));
            } else {
                const shown = result.files.map((png) => {
                    const relative = path.relative(process.cwd(), png);
                    return relative.startsWith('..') ? png : relative;
                });
                console.log(`${view}: rendered ${result.panels} data panels, all with data, in ${seconds} s -> ${shown.join(', ')}`);
            }
        }
    } finally {
        await session.close();
    }
    return failed ? 1 : 0;
}

async function captureSnapshotText(session) {
    const { page } = await session.newPage();
    try {
        return formatSnapshot(await page.evaluate(() => window.dashboardPage.captureSchema()));
    } finally {
        await page.close();
    }
}

/** Compares the committed snapshot with a fresh capture; prints the verdict, returns whether they match. */
async function checkSchema(session) {
    const text = await captureSnapshotText(session);
    const shown = path.relative(process.cwd(), SNAPSHOT_FILE);
    const same = fs.existsSync(SNAPSHOT_FILE) && fs.readFileSync(SNAPSHOT_FILE, 'utf8') === text;
    console.log(same ? `${shown}: matches a fresh capture` : `${shown}: stale; run node tools/dashboards/cli.js capture-schema`);
    return same;
}

async function runCaptureSchema(args) {
    const { values } = parseArgs({ args, options: { check: { type: 'boolean', default: false } } });
    const { openPageSession } = require('./lib/pageSession');
    const session = await openPageSession();
    let text;
    try {
        if (values.check) {
            return (await checkSchema(session)) ? 0 : 1;
        }
        text = await captureSnapshotText(session);
    } finally {
        await session.close();
    }
    const shown = path.relative(process.cwd(), SNAPSHOT_FILE);
    fs.mkdirSync(path.dirname(SNAPSHOT_FILE), { recursive: true });
    fs.writeFileSync(SNAPSHOT_FILE, text);
    console.log(`${shown}: written (${Buffer.byteLength(text)} bytes)`);
    return 0;
}

const COMMANDS = { validate: runValidate, render: runRender, 'capture-schema': runCaptureSchema };

async function main(argv) {
    const [command, ...args] = argv;
    if (!COMMANDS[command]) {
        console.error(USAGE);
        return 2;
    }
    try {
        return await COMMANDS[command](args);
    } catch (err) {
        const usage = err instanceof UsageError || err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
        console.error(`cli.js ${command}: ${err.message}${usage ? `\n${USAGE}` : ''}`);
        return 2;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => {
        process.exitCode = code;
    });
}

module.exports = { main };
