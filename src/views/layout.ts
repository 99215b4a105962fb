import { createHash } from 'node:crypto';
import { html, SafeHtml } from './html.js';

/**
 * The frame of every user-facing page: self-contained (no external fonts, scripts or images), mobile-first, and
 * served with a strict Content-Security-Policy (see `http/security-headers.ts`) that allows only this inline style.
 */
export const STYLE = `
:root{color-scheme:light dark;--fg:#15171a;--bg:#f6f7f9;--card:#fff;--muted:#5b6470;--line:#d5d9df;--accent:#1d5bd6;--accent-fg:#fff;--danger:#b3261e;--ok:#1b7f3b}
@media (prefers-color-scheme:dark){:root{--fg:#eef0f3;--bg:#0f1115;--card:#181b21;--muted:#a3abb7;--line:#2c313a;--accent:#6b9bff;--accent-fg:#0f1115;--danger:#ff8a80;--ok:#7bd88f}}
*{box-sizing:border-box}html{-webkit-text-size-adjust:100%}
body{margin:0;font:17px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:28rem;margin:0 auto;padding:1.25rem 1rem 2rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:1.25rem}
h1{font-size:1.4rem;line-height:1.25;margin:.25rem 0 1rem}
p{margin:.5rem 0}.muted{color:var(--muted);font-size:.92rem}
label{display:block;font-weight:600;margin:.9rem 0 .3rem}
input[type=text],input[type=password]{width:100%;font:inherit;padding:.75rem .8rem;border:1px solid var(--line);border-radius:10px;background:var(--bg);color:var(--fg)}
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
button{font:inherit;font-weight:600;width:100%;min-height:3rem;border-radius:10px;border:2px solid var(--accent);margin-top:1rem;cursor:pointer;background:transparent;color:var(--accent);padding:.5rem .75rem;overflow-wrap:normal;line-height:1.25}
button.primary{background:var(--accent);color:var(--accent-fg)}
button.decline{background:transparent;color:var(--danger);border-color:var(--danger)}
.choices{display:grid;grid-template-columns:1fr 1fr;gap:.75rem}.choices button{margin-top:.5rem}
.numbers{border:0;padding:0;margin:.5rem 0}.numbers legend{font-weight:600}.numbers .choices{grid-template-columns:1fr 1fr 1fr}button.number{font:700 1.5rem/1 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
nav.next{display:grid;gap:.5rem;margin-top:1rem}nav.next a.button{margin-top:0}
form.inline{display:inline}button.link{width:auto;min-height:0;border:0;padding:0;margin:0;text-decoration:underline;font-weight:600;color:var(--accent)}
.error{color:var(--danger);font-weight:600}.success{color:var(--ok)}
.code{font:700 1.6rem/1.2 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;letter-spacing:.12em;text-align:center;padding:.6rem;border:1px dashed var(--line);border-radius:10px}
dl{margin:.5rem 0;display:grid;grid-template-columns:auto 1fr;gap:.3rem .8rem}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
ul.scopes{padding-left:1.2rem;margin:.4rem 0}
[hidden]{display:none!important}.qr-login{text-align:center;margin:1.25rem 0 0;padding-top:1rem;border-top:1px solid var(--line)}.qr-login img{display:block;margin:.5rem auto;background:#fff;width:240px;height:240px}.or{color:var(--muted);font-size:.9rem;margin-top:1rem}.tv{max-width:40rem;margin:0 auto;text-align:center}.tv img{display:block;margin:1rem auto;background:#fff;width:min(320px,80vw);height:auto}
ul.devices{list-style:none;padding:0;margin:0}ul.devices li{margin:.75rem 0}h2{font-size:1.1rem;margin:0 0 .5rem}
a.button{display:flex;align-items:center;justify-content:center;text-align:center;font-weight:600;min-height:3rem;padding:.5rem .75rem;border-radius:10px;border:2px solid var(--accent);margin-top:1rem;text-decoration:none;color:var(--accent);overflow-wrap:normal;line-height:1.25}
a.button.primary{background:var(--accent);color:var(--accent-fg)}a.button.decline{color:var(--danger);border-color:var(--danger)}.choices a.button{margin-top:.5rem}
@media (max-width:40rem){.qr-login{display:none!important}}
button.report{background:transparent;border:0;color:var(--danger);text-decoration:underline;font-weight:600;min-height:2.75rem}
header.brand{max-width:28rem;margin:0 auto;padding:.9rem 1rem 0;display:flex;align-items:center;gap:.5rem;font-weight:700}header.brand a{color:var(--fg);text-decoration:none;display:flex;align-items:center;gap:.5rem}header.brand img{width:28px;height:28px}
`;

/** Handoff's mark: two overlapping rounded screens (a phone handing off to a larger one), as an SVG favicon. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#1d5bd6"/><rect x="10" y="16" width="30" height="22" rx="4" fill="none" stroke="#fff" stroke-width="4"/><rect x="34" y="26" width="18" height="26" rx="4" fill="#1d5bd6" stroke="#fff" stroke-width="4"/><circle cx="43" cy="45" r="2" fill="#fff"/></svg>`;

export function page(opts: { title: string; lang?: string; body: SafeHtml }): string {
  return html`<!doctype html>
<html lang="${opts.lang ?? 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${opts.title} · Handoff</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<style>${new SafeHtml(STYLE)}</style>
</head>
<body><header class="brand"><a href="/"><img src="/favicon.svg" alt="" width="28" height="28">Handoff</a></header><main>${opts.body}</main></body>
</html>`.value;
}

/** The CSP source that allows exactly {@link STYLE} and nothing else. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;
