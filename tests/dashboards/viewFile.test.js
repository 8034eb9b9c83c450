'use strict';
// Unit tests of reading a Studio view's definition (tools/dashboards/lib/viewFile.js).
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { readViewFile } = require('../../tools/dashboards/lib/viewFile');

function view(xml) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'viewfile-'));
    try {
        const file = path.join(dir, 'my_view.xml');
        fs.writeFileSync(file, xml);
        return readViewFile(file);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

test('the JSON inside CDATA is the definition', () => {
    const result = view('<dashboard version="2" theme="dark">\n<definition><![CDATA[ {"title": "t"} ]]></definition></dashboard>');
    assert.deepStrictEqual(result, { view: 'my_view', definition: { title: 't' }, problem: null });
});

test('a Classic dashboard, a definition without CDATA and broken JSON are refused with the reason', () => {
    assert.match(view('<dashboard><label>x</label></dashboard>').problem, /lacks version="2"/);
    assert.match(view('<dashboard version="2"><definition>{}</definition></dashboard>').problem, /CDATA/);
    const broken = view('<dashboard version="2">\n<definition><![CDATA[\n{\n  "title": "t",\n}\n]]></definition></dashboard>');
    assert.match(broken.problem, /not valid JSON at line 5/);
});
