'use strict';
// Unit tests of Splunk's validation as the tool runs and words it (tools/dashboards/lib/schemaValidation.js).
const test = require('node:test');
const assert = require('node:assert');
const { loadSnapshot } = require('../../tools/dashboards/lib/schemaSnapshot');
const { createSchemaValidator } = require('../../tools/dashboards/lib/schemaValidation');

// Compiling Splunk's schema takes ~2 s, so all tests share one validator.
const validator = createSchemaValidator(loadSnapshot());

function dashboard(visualization, structure) {
    return {
        dataSources: { ds: { type: 'ds.search', options: { query: '`m`' } } },
        visualizations: { viz: { type: 'splunk.column', dataSources: { primary: 'ds' }, ...visualization } },
        layout: {
            type: 'grid',
            structure: structure || [{ item: 'viz', type: 'block', position: { x: 0, y: 0, w: 1200, h: 300 } }],
        },
    };
}

test('a classic layout is migrated to tabs first, as DashboardCore does, and then passes', () => {
    const result = validator.validate(dashboard({}));
    assert.deepStrictEqual(result.problems, []);
    assert.ok(result.definition.layout.tabs, 'migrated definition has tabs');
});

test('a wrong option type becomes one line naming the item and the expected type', () => {
    const { problems } = validator.validate(dashboard({ options: { showSplitSeries: 'yes' } }));
    assert.strictEqual(problems.length, 1);
    assert.strictEqual(problems[0].item, 'visualizations.viz.options.showSplitSeries');
    assert.match(problems[0].fix, /boolean/);
});

test('a misspelt property where Splunk allows no extras is named with its fix', () => {
    const { problems } = validator.validate(dashboard({ containerOptions: { titel: {} } }));
    assert.deepStrictEqual(problems, [
        {
            item: 'visualizations.viz.containerOptions',
            problem: 'unknown property "titel"',
            fix: 'remove "titel" or correct its spelling',
        },
    ]);
});

test("Splunk's own cross-checks (a visualization placed nowhere) come with a fix", () => {
    const definition = dashboard({}, [{ item: 'viz', type: 'block', position: { x: 0, y: 0, w: 1200, h: 300 } }]);
    definition.visualizations.unplaced = { type: 'splunk.markdown', options: { markdown: 'hi' } };
    const { problems } = validator.validate(definition);
    assert.strictEqual(problems.length, 1);
    assert.match(problems[0].problem, /"unplaced" is not present/);
    assert.match(problems[0].fix, /place it in the layout structure or delete it/);
});
