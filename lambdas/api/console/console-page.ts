/**
 * The console's HTML shell and style sheet, served by {@link consoleRoutes}. The shell holds no
 * data and no inline script or style: the script (`console-script.ts`) fills `<main>` from the
 * HTTP API, so every byte of user input reaches the page as text.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>reel-pipeline console</title>
<link rel="stylesheet" href="/console/console.css">
<script src="/console/console.js" defer></script>
</head>
<body data-poll-ms="2000">
<a class="skip" href="#main">Skip to content</a>
<header>
<strong class="brand">reel-pipeline</strong>
<nav aria-label="Console">
<a href="#/" data-section="tasks">Tasks</a>
<a href="#/queue" data-section="queue">Export queue</a>
<a href="#/submit" data-section="submit">Submit</a>
</nav>
</header>
<main id="main" tabindex="-1"><noscript>The console needs JavaScript; the same data is at /api/pipeline/tasks.</noscript></main>
<div id="live" class="visually-hidden" aria-live="polite"></div>
</body>
</html>
`;

export const CONSOLE_CSS = `:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #59636e; --line: #d1d9e0; --ok: #1a7f37; --bad: #cf222e; --run: #0969da; --wait: #9a6700; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --line: #3d444d; --ok: #3fb950; --bad: #f85149; --run: #4493f8; --wait: #d29922; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
nav a { margin-right: 1rem; color: inherit; }
nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
main { padding: 1rem; max-width: 1200px; }
main:focus { outline: none; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
code { font-family: ui-monospace, monospace; font-size: .9em; word-break: break-all; }
.task-id code, td a code { white-space: nowrap; word-break: normal; }
.filters, .actions { display: flex; flex-wrap: wrap; gap: .8rem; align-items: end; margin-bottom: 1rem; }
input, select, textarea, button { font: inherit; }
input:not([type]), textarea, select { padding: .3rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
button { padding: .35rem .9rem; border-radius: 4px; border: 1px solid var(--line); background: var(--run); color: #fff; cursor: pointer; }
button:disabled { background: var(--line); color: var(--muted); cursor: default; }
.status { font-weight: 700; font-family: ui-monospace, monospace; }
.status-succeeded { color: var(--ok); } .status-failed { color: var(--bad); } .status-running { color: var(--run); } .status-cancelled { color: var(--muted); }
.failure { color: var(--bad); }
.error, .failure-box { border: 1px solid var(--bad); border-left-width: 5px; padding: .5rem .8rem; margin: .8rem 0; border-radius: 4px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; }
.gantt { list-style: none; padding: 0; margin: 0; }
.stage { display: grid; grid-template-columns: 5rem minmax(200px, 2fr) 3fr; gap: .8rem; align-items: center; padding: .3rem 0; border-bottom: 1px solid var(--line); }
.stage-name { font-weight: 600; }
.track { position: relative; height: 1.1rem; background: color-mix(in srgb, var(--line) 40%, transparent); border-radius: 3px; }
.seg { position: absolute; top: 0; bottom: 0; border-radius: 3px; }
.seg-queued { background: repeating-linear-gradient(45deg, var(--wait), var(--wait) 4px, transparent 4px, transparent 8px); border: 1px solid var(--wait); }
.seg-wait { background: repeating-linear-gradient(-45deg, var(--muted), var(--muted) 3px, transparent 3px, transparent 6px); border: 1px solid var(--muted); }
.seg-running { background: var(--run); } .seg-succeeded { background: var(--ok); } .seg-failed { background: var(--bad); }
.stage-words { color: var(--muted); font-size: .9em; }
.field { display: flex; flex-direction: column; gap: .2rem; margin-bottom: .8rem; max-width: 36rem; }
.field small { color: var(--muted); }
.artifacts video { display: block; max-height: 480px; background: #000; margin-bottom: .8rem; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: .5rem; background: var(--bg); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;
