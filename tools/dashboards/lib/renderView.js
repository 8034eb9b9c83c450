'use strict';
// The render command for one view: draw each of its tabs with sample rows in a fresh browser tab,
// judge every panel the way a reader would, and save one picture per dashboard tab.
const path = require('node:path');
const { migrateToTabsLayout } = require('@splunk/dashboard-utils');
const { substituteSampleData } = require('./sampleData');

/**
 * One definition per dashboard tab, each holding only that tab, so DashboardCore draws it first.
 * @returns {{layoutId: string, label: string, slug: string, definition: object}[]}
 */
function tabViews(definition) {
    const { definition: tabbed } = migrateToTabsLayout({ definition });
    const items = ((tabbed.layout || {}).tabs || {}).items || [];
    return items.map((tab, index) => ({
        layoutId: tab.layoutId,
        label: tab.label || tab.layoutId,
        // The first tab keeps the view's own file name; the others add their label.
        slug: index === 0 ? '' : (tab.label || tab.layoutId).toLowerCase().replace(/[^a-z0-9]+/g, '-'),
        definition: { ...tabbed, layout: { ...tabbed.layout, tabs: { ...tabbed.layout.tabs, items: [tab] } } },
    }));
}

/** Visualizations placed on the (only) tab that read data; only those can be empty or fail. */
function dataPanels(definition) {
    const layout = definition.layout || {};
    const tab = ((layout.tabs || {}).items || [])[0];
    const structure = ((layout.layoutDefinitions || {})[tab && tab.layoutId] || {}).structure || [];
    const visualizations = definition.visualizations || {};
    return structure
        .map((entry) => entry.item)
        .filter((id) => visualizations[id] && Object.keys(visualizations[id].dataSources || {}).length);
}

/** Where a tab's picture goes: <view>.png for the first tab, <view>-<tab label>.png for the others. */
function tabFile(outFile, slug) {
    if (!slug) {
        return outFile;
    }
    const { dir, name, ext } = path.parse(outFile);
    return path.join(dir, `${name}-${slug}${ext}`);
}

const TALL_VIEWPORT = 4000;

function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function panelProblems(expected, states) {
    const problems = [];
    const byId = new Map(states.map((s) => [s.id, s]));
    for (const id of expected) {
        const state = byId.get(id);
        if (!state) {
            problems.push(`${id}: panel was not drawn`);
        } else if (state.status.length || state.placeholder) {
            const shown = [
                ...state.status.map((s) => `${s.toLowerCase()} icon`),
                ...(state.placeholder ? [`placeholder instead of a ${state.type} chart`] : []),
                ...(state.message ? [`message "${state.message}"`] : []),
            ];
            problems.push(`${id}: ${shown.join(', ')} (an error or "no data" state; check its rows and fields)`);
        } else if (state.chart && state.visiblePoints === 0) {
            problems.push(`${id}: ${state.type} chart draws nothing (fields it cannot plot, or only zeros/non-numbers)`);
        }
    }
    return problems;
}

/**
 * Renders every tab of one dashboard with sample rows and writes a PNG per tab (see tabFile).
 * @param {{newPage: Function}} session from openPageSession
 * @param {{view: string, definition: object, rows: object, outFile: string, colorScheme?: string,
 *          width?: number, timeoutMs?: number, quietMs?: number}} job
 * @returns {Promise<{view: string, panels: number, problems: string[], ms: number, files: string[]}>}
 */
async function renderView(session, job) {
    const started = Date.now();
    const { definition, tokens, problems } = substituteSampleData(job.definition, job.rows);
    const tabs = tabViews(definition);
    let panels = 0;
    const files = [];
    if (problems.length) {
        return { view: job.view, panels, problems, ms: Date.now() - started, files };
    }
    for (const tab of tabs) {
        const outFile = tabFile(job.outFile, tab.slug);
        const result = await renderTab(session, { ...job, definition: tab.definition, tokens, outFile });
        panels += result.panels;
        files.push(outFile);
        // Problems on later tabs name the tab, so a reader knows where to look.
        problems.push(...result.problems.map((p) => (tab.slug ? `tab "${tab.label}": ${p}` : p)));
    }
    return { view: job.view, panels, problems, ms: Date.now() - started, files };
}

async function renderTab(session, job) {
    const { outFile, definition, tokens, colorScheme = 'dark', width = 1440, timeoutMs = 60000, quietMs = 750 } = job;
    const started = Date.now();
    const expected = dataPanels(definition);
    const problems = [];
    const { page, errors } = await session.newPage();
    try {
        // Taller than any of our dashboards, so the whole layout is drawn once, without a scroll bar.
        await page.setViewportSize({ width, height: TALL_VIEWPORT });
        await withTimeout(
            page.evaluate(
                ([def, scheme, values]) => window.dashboardPage.renderDashboard(def, { colorScheme: scheme, tokens: values }),
                [definition, colorScheme, tokens]
            ),
            timeoutMs,
            'DashboardCore rendering'
        );
        const left = Math.max(1000, timeoutMs - (Date.now() - started));
        const settled = await page.evaluate(([q, t]) => window.dashboardPage.waitForQuiet(q, t), [quietMs, left]);
        if (!settled) {
            problems.push(`page kept changing for ${timeoutMs} ms; a panel is probably still loading`);
        }
        const states = await page.evaluate(() => window.dashboardPage.panelStates());
        problems.push(...panelProblems(expected, states));
        problems.push(...errors);
        const height = await page.evaluate(() => window.dashboardPage.contentHeight());
        if (height > TALL_VIEWPORT) {
            await page.setViewportSize({ width, height });
            await page.evaluate(([q, t]) => window.dashboardPage.waitForQuiet(q, t), [quietMs, left]);
        }
        // The PNG is the dashboard and nothing below it.
        await page.screenshot({ path: outFile, animations: 'disabled', clip: { x: 0, y: 0, width, height } });
    } catch (err) {
        problems.push(err.message.split('\n')[0]);
    } finally {
        await page.close();
    }
    return { panels: expected.length, problems };
}

module.exports = { renderView, tabViews, tabFile };
