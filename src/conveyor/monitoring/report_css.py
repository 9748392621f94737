"""The stylesheet of the monitoring report, inlined in its ``<style>``: the page needs no
network to look right."""

from __future__ import annotations

CSS = """
:root{--ok:#2b8a3e;--warn:#e67700;--drift:#c92a2a;--na:#868e96;--ink:#212529;--soft:#f8f9fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#fff}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px}h1 small,h2 small{font-weight:400;color:#6c757d}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
.meta{margin:0;color:#6c757d}.badges{margin:10px 0 0}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;color:#fff;font-size:12px;font-weight:600;margin-right:6px;background:var(--na)}
.badge.ok{background:var(--ok)}.badge.warn{background:var(--warn)}.badge.drift{background:var(--drift)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin-top:20px}
.card{background:var(--soft);border-radius:8px;padding:10px 14px}
.card .k{color:#6c757d;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600}.card .s{color:#6c757d;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px;margin-top:8px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e9ecef;vertical-align:top}
th{background:var(--soft);font-weight:600}
table.drift td{white-space:nowrap}table.drift td.name,table.drift td.why{white-space:normal}
td.name{font-weight:600;word-break:break-word}td.why{color:#495057;font-size:12px}
tr.drift td.name{color:var(--drift)}tr.warn td.name{color:var(--warn)}
.tag{font-size:11px;font-weight:400;color:#6c757d;border:1px solid #ced4da;border-radius:4px;padding:0 4px}
.notice{background:#fff9db;border-left:4px solid #fab005;padding:10px 14px;margin:10px 0;border-radius:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:16px}
figure.plot{margin:8px 0;background:#fff;border:1px solid #e9ecef;border-radius:8px;padding:8px}
figure.plot svg{max-width:100%;height:auto;display:block}
figcaption{color:#495057;font-size:12px;margin-top:4px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f3f5;padding:1px 4px;border-radius:3px}
footer{margin-top:32px;color:#6c757d;font-size:12px}
"""
