'use strict';
// Unit tests of the search -> static rows substitution (tools/dashboards/lib/sampleData.js).
const test = require('node:test');
const assert = require('node:assert');
const { substituteSampleData } = require('../../tools/dashboards/lib/sampleData');

const definition = {
    defaults: { dataSources: { 'ds.search': { options: { queryParameters: { earliest: '$t.earliest$' } } } } },
    dataSources: {
        ds_base: { type: 'ds.search', name: 'Base', options: { query: '`m`' } },
        ds_chain: { type: 'ds.chain', options: { extend: 'ds_base', query: '| stats count' } },
        ds_static: { type: 'ds.test', options: { data: { fields: [], columns: [] } } },
    },
};

test('rows become ds.test columns, search defaults go, tokens are passed on, the input is untouched', () => {
    const rows = {
        '@tokens': { 't.earliest': '-30d@d' },
        ds_base: { fields: ['a', 'n'], rows: [['x', 1], ['y', 2]] },
        ds_chain: { error: 'boom' },
    };
    const result = substituteSampleData(definition, rows);
    assert.deepStrictEqual(result.problems, []);
    assert.deepStrictEqual(result.tokens, { 't.earliest': '-30d@d' });
    assert.deepStrictEqual(result.definition.dataSources.ds_base, {
        type: 'ds.test',
        name: 'Base',
        options: { data: { fields: [{ name: 'a' }, { name: 'n' }], columns: [['x', 'y'], [1, 2]] } },
    });
    assert.strictEqual(result.definition.dataSources.ds_chain.options.error, 'boom');
    assert.deepStrictEqual(result.definition.dataSources.ds_static, definition.dataSources.ds_static);
    assert.strictEqual(result.definition.defaults.dataSources, undefined);
    assert.strictEqual(definition.dataSources.ds_base.type, 'ds.search');
});

test('a search without rows, a stale entry and a short row are each reported', () => {
    const { problems } = substituteSampleData(definition, {
        ds_base: { fields: ['a', 'n'], rows: [['x', 1], ['y']] },
        ds_renamed: { fields: ['a'], rows: [] },
    });
    assert.strictEqual(problems.length, 3);
    assert.match(problems[0], /rows for "ds_base": row 1 does not have 2 values/);
    assert.match(problems[1], /no sample rows for data source "ds_chain"/);
    assert.match(problems[2], /entry "ds_renamed", but the dashboard has no such search/);
});
