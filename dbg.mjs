import { startTestServer } from '/work/main/dist/test/helpers/server.js';
const s = await startTestServer({ logLevel: 'debug' });
const v = '<script>alert(1)</script>';
const fields = { client_id: v, user_code: v, grant_type: v, device_code: v, scope: v, redirect_uri: v, xsrf: v };
const r = await fetch(s.publicUrl + '/device', { method: 'POST', body: new URLSearchParams(fields), headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' } });
console.log(r.status, (await r.text()).slice(-500));
await s.close(); process.exit(0);
