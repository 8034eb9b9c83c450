'use strict';
// Unit tests of the checks Splunk's validator lacks (tools/dashboards/lib/referenceChecks.js).
const test = require('node:test');
const assert = require('node:assert');
const {
    checkDataSourceReferences,
    checkSearchMacro,
    checkTokens,
} = require('../../tools/dashboards/lib/referenceChecks');

const MACRO = 'ringcentral_audit_index';
const items = (problems) => problems.map((p) => p.item);

test('a visualization or input naming a missing data source is reported with the defined ids', () => {
    const problems = checkDataSourceReferences({
        dataSources: { ds_a: { type: 'ds.search', options: { query: 'x' } } },
        visualizations: { viz_1: { dataSources: { primary: 'ds_a' } }, viz_2: { dataSources: { primary: 'ds_b' } } },
        inputs: { input_1: { dataSources: { primary: 'ds_c' } } },
    });
    assert.deepStrictEqual(items(problems), ['visualizations.viz_2.dataSources.primary', 'inputs.input_1.dataSources.primary']);
    assert.match(problems[0].fix, /use one of ds_a/);
});

test('a chain whose base is missing, or that loops, is reported', () => {
    const problems = checkDataSourceReferences({
        dataSources: {
            ds_missing: { type: 'ds.chain', options: { extend: 'ds_gone', query: '| head 1' } },
            ds_x: { type: 'ds.chain', options: { extend: 'ds_y' } },
            ds_y: { type: 'ds.chain', options: { extend: 'ds_x' } },
            ds_ok: { type: 'ds.chain', options: { extend: 'ds_base' } },
            ds_base: { type: 'ds.search', options: { query: '`m`' } },
        },
    });
    assert.deepStrictEqual(items(problems), [
        'dataSources.ds_missing.options.extend',
        'dataSources.ds_x.options.extend',
        'dataSources.ds_y.options.extend',
    ]);
    assert.match(problems[1].problem, /loops back/);
});

test('only base searches must use the macro; a longer macro name does not count', () => {
    const problems = checkSearchMacro(
        {
            dataSources: {
                plain: { type: 'ds.search', options: { query: '`ringcentral_audit_index` | stats count' } },
                with_args: { type: 'ds.search', options: { query: '`ringcentral_audit_index(30d)` | stats count' } },
                other_index: { type: 'ds.search', options: { query: 'index=main | stats count' } },
                lookalike: { type: 'ds.search', options: { query: '`ringcentral_audit_index_old` | stats count' } },
                no_query: { type: 'ds.search', options: {} },
                chain: { type: 'ds.chain', options: { extend: 'plain', query: '| head 5' } },
            },
        },
        MACRO
    );
    assert.deepStrictEqual(items(problems), [
        'dataSources.other_index.options.query',
        'dataSources.lookalike.options.query',
        'dataSources.no_query.options.query',
    ]);
});

test('tokens must be set by an input (time ranges set .earliest/.latest) or a default', () => {
    const problems = checkTokens({
        inputs: {
            input_time: { type: 'input.timerange', options: { token: 'tr' } },
            input_user: { type: 'input.text', options: { token: 'user' } },
        },
        defaults: {
            tokens: { default: { action: { value: '*' } } },
            dataSources: { 'ds.search': { options: { queryParameters: { earliest: '$tr.earliest$', latest: '$nope.latest$' } } } },
        },
        dataSources: {
            ds_a: { type: 'ds.search', options: { query: 'a=$action|s$ u=$user$ app=$env:app$ x=$missing$' } },
        },
        visualizations: {
            viz_1: {
                title: 'By $user$ and $ghost$',
                eventHandlers: [{ type: 'drilldown.setToken', options: { tokens: [{ token: 'x', key: '$row.a.value$' }] } }],
            },
        },
    });
    assert.deepStrictEqual(
        problems.map((p) => `${p.item} ${p.problem.split(',')[0]}`),
        [
            'dataSources.ds_a.options.query uses token $missing$',
            'visualizations.viz_1.title uses token $ghost$',
            'defaults.dataSources.ds.search.options.queryParameters.latest uses token $nope.latest$',
        ]
    );
    assert.match(problems[2].fix, /"token": "nope"/);
});

test('data source tokens need a named data source with smart sources enabled', () => {
    const definition = {
        dataSources: {
            ds_a: { type: 'ds.search', name: 'base', options: { query: '`m`', enableSmartSources: true } },
            ds_b: { type: 'ds.search', name: 'quiet', options: { query: '`m`' } },
        },
        visualizations: { viz: { title: '$base:result.count$ and $quiet:job.resultCount$' } },
    };
    const problems = checkTokens(definition);
    assert.strictEqual(problems.length, 1);
    assert.match(problems[0].problem, /\$quiet:job.resultCount\$/);
});

test('with several macros a search may use any one of them, and the message names them all', () => {
    const problems = checkSearchMacro(
        {
            dataSources: {
                first: { type: 'ds.search', options: { query: '`a_index` | stats count' } },
                second: { type: 'ds.search', options: { query: '`b_summaries` | stats count' } },
                neither: { type: 'ds.search', options: { query: '`c_index` | stats count' } },
            },
        },
        ['a_index', 'b_summaries']
    );
    assert.deepStrictEqual(items(problems), ['dataSources.neither.options.query']);
    assert.match(problems[0].problem, /uses none of the macros `a_index`, `b_summaries`/);
});
