'use strict';
// The validate command: Splunk's schema validation plus the add-on's own reference checks, for
// each view file, as a list of problems per view.
const { readViewFile } = require('./viewFile');
const { loadSnapshot } = require('./schemaSnapshot');
const { createSchemaValidator } = require('./schemaValidation');
const { checkReferences } = require('./referenceChecks');

// The add-on's index macros and the macros built on them: every dashboard search goes through one.
const INDEX_MACROS = [
    'ringcentral_audit_index',
    'liveperson_audit_index',
    'resolver_audit_index',
    'audit_trail_summaries',
    'audit_trail_internal_log',
];

/**
 * @param {string[]} files view XML files
 * @param {{macros?: string[]}} [options]
 * @returns {{view: string, file: string, definition: object | null,
 *            problems: {item: string, problem: string, fix: string}[]}[]}
 */
function validateViews(files, { macros = INDEX_MACROS } = {}) {
    const validator = createSchemaValidator(loadSnapshot());
    return files.map((file) => {
        const { view, definition, problem } = readViewFile(file);
        if (problem) {
            return { view, file, definition: null, problems: [{ item: 'definition', problem, fix: '' }] };
        }
        const result = validator.validate(definition);
        let references;
        try {
            references = checkReferences(result.definition, { macros });
        } catch (err) {
            // A definition too malformed to walk has already failed the schema; say so instead of crashing.
            references = result.problems.length
                ? []
                : [{ item: 'definition', problem: `cannot be checked: ${err.message}`, fix: 'fix the structure' }];
        }
        return { view, file, definition: result.definition, problems: [...result.problems, ...references] };
    });
}

/** One line per problem: dashboard, item, what is wrong and how to fix it. */
function formatProblem(view, { item, problem, fix }) {
    return `${view}: ${item}: ${problem}${fix ? `; fix: ${fix}` : ''}`;
}

module.exports = { validateViews, formatProblem, INDEX_MACROS };
