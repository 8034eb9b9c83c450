'use strict';
// Splunk stores a Dashboard Studio definition as JSON inside the view's CDATA; everything else in
// the XML is metadata Splunk reads on its own, so only that JSON is handed to the validators.
const fs = require('node:fs');
const path = require('node:path');

const DEFINITION_RE = /<definition\b[^>]*>\s*<!\[CDATA\[([\s\S]*?)\]\]>\s*<\/definition>/;
const ROOT_RE = /<dashboard\b([^>]*)>/;

/** Line and column (1-based) of a character offset, for JSON errors an editor can jump to. */
function lineColumn(text, offset) {
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * Reads a Dashboard Studio view and returns its parsed definition, or the reason it cannot be read.
 * @param {string} file path to a `default/data/ui/views/*.xml`
 * @returns {{view: string, definition: object | null, problem: string | null}}
 */
function readViewFile(file) {
    const view = path.basename(file, '.xml');
    const xml = fs.readFileSync(file, 'utf8');
    const root = ROOT_RE.exec(xml);
    if (!root) {
        return { view, definition: null, problem: 'no <dashboard> root element; a Studio view starts with <dashboard version="2">' };
    }
    if (!/\bversion\s*=\s*"2"/.test(root[1])) {
        return { view, definition: null, problem: '<dashboard> lacks version="2", so Splunk would open it as a Classic (Simple XML) dashboard' };
    }
    const match = DEFINITION_RE.exec(xml);
    if (!match) {
        return { view, definition: null, problem: 'no <definition><![CDATA[ ... ]]></definition>; wrap the JSON definition in CDATA' };
    }
    try {
        return { view, definition: JSON.parse(match[1]), problem: null };
    } catch (err) {
        const position = /position (\d+)/.exec(err.message);
        const where = position
            ? ` at line ${lineColumn(xml, match.index + match[0].indexOf(match[1]) + Number(position[1])).line}`
            : '';
        return { view, definition: null, problem: `definition is not valid JSON${where} (${err.message}); fix the JSON syntax` };
    }
}

module.exports = { readViewFile };
