'use strict';
// Swaps every search for Splunk's static test data source, so a dashboard draws from committed
// sample rows instead of a Splunk server. Rows are written row-wise (easy to read and keep
// consistent); ds.test wants them column-wise.
const fs = require('node:fs');

const SEARCH_TYPES = new Set(['ds.search', 'ds.savedSearch', 'ds.chain']);

// Not a data source id (those match ^[a-zA-Z0-9_-]+$): token values the picture is drawn with,
// e.g. a time range matching the sample rows instead of the dashboard's default.
const TOKENS_KEY = '@tokens';

/**
 * Reads `<view>.rows.json`: `{"<data source id>": {"fields": [names], "rows": [[values]]}}`, plus
 * optionally `"@tokens": {"<token>": "<value>"}`.
 * An entry `{"error": "message"}` makes that search fail, so tests can prove failures are caught.
 * @param {string} file
 * @returns {Record<string, {fields: string[], rows: unknown[][]}>}
 */
function loadRows(file) {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function rowProblems(id, entry) {
    if (entry && typeof entry.error === 'string') {
        return [];
    }
    if (!entry || !Array.isArray(entry.fields) || !Array.isArray(entry.rows)) {
        return [`rows for "${id}" need "fields" (list of names) and "rows" (list of lists)`];
    }
    return entry.rows
        .map((row, i) => (Array.isArray(row) && row.length === entry.fields.length ? null : i))
        .filter((i) => i !== null)
        .map((i) => `rows for "${id}": row ${i} does not have ${entry.fields.length} values (${entry.fields.join(', ')})`);
}

/**
 * Returns a copy of the definition in which each search, saved search and chain is a ds.test
 * holding its rows; every search must have rows and every rows entry must belong to a search.
 * @param {object} definition
 * @param {object} rowsFile parsed rows file
 * @returns {{definition: object, tokens: Record<string, string>, problems: string[]}}
 */
function substituteSampleData(definition, rowsFile) {
    const { [TOKENS_KEY]: tokens = {}, ...rowsById } = rowsFile;
    const copy = JSON.parse(JSON.stringify(definition));
    const problems = [];
    const searches = Object.entries(copy.dataSources || {}).filter(([, ds]) => SEARCH_TYPES.has(ds.type));
    for (const [id, ds] of searches) {
        if (!(id in rowsById)) {
            problems.push(`no sample rows for data source "${id}"; add an entry "${id}" to the rows file`);
            continue;
        }
        const entry = rowsById[id];
        const bad = rowProblems(id, entry);
        problems.push(...bad);
        if (bad.length) {
            continue;
        }
        const options =
            typeof entry.error === 'string'
                ? { error: entry.error, data: { fields: [], columns: [] } }
                : {
                      data: {
                          fields: entry.fields.map((name) => ({ name })),
                          columns: entry.fields.map((_, col) => entry.rows.map((row) => row[col])),
                      },
                  };
        copy.dataSources[id] = { type: 'ds.test', ...(ds.name ? { name: ds.name } : {}), options };
    }
    const searchIds = new Set(searches.map(([id]) => id));
    for (const id of Object.keys(rowsById)) {
        if (!searchIds.has(id)) {
            problems.push(`rows file has an entry "${id}", but the dashboard has no such search; remove or rename it`);
        }
    }
    // Search defaults (time range, refresh) are options ds.test does not accept.
    if (copy.defaults && copy.defaults.dataSources) {
        delete copy.defaults.dataSources;
    }
    return { definition: copy, tokens, problems };
}

module.exports = { loadRows, substituteSampleData };
