'use strict';
// Runs Splunk's own validator the way DashboardCore does (migrate, then validate against the
// preset's schema) and turns its raw AJV output into one actionable line per broken item.
const { migrateToTabsLayout, migrateDashboardDefinition } = require('@splunk/dashboard-utils');
const { DashboardValidator } = require('@splunk/dashboard-validation');

// Splunk's schema trips AJV's strict-mode lint on a few keywords; that is noise about Splunk's
// schema, not about our dashboards, so it is kept off the terminal.
function withoutStrictModeWarnings(fn) {
    const { warn, log } = console;
    const keep = (writer) => (...args) => {
        if (!String(args[0]).startsWith('strict mode:')) {
            writer.apply(console, args);
        }
    };
    console.warn = keep(warn);
    console.log = keep(log);
    try {
        return fn();
    } finally {
        console.warn = warn;
        console.log = log;
    }
}

/** `/visualizations/viz_a/options/x` -> `visualizations.viz_a.options.x` (how people name items). */
function itemName(instancePath) {
    return instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
}

function valueAt(definition, instancePath) {
    return instancePath
        .slice(1)
        .split('/')
        .filter(Boolean)
        .reduce((node, key) => (node == null ? undefined : node[key.replace(/~1/g, '/').replace(/~0/g, '~')]), definition);
}

/** The literal words a pattern such as `^right$|^left$` accepts; token and context branches are skipped. */
function literalAlternatives(pattern) {
    return pattern
        .split('|')
        .map((part) => /^\^([\w.-]+)\$$/.exec(part))
        .filter(Boolean)
        .map((m) => m[1]);
}

function editDistance(a, b) {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i += 1) {
        let diagonal = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j += 1) {
            const above = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
            diagonal = above;
        }
    }
    return row[b.length];
}

function suggestion(value, allowed) {
    if (typeof value !== 'string' || !allowed.length) {
        return '';
    }
    // A value that merely extends a real name ("splunk.barchart") most likely meant that name.
    const score = (candidate) =>
        editDistance(value, candidate) - (value.startsWith(candidate) || candidate.startsWith(value) ? 100 : 0);
    const [best] = [...allowed].sort((x, y) => score(x) - score(y));
    return editDistance(value, best) <= Math.max(2, Math.floor(value.length / 2)) ? ` (did you mean "${best}"?)` : '';
}

/** Condenses all AJV errors reported at one path into a single problem with a concrete fix. */
function describePathErrors(definition, instancePath, errors) {
    const item = itemName(instancePath) || '(definition)';
    const value = valueAt(definition, instancePath);
    const shown = JSON.stringify(value);
    const allowed = new Set();
    const types = new Set();
    const messages = new Set();
    for (const error of errors) {
        if (error.keyword === 'enum') {
            error.params.allowedValues.forEach((v) => allowed.add(v));
        } else if (error.keyword === 'pattern') {
            literalAlternatives(error.params.pattern).forEach((v) => allowed.add(v));
        } else if (error.keyword === 'type') {
            String(error.params.type).split(',').forEach((t) => types.add(t));
        } else if (error.keyword === 'additionalProperties') {
            return {
                item,
                problem: `unknown property "${error.params.additionalProperty}"`,
                fix: `remove "${error.params.additionalProperty}" or correct its spelling`,
            };
        } else if (error.keyword === 'required') {
            return {
                item,
                problem: `missing required property "${error.params.missingProperty}"`,
                fix: `add "${error.params.missingProperty}"`,
            };
        } else if (!['anyOf', 'oneOf'].includes(error.keyword)) {
            messages.add(error.message);
        }
    }
    if (allowed.size) {
        const list = [...allowed].sort();
        return {
            item,
            problem: `${shown} is not an allowed value${suggestion(value, list)}`,
            fix: `use one of ${list.join(', ')}`,
        };
    }
    if (types.size && !messages.size) {
        return { item, problem: `${shown} has the wrong type`, fix: `use a ${[...types].join(' or ')}` };
    }
    const all = [...messages, ...[...types].map((t) => `must be ${t}`)];
    return { item, problem: `${shown}: ${all.join('; ')}`, fix: 'change the value to satisfy the schema' };
}

// DashboardValidator's own cross-checks report a fixed headline as the "path"; each gets its fix.
const STRUCTURE_FIXES = [
    [/not present in layout structure|not present in any Layout/i, 'place it in the layout structure or delete it'],
    [/not present in the global inputs|defined but not used/i, 'add it to layout.globalInputs or a layout structure, or delete it'],
    [/does not exist/i, 'define the referenced item or remove the reference'],
    [/duplicated|same (key|token|layout)/i, 'give each item its own id/token'],
    [/data source .* (unnamed|invalid name)|same name/i, 'give the data source a unique name of letters, digits, _ - .'],
];

function describeStructureError(error) {
    const headline = String(error.instancePath || '').replace(/^Error:\s*/, '');
    const text = `${headline} ${error.message || ''}`;
    const fix = (STRUCTURE_FIXES.find(([re]) => re.test(text)) || [null, 'see the message'])[1];
    return { item: headline || 'definition', problem: error.message || headline, fix };
}

/**
 * Turns DashboardValidator output into problems; AJV path errors are grouped per path and the
 * summary errors of `if`/`anyOf` wrappers are dropped when a more specific error explains them.
 * @returns {{item: string, problem: string, fix: string}[]}
 */
function describeErrors(definition, errors) {
    const byPath = new Map();
    const problems = [];
    for (const error of errors) {
        if (typeof error.instancePath === 'string' && error.instancePath.startsWith('/')) {
            if (error.keyword === 'if') {
                continue;
            }
            if (!byPath.has(error.instancePath)) {
                byPath.set(error.instancePath, []);
            }
            byPath.get(error.instancePath).push(error);
        } else {
            problems.push(describeStructureError(error));
        }
    }
    const paths = [...byPath.keys()];
    for (const [instancePath, group] of byPath) {
        const onlySummaries = group.every((e) => ['anyOf', 'oneOf'].includes(e.keyword));
        const explainedDeeper = paths.some((p) => p !== instancePath && p.startsWith(`${instancePath}/`));
        if (onlySummaries && explainedDeeper) {
            continue;
        }
        problems.push(describePathErrors(definition, instancePath, group));
    }
    return problems;
}

/**
 * Builds a validator for one schema snapshot; compiling the schema is the slow part (~2 s), so one
 * instance serves every dashboard.
 * @param {{schema: object, visualizationTypes: string[]}} snapshot
 */
function createSchemaValidator(snapshot) {
    const validator = new DashboardValidator();
    const failure = withoutStrictModeWarnings(() => validator.setSchema(snapshot.schema));
    if (failure) {
        throw failure;
    }
    const preset = { visualizations: Object.fromEntries(snapshot.visualizationTypes.map((t) => [t, true])) };
    return {
        /**
         * @param {object} definition as read from the view
         * @returns {{definition: object, problems: {item: string, problem: string, fix: string}[]}}
         *     the migrated definition (what Splunk would draw) and Splunk's objections to it
         */
        validate(definition) {
            const tabs = migrateToTabsLayout({ definition });
            if (!tabs.success) {
                return {
                    definition,
                    problems: [{ item: 'layout', problem: tabs.reason, fix: 'give the definition a layout object' }],
                };
            }
            const migrated = migrateDashboardDefinition({ definition: tabs.definition, preset });
            const errors = validator.validate(migrated) || [];
            return { definition: migrated, problems: describeErrors(migrated, errors) };
        },
    };
}

module.exports = { createSchemaValidator };
