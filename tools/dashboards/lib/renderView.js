'use strict';
// The render command for one view: draw it with sample rows in a fresh tab, judge every panel
// the way a reader would, and save the picture.
const { migrateToTabsLayout } = require('@splunk/dashboard-utils');
const { substituteSampleData } = require('./sampleData');

/** Visualizations placed on the first tab that read data; only those can be empty or fail. */
function dataPanels(definition) {
    const { definition: tabbed } = migrateToTabsLayout({ definition });
    const layout = tabbed.layout || {};
    const firstTab = ((layout.tabs || {}).items || [])[0];
    const structure = ((layout.layoutDefinitions || {})[firstTab && firstTab.layoutId] || {}).structure || [];
    const visualizations = tabbed.visualizations || {};
    return structure
        .map((entry) => entry.item)
        .filter((id) => visualizations[id] && Object.keys(visualizations[id].dataSources || {}).length);
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
 * Renders one dashboard with sample rows and writes a PNG of the whole dashboard.
 * @param {{newPage: Function}} session from openPageSession
 * @param {{view: string, definition: object, rows: object, outFile: string, colorScheme?: string,
 *          width?: number, timeoutMs?: number, quietMs?: number}} job
 * @returns {Promise<{view: string, panels: number, problems: string[], ms: number}>}
 */
async function renderView(session, job) {
    const { view, outFile, colorScheme = 'dark', width = 1440, timeoutMs = 60000, quietMs = 750 } = job;
    const started = Date.now();
    const { definition, tokens, problems } = substituteSampleData(job.definition, job.rows);
    const expected = dataPanels(definition);
    if (problems.length) {
        return { view, panels: expected.length, problems, ms: Date.now() - started };
    }
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
    return { view, panels: expected.length, problems, ms: Date.now() - started };
}

module.exports = { renderView };
