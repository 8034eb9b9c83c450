// Browser side of the tooling: the only place Splunk's preset can be loaded, because its
// components import CSS and touch `window` at import time.
import React from 'react';
import { createRoot } from 'react-dom/client';
import { SplunkThemeProvider, getTheme } from '@splunk/themes';
import { DashboardContextProvider } from '@splunk/dashboard-context';
import DashboardCore from '@splunk/dashboard-core';
import EnterpriseViewOnlyPreset from '@splunk/dashboard-presets/EnterpriseViewOnlyPreset';
import CloudViewOnlyPreset from '@splunk/dashboard-presets/CloudViewOnlyPreset';
import { createSchemaBasedOnPresets } from '@splunk/dashboard-definition';

// The Enterprise time-range picker asks splunkweb for its presets and draws an error without it;
// Cloud's picker is the same control fed from static presets, so it stands in for the picture.
const renderPreset = {
    ...EnterpriseViewOnlyPreset,
    inputs: {
        ...EnterpriseViewOnlyPreset.inputs,
        'input.timerange': CloudViewOnlyPreset.inputs['input.timerange'],
    },
};

const RENDERED_EVENT = 'dashboardCore.rendered';

function captureSchema() {
    return {
        schema: createSchemaBasedOnPresets(EnterpriseViewOnlyPreset),
        // migrateDashboardDefinition only asks whether a visualization type exists in the preset.
        visualizationTypes: Object.keys(EnterpriseViewOnlyPreset.visualizations).sort(),
    };
}

// Height 'auto' lets the layout take the room it needs, so the screenshot holds the whole dashboard.
// `tokens` start in the default namespace, as if the reader had already picked those input values.
function renderDashboard(definition, { colorScheme = 'dark', width = '100%', height = 'auto', tokens = {} } = {}) {
    const theme = getTheme({ family: 'enterprise', colorScheme, density: 'comfortable' });
    // DashboardCore leaves the page background alone; without this the canvas edge shows white.
    document.body.style.margin = '0';
    document.body.style.background = theme.backgroundColorPage;
    const rendered = new Promise((resolve) => {
        document.addEventListener(RENDERED_EVENT, () => resolve(), { once: true });
    });
    const container = document.getElementById('root');
    createRoot(container).render(
        <SplunkThemeProvider family="enterprise" colorScheme={colorScheme} density="comfortable">
            <DashboardContextProvider
                preset={renderPreset}
                initialDefinition={definition}
                initialTokenBinding={{ default: tokens }}
            >
                {/* Validation is the validate command's job: DashboardCore validates in a worker that
                    reports late and only on failure, so the render would never know it had finished. */}
                <DashboardCore width={width} height={height} onValidationError={() => undefined} />
            </DashboardContextProvider>
        </SplunkThemeProvider>
    );
    return rendered;
}

// Charts keep drawing after DashboardCore's rendered event (animations, font metrics); a stretch
// of time without DOM changes is the cheapest reliable "finished" signal.
function waitForQuiet(quietMs, timeoutMs) {
    return new Promise((resolve) => {
        const started = performance.now();
        let last = performance.now();
        const observer = new MutationObserver(() => {
            last = performance.now();
        });
        observer.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
        const poll = () => {
            const now = performance.now();
            if (now - last >= quietMs || now - started >= timeoutMs) {
                observer.disconnect();
                resolve(now - last >= quietMs);
                return;
            }
            setTimeout(poll, Math.min(50, quietMs));
        };
        poll();
    });
}

// What a reader of the dashboard would see in each panel: a status icon (Splunk's warning for
// "no results", its error icon for a failed search), the placeholder drawn instead of a chart, or
// a chart without a single visible point (rows whose fields or values the chart cannot plot).
function panelStates() {
    return Array.from(document.querySelectorAll('[data-test="viz-item"][data-id]')).map((panel) => {
        const icons = Array.from(panel.querySelectorAll('[data-test="status-icon-container"] svg[aria-label]'));
        const placeholder = panel.querySelector('[data-test="viz-waiting-for-input"]');
        const message = panel.querySelector('[data-test="viz-waiting-for-input-message"]');
        // Series marks only (legend symbols are points too); a line may be drawn without markers.
        const visiblePoints = Array.from(panel.querySelectorAll('.highcharts-series-group .highcharts-point')).filter((point) => {
            const box = point.getBBox();
            return box.width > 0 && box.height > 0;
        });
        const drawnLines = Array.from(panel.querySelectorAll('.highcharts-series-group path.highcharts-graph')).filter(
            (line) => /[LC]/.test(line.getAttribute('d') || '')
        );
        return {
            id: panel.getAttribute('data-id'),
            type: panel.getAttribute('data-viz-type'),
            status: icons.map((icon) => icon.getAttribute('aria-label')),
            placeholder: Boolean(placeholder),
            message: message ? message.textContent : '',
            chart: Boolean(panel.querySelector('[data-highcharts-chart]')),
            visiblePoints: visiblePoints.length + drawnLines.length,
        };
    });
}

function contentHeight() {
    return Math.ceil(document.getElementById('root').getBoundingClientRect().height);
}

window.dashboardPage = { captureSchema, renderDashboard, waitForQuiet, panelStates, contentHeight };
