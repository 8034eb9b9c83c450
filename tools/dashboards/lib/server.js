'use strict';
// Serves the page over loopback HTTP: Playwright switches the browser cache off when requests are
// intercepted, and a file:// page cannot load its worker, so a tiny real server is the simple way.
const http = require('node:http');
const fs = require('node:fs');

const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dashboard</title>
<link rel="stylesheet" href="/page.css"></head>
<body><div id="root"></div><script src="/page.js"></script></body></html>`;

/**
 * Starts a server on 127.0.0.1 (random port) for the given bundle.
 * @param {{js: string, css: string}} bundle
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
function startPageServer(bundle) {
    const routes = {
        '/': { type: 'text/html; charset=utf-8', body: () => PAGE_HTML },
        '/page.js': { type: 'text/javascript; charset=utf-8', body: () => fs.readFileSync(bundle.js) },
        '/page.css': { type: 'text/css; charset=utf-8', body: () => fs.readFileSync(bundle.css) },
        // Browsers ask for it unprompted; answering keeps a 404 out of the console-error check.
        '/favicon.ico': { type: 'image/x-icon', body: () => '' },
    };
    const server = http.createServer((req, res) => {
        const route = routes[new URL(req.url, 'http://127.0.0.1').pathname];
        if (!route) {
            res.writeHead(404).end();
            return;
        }
        res.writeHead(200, { 'content-type': route.type, 'cache-control': 'max-age=3600' });
        res.end(route.body());
    });
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            resolve({
                url: `http://127.0.0.1:${port}/`,
                close: () => new Promise((done) => server.close(() => done())),
            });
        });
    });
}

module.exports = { startPageServer };
