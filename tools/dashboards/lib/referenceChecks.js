'use strict';
// Checks Splunk's validator does not make but that decide whether a panel shows anything:
// references between items, the add-on's index macro, and tokens nobody sets. Splunk accepts
// all of these and then draws an empty or forever-waiting panel.

const SEARCH_TYPES = new Set(['ds.search']);
// Same shape as the token pattern in Splunk's schema: $ns:name|filter$ with optional namespace and filters.
const TOKEN_RE = /\$(?:(\w+):)?([^$|:]+?)(?:\|[|\w]+)?\$/g;
// Namespaces Splunk fills itself (user, app, page) rather than the dashboard.
const BUILT_IN_NAMESPACES = new Set(['env']);

/** Every string inside a value, with the dotted path to it; event handlers are left out because
 * their $row...$/$click...$ tokens come from the click, not from inputs. */
function* stringsIn(value, pathSoFar) {
    if (typeof value === 'string') {
        yield [pathSoFar, value];
    } else if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i += 1) {
            yield* stringsIn(value[i], `${pathSoFar}.${i}`);
        }
    } else if (value && typeof value === 'object') {
        for (const [key, child] of Object.entries(value)) {
            if (key !== 'eventHandlers') {
                yield* stringsIn(child, `${pathSoFar}.${key}`);
            }
        }
    }
}

/**
 * Every visualization's and input's `dataSources` and every `ds.chain` `extend` must name a data source.
 * @returns {{item: string, problem: string, fix: string}[]}
 */
function checkDataSourceReferences(definition) {
    const dataSources = definition.dataSources || {};
    const known = Object.keys(dataSources);
    const problems = [];
    for (const section of ['visualizations', 'inputs']) {
        for (const [id, item] of Object.entries(definition[section] || {})) {
            for (const [role, dsId] of Object.entries(item.dataSources || {})) {
                if (!(dsId in dataSources)) {
                    problems.push({
                        item: `${section}.${id}.dataSources.${role}`,
                        problem: `names data source "${dsId}", which is not defined`,
                        fix: `define dataSources.${dsId} or use one of ${known.join(', ') || '(none defined)'}`,
                    });
                }
            }
        }
    }
    for (const [id, ds] of Object.entries(dataSources)) {
        if (ds.type !== 'ds.chain') {
            continue;
        }
        const base = ds.options && ds.options.extend;
        if (!(base in dataSources)) {
            problems.push({
                item: `dataSources.${id}.options.extend`,
                problem: `extends "${base}", which is not defined`,
                fix: `set extend to the id of a ds.search (one of ${known.filter((k) => k !== id).join(', ')})`,
            });
            continue;
        }
        // A cycle of chains never reaches a search, so its panels wait for ever.
        const seen = new Set([id]);
        let cursor = base;
        while (cursor in dataSources && dataSources[cursor].type === 'ds.chain') {
            if (seen.has(cursor)) {
                problems.push({
                    item: `dataSources.${id}.options.extend`,
                    problem: `chain loops back to "${cursor}" without reaching a search`,
                    fix: 'make the first data source of the chain a ds.search',
                });
                break;
            }
            seen.add(cursor);
            cursor = dataSources[cursor].options && dataSources[cursor].options.extend;
        }
    }
    return problems;
}

/**
 * Every base search must use one of the add-on's macros (an index macro, or one built on them), so admins
 * choose the indexes in one place. Chains inherit their base's events and are exempt.
 * @param {string | string[]} macros macro names without backticks
 */
function checkSearchMacro(definition, macros) {
    const names = Array.isArray(macros) ? macros : [macros];
    const escaped = names.map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
    const usesMacro = new RegExp(`\`(?:${escaped})(\\([^)\`]*\\))?\``);
    const shown = names.map((m) => `\`${m}\``).join(', ');
    const problems = [];
    for (const [id, ds] of Object.entries(definition.dataSources || {})) {
        if (!SEARCH_TYPES.has(ds.type)) {
            continue;
        }
        const query = (ds.options && ds.options.query) || '';
        if (!usesMacro.test(query)) {
            problems.push({
                item: `dataSources.${id}.options.query`,
                problem: names.length === 1 ? `search does not use the ${shown} macro` : `search uses none of the macros ${shown}`,
                fix: `search through ${names.length === 1 ? shown : `one of ${shown}`} instead of naming an index`,
            });
        }
    }
    return problems;
}

/** Tokens the dashboard itself sets: input tokens (a time range sets .earliest/.latest) and defaults. */
function tokensSet(definition) {
    const set = new Set(Object.keys(((definition.defaults || {}).tokens || {}).default || {}));
    for (const input of Object.values(definition.inputs || {})) {
        const token = input.options && input.options.token;
        if (!token) {
            continue;
        }
        set.add(token);
        if (input.type === 'input.timerange') {
            set.add(`${token}.earliest`);
            set.add(`${token}.latest`);
        }
    }
    return set;
}

/** Data source names whose results and job status Splunk publishes as `$name:...$` tokens. */
function smartSourceNames(definition) {
    return new Set(
        Object.values(definition.dataSources || {})
            .filter((ds) => ds.name && ds.options && ds.options.enableSmartSources)
            .map((ds) => ds.name)
    );
}

/**
 * Every token a search, a visualization or a data source default uses must be set by an input or a
 * default; otherwise Splunk waits for it and the panel stays empty.
 */
function checkTokens(definition) {
    const set = tokensSet(definition);
    const smartSources = smartSourceNames(definition);
    const scanned = [
        ['dataSources', definition.dataSources],
        ['visualizations', definition.visualizations],
        ['defaults.dataSources', (definition.defaults || {}).dataSources],
        ['defaults.visualizations', (definition.defaults || {}).visualizations],
    ];
    const problems = [];
    const reported = new Set();
    for (const [section, value] of scanned) {
        for (const [where, text] of stringsIn(value || {}, section)) {
            for (const match of text.matchAll(TOKEN_RE)) {
                const [literal, namespace, name] = match;
                const key = `${where}|${literal}`;
                if (reported.has(key) || BUILT_IN_NAMESPACES.has(namespace)) {
                    continue;
                }
                if (namespace && namespace !== 'default') {
                    if (!smartSources.has(namespace)) {
                        reported.add(key);
                        problems.push({
                            item: where,
                            problem: `uses ${literal}, but no data source named "${namespace}" publishes tokens`,
                            fix: `give that data source "name": "${namespace}" and "enableSmartSources": true`,
                        });
                    }
                    continue;
                }
                if (!set.has(name)) {
                    reported.add(key);
                    problems.push({
                        item: where,
                        problem: `uses token ${literal}, which no input or default sets`,
                        fix: `add an input with "token": "${name.replace(/\.(earliest|latest)$/, '')}" or defaults.tokens.default.${name}`,
                    });
                }
            }
        }
    }
    return problems;
}

/**
 * All of the above for one (migrated) definition.
 * @param {object} definition
 * @param {{macros: string[]}} options
 * @returns {{item: string, problem: string, fix: string}[]}
 */
function checkReferences(definition, { macros }) {
    return [...checkDataSourceReferences(definition), ...checkSearchMacro(definition, macros), ...checkTokens(definition)];
}

module.exports = { checkReferences, checkDataSourceReferences, checkSearchMacro, checkTokens };
