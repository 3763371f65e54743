/**
 * The console's one script, served as `/console/console.js` (the page's Content-Security-Policy
 * allows no inline script). Plain browser JavaScript kept as a string: the API function is
 * bundled by esbuild and minified, so a function's source text would not survive as code.
 *
 * Every text the API returns reaches the page through `textContent` (the `el` helper below):
 * ids, names and error sentences are user input and are never parsed as HTML. The page talks
 * only to this host's `/api/` routes, polling with `If-None-Match` (see docs/console.md).
 */
export const CONSOLE_SCRIPT = String.raw`(function () {
  'use strict';
  var API = '/api/pipeline';
  var STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];
  var STAGES = ['story', 'tts', 'draft', 'export'];
  var POLL_MS = Number(document.body.getAttribute('data-poll-ms')) || 2000;
  var main = document.getElementById('main');
  var live = document.getElementById('live');
  var poller = null;
  var view = 0;
  var cache = {};

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') node.textContent = String(v);
        else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function announce(text) { live.textContent = text; }
  function fmtTime(iso) { if (!iso) return ''; var d = new Date(iso); return isNaN(d) ? String(iso) : d.toLocaleString(); }
  function secs(ms) { var s = Math.max(0, ms / 1000); return s < 90 ? s.toFixed(1) + ' s' : (s / 60).toFixed(1) + ' min'; }
  function bytes(n) { return n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : (n / 1048576).toFixed(1) + ' MiB'; }

  function getJson(url) {
    var cached = cache[url];
    var headers = { accept: 'application/json' };
    if (cached) headers['if-none-match'] = cached.etag;
    return fetch(url, { headers: headers, cache: 'no-store' }).then(function (res) {
      if (res.status === 304 && cached) return { status: 200, body: cached.body, changed: false };
      return res.json().catch(function () { return null; }).then(function (body) {
        var etag = res.headers.get('etag');
        if (res.ok && etag) cache[url] = { etag: etag, body: body };
        return { status: res.status, body: body, changed: true };
      });
    });
  }
  function send(method, url, body, type) {
    var init = { method: method, headers: { accept: 'application/json' } };
    if (body !== undefined) { init.body = body; init.headers['content-type'] = type || 'application/json'; }
    return fetch(url, init).then(function (res) {
      return res.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = { error: 'unreadable_answer', message: text.slice(0, 300) }; }
        return { status: res.status, body: parsed };
      });
    }, function (err) { return { status: 0, body: { error: 'network_error', message: 'The API could not be reached: ' + err.message } }; });
  }
  function errorBox(answer, what) {
    var b = answer.body || {};
    var box = el('div', { class: 'error', role: 'alert' }, [
      el('strong', { text: (what ? what + ': ' : '') + 'HTTP ' + answer.status + ' ' }),
      el('code', { class: 'error-code', text: b.error || 'unknown_error' }),
      ' ',
      el('span', { class: 'error-message', text: b.message || '' }),
    ]);
    if (Array.isArray(b.details) && b.details.length) {
      box.appendChild(el('ul', null, b.details.map(function (d) {
        return el('li', null, [el('code', { text: d.field }), ' ', d.problem]);
      })));
    }
    return box;
  }
  function statusBadge(status) { return el('span', { class: 'status status-' + String(status).toLowerCase(), text: status }); }
  function failureText(error) { return error ? error.stage + ' · ' + error.code + ' · ' + error.message : ''; }
  function poll(fn) {
    var mine = view;
    function tick() {
      if (mine !== view) return;
      Promise.resolve(fn()).catch(function (e) { announce('Update failed: ' + e.message); }).then(function () {
        if (mine === view) poller = setTimeout(tick, POLL_MS);
      });
    }
    tick();
  }

  // Tasks, newest first, with filters kept in the address (#/?status=FAILED&creator_id=…).
  function renderTasks(params) {
    var status = params.get('status') || '';
    var creator = params.get('creator_id') || '';
    var video = params.get('video_id') || '';
    var form = el('form', { class: 'filters', 'aria-label': 'Filter tasks', onsubmit: function (ev) {
      ev.preventDefault();
      var q = new URLSearchParams();
      var data = new FormData(form);
      ['status', 'creator_id', 'video_id'].forEach(function (k) { var v = String(data.get(k) || '').trim(); if (v) q.set(k, v); });
      location.hash = '#/' + (q.toString() ? '?' + q.toString() : '');
    } }, [
      el('label', null, ['Status ', el('select', { name: 'status', id: 'filter-status' }, [el('option', { value: '', text: 'any' })].concat(
        STATUSES.map(function (s) { return el('option', { value: s, selected: s === status, text: s }); })))]),
      el('label', null, ['Creator ', el('input', { name: 'creator_id', id: 'filter-creator', value: creator, autocomplete: 'off' })]),
      el('label', null, ['Video ', el('input', { name: 'video_id', id: 'filter-video', value: video, autocomplete: 'off' })]),
      el('button', { type: 'submit', text: 'Filter' }),
    ]);
    var note = el('div', { id: 'tasks-error' });
    var body = el('tbody', { id: 'task-rows' });
    var table = el('table', { class: 'tasks' }, [
      el('caption', { text: 'Tasks, newest first' }),
      el('thead', null, [el('tr', null, ['Task', 'Status', 'Creator', 'Video', 'Account', 'Created', 'Stage', 'Failure'].map(function (t) { return el('th', { scope: 'col', text: t }); }))]),
      body,
    ]);
    main.appendChild(el('h1', { text: 'Tasks' }));
    main.appendChild(form);
    main.appendChild(note);
    main.appendChild(table);
    var q = new URLSearchParams();
    if (status) q.set('status', status);
    if (creator) q.set('creator_id', creator);
    if (video) q.set('video_id', video);
    q.set('limit', '50');
    var url = API + '/tasks?' + q.toString();
    poll(function () {
      return getJson(url).then(function (a) {
        if (a.status !== 200) { clear(note); note.appendChild(errorBox(a, 'Listing tasks')); clear(body); return; }
        if (!a.changed) return;
        clear(note);
        clear(body);
        var tasks = a.body.tasks || [];
        if (!tasks.length) body.appendChild(el('tr', null, [el('td', { colspan: 8, text: 'No task matches.' })]));
        tasks.forEach(function (t) {
          body.appendChild(el('tr', { 'data-task-id': t.task_id }, [
            el('td', null, [el('a', { href: '#/task/' + encodeURIComponent(t.task_id), class: 'task-id' }, [el('code', { text: t.task_id })])]),
            el('td', null, [statusBadge(t.status)]),
            el('td', { text: t.creator_id }),
            el('td', { text: t.video_id }),
            el('td', { text: t.account_name || '' }),
            el('td', null, [el('time', { datetime: t.created_at, text: fmtTime(t.created_at) })]),
            el('td', { text: t.stage }),
            el('td', { class: 'failure', text: failureText(t.error) }),
          ]));
        });
        announce(tasks.length + ' task(s) shown');
      });
    });
  }

  function gantt(task) {
    var now = Date.now();
    var t0 = Date.parse(task.created_at);
    var end = task.ended_at ? Date.parse(task.ended_at) : now;
    STAGES.forEach(function (s) {
      var st = task.stages[s] || {};
      [st.queued_at, st.started_at, st.ended_at].forEach(function (x) { if (x) end = Math.max(end, Date.parse(x)); });
    });
    var span = Math.max(1, end - t0);
    function pct(ms) { return (Math.max(0, Math.min(span, ms - t0)) / span) * 100; }
    function seg(kind, from, to, label) {
      var left = pct(from);
      // Through the CSSOM: the policy allows no style attribute.
      var node = el('span', { class: 'seg seg-' + kind, title: label });
      node.style.left = left.toFixed(2) + '%';
      node.style.width = Math.max(0.6, pct(to) - left).toFixed(2) + '%';
      return node;
    }
    var list = el('ol', { class: 'gantt', 'aria-label': 'Stage timeline' });
    STAGES.forEach(function (s) {
      var st = task.stages[s] || { status: 'pending', attempts: 0 };
      var track = el('div', { class: 'track' });
      var words = [st.status];
      var running = st.status === 'running' || st.status === 'queued';
      var stop = st.ended_at ? Date.parse(st.ended_at) : running ? (task.ended_at ? Date.parse(task.ended_at) : now) : null;
      if (st.queued_at) {
        var qEnd = st.started_at && Date.parse(st.started_at) >= Date.parse(st.queued_at) ? Date.parse(st.started_at) : (st.status === 'queued' ? stop : Date.parse(st.queued_at));
        if (qEnd !== null) { track.appendChild(seg('queued', Date.parse(st.queued_at), qEnd, 'queued')); words.push('queued ' + secs(qEnd - Date.parse(st.queued_at))); }
      }
      if (st.started_at && st.status !== 'queued' && stop !== null) {
        track.appendChild(seg(st.status, Date.parse(st.started_at), stop, st.status));
        words.push((st.status === 'running' ? 'running ' : 'ran ') + secs(stop - Date.parse(st.started_at)));
      }
      if (st.status === 'failed' && !st.started_at && task.ended_at) {
        // Failed before it could record a start: a mark where the task ended.
        track.appendChild(seg('failed', Date.parse(task.ended_at) - span * 0.01, Date.parse(task.ended_at), 'failed'));
      }
      var waits = st.rate_limit_waits || [];
      var waited = 0;
      waits.forEach(function (w) {
        waited += w.seconds;
        track.appendChild(seg('wait', Date.parse(w.at), Date.parse(w.at) + w.seconds * 1000, 'rate-limit wait ' + w.seconds + ' s (' + w.provider + ')'));
      });
      var retried = st.attempts - 1 - waits.length;
      if (st.attempts > 1) words.push(st.attempts + ' attempts' + (retried > 0 ? ' (' + retried + ' retried)' : ''));
      else if (st.attempts === 1) words.push('1 attempt');
      if (waits.length) words.push(waits.length + ' rate-limit wait' + (waits.length > 1 ? 's' : '') + ', ' + waited + ' s');
      if (st.error) words.push((st.status === 'queued' ? 'waiting: ' : 'error: ') + st.error.code + ' — ' + st.error.message);
      list.appendChild(el('li', { class: 'stage stage-' + st.status, 'data-stage': s }, [
        el('span', { class: 'stage-name', text: s }),
        track,
        el('span', { class: 'stage-words', text: words.join(' · ') }),
      ]));
    });
    return list;
  }

  function artifactList(task) {
    var arts = task.artifacts || [];
    var wrap = el('div', { class: 'artifacts' });
    var video = arts.filter(function (a) { return /\.mp4$/.test(a.name); })[0];
    if (video) wrap.appendChild(el('video', { id: 'player', controls: true, preload: 'metadata', src: video.url, width: 270 }));
    var groups = { Draft: [], Captions: [], Video: [], Other: [] };
    arts.forEach(function (a) {
      var g = /\.mp4$/.test(a.name) ? 'Video' : /\.srt$|\.vtt$/.test(a.name) ? 'Captions' : /draft|capcut|\.tar$/i.test(a.name) ? 'Draft' : 'Other';
      groups[g].push(a);
    });
    Object.keys(groups).forEach(function (g) {
      if (!groups[g].length) return;
      wrap.appendChild(el('h3', { text: g }));
      wrap.appendChild(el('ul', null, groups[g].map(function (a) {
        return el('li', null, [el('a', { href: a.url, download: a.name.split('/').pop(), class: 'artifact', text: a.name }), ' ', el('small', { text: bytes(a.size) })]);
      })));
    });
    if (!arts.length) wrap.appendChild(el('p', { text: task.status === 'RUNNING' ? 'No artifact yet.' : 'No artifact.' }));
    return wrap;
  }

  function renderTask(id) {
    var url = API + '/tasks/' + encodeURIComponent(id);
    var head = el('div', { id: 'task-head' });
    var actions = el('div', { class: 'actions' });
    var actionNote = el('div', { id: 'action-note' });
    var timeline = el('section', { 'aria-labelledby': 'h-timeline' });
    var artifacts = el('section', { 'aria-labelledby': 'h-artifacts' });
    var shownArtifacts = null;
    var current = null;
    main.appendChild(el('h1', null, ['Task ', el('code', { id: 'task-id', text: id })]));
    main.appendChild(head);
    main.appendChild(actions);
    main.appendChild(actionNote);
    main.appendChild(el('h2', { id: 'h-timeline', text: 'Stages' }));
    main.appendChild(timeline);
    main.appendChild(el('h2', { id: 'h-artifacts', text: 'Artifacts' }));
    main.appendChild(artifacts);
    function act(kind) {
      return function () {
        clear(actionNote);
        send('POST', url + '/' + kind).then(function (a) {
          if (a.status >= 300) actionNote.appendChild(errorBox(a, kind === 'cancel' ? 'Cancel' : 'Retry'));
          else announce(kind === 'cancel' ? 'Task cancelled' : 'Task retried');
          delete cache[url];
        });
      };
    }
    var cancelButton = el('button', { id: 'cancel', type: 'button', onclick: act('cancel'), text: 'Cancel' });
    var retryButton = el('button', { id: 'retry', type: 'button', onclick: act('retry'), text: 'Retry' });
    actions.appendChild(cancelButton);
    actions.appendChild(retryButton);
    poll(function () {
      return getJson(url).then(function (a) {
        if (a.status !== 200) { clear(head); head.appendChild(errorBox(a, 'Task')); cancelButton.disabled = true; retryButton.disabled = true; return; }
        var t = a.body;
        if (a.changed || !current) {
          if (current && current.status !== t.status) announce('Task is now ' + t.status);
          current = t;
          clear(head);
          head.appendChild(el('dl', { class: 'facts' }, [
            el('dt', { text: 'Status' }), el('dd', null, [statusBadge(t.status)]),
            el('dt', { text: 'Creator' }), el('dd', { text: t.creator_id }),
            el('dt', { text: 'Video' }), el('dd', { text: t.video_id }),
            el('dt', { text: 'Account' }), el('dd', { text: t.account_name || '—' }),
            el('dt', { text: 'Stage' }), el('dd', { text: t.stage }),
            el('dt', { text: 'Created' }), el('dd', { text: fmtTime(t.created_at) }),
            el('dt', { text: 'Ended' }), el('dd', { text: fmtTime(t.ended_at) || '—' }),
            el('dt', { text: 'Retries' }), el('dd', { text: String(t.redrives || 0) }),
          ]));
          if (t.error) {
            head.appendChild(el('div', { class: 'failure-box', role: 'alert', id: 'failure' }, [
              el('p', null, ['Failed at ', el('strong', { class: 'failure-stage', text: t.error.stage }), ' with ', el('code', { class: 'failure-code', text: t.error.code })]),
              el('p', { class: 'failure-message', text: t.error.message }),
            ]));
          }
          cancelButton.disabled = t.status !== 'RUNNING';
          retryButton.disabled = t.status !== 'FAILED' && t.status !== 'CANCELLED';
          var names = JSON.stringify((t.artifacts || []).map(function (x) { return x.name + ':' + x.size; }));
          if (names !== shownArtifacts) { shownArtifacts = names; clear(artifacts); artifacts.appendChild(artifactList(t)); }
        }
        clear(timeline);
        timeline.appendChild(gantt(current));
      });
    });
  }

  function renderQueue() {
    var summary = el('div', { id: 'queue-summary' });
    var renderingBody = el('tbody', { id: 'rendering-rows' });
    var queuedBody = el('tbody', { id: 'queued-rows' });
    function table(caption, cols, body) {
      return el('table', null, [el('caption', { text: caption }), el('thead', null, [el('tr', null, cols.map(function (c) { return el('th', { scope: 'col', text: c }); }))]), body]);
    }
    function taskCell(r) { return el('td', null, [el('a', { href: '#/task/' + encodeURIComponent(r.task_id) }, [el('code', { text: r.task_id })])]); }
    main.appendChild(el('h1', { text: 'Export queue' }));
    main.appendChild(summary);
    main.appendChild(table('Rendering now', ['Task', 'Creator', 'Video', 'Started', 'Elapsed', 'Expected end'], renderingBody));
    main.appendChild(table('Queued, in the order they will render', ['#', 'Task', 'Creator', 'Video', 'Queued', 'Expected start', 'Note'], queuedBody));
    poll(function () {
      return getJson(API + '/export-queue').then(function (a) {
        if (a.status !== 200) { clear(summary); summary.appendChild(errorBox(a, 'Export queue')); return; }
        var q = a.body;
        clear(summary);
        var pctBusy = (q.utilization.ratio * 100).toFixed(1);
        summary.appendChild(el('dl', { class: 'facts' }, [
          el('dt', { text: 'Mean export time' }), el('dd', { id: 'mean-export', text: q.mean_export_seconds + ' s ' + (q.mean_samples ? '(last ' + q.mean_samples + ')' : '(assumed; none measured yet)') }),
          el('dt', { text: 'Exporter busy, last hour' }), el('dd', null, [el('meter', { min: 0, max: 1, value: q.utilization.ratio, id: 'utilization' }), ' ' + pctBusy + ' % (' + q.utilization.busy_seconds + ' s)']),
          el('dt', { text: 'Still preparing' }), el('dd', { text: q.preparing + ' task(s) in story, tts or draft' }),
        ]));
        if (!a.changed) return;
        clear(renderingBody);
        clear(queuedBody);
        if (!q.rendering.length) renderingBody.appendChild(el('tr', null, [el('td', { colspan: 6, text: 'Nothing renders now.' })]));
        q.rendering.forEach(function (r) {
          renderingBody.appendChild(el('tr', { 'data-task-id': r.task_id }, [taskCell(r), el('td', { text: r.creator_id }), el('td', { text: r.video_id }), el('td', { text: fmtTime(r.started_at) }), el('td', { text: r.elapsed_seconds + ' s' }), el('td', { text: fmtTime(r.estimated_end_at) })]));
        });
        if (!q.queued.length) queuedBody.appendChild(el('tr', null, [el('td', { colspan: 7, text: 'The queue is empty.' })]));
        q.queued.forEach(function (r) {
          queuedBody.appendChild(el('tr', { 'data-task-id': r.task_id }, [el('td', { text: r.position }), taskCell(r), el('td', { text: r.creator_id }), el('td', { text: r.video_id }), el('td', { text: fmtTime(r.queued_at) }), el('td', { class: 'eta', text: fmtTime(r.estimated_start_at) }), el('td', { text: r.note ? r.note.code + ': ' + r.note.message : '' })]));
        });
      });
    });
  }

  function renderSubmit() {
    var result = el('div', { id: 'submit-result', 'aria-live': 'polite' });
    function field(label, input, hint) { return el('div', { class: 'field' }, [el('label', { for: input.id, text: label }), input, hint ? el('small', { text: hint }) : null]); }
    var form = el('form', { id: 'submit-form', 'aria-label': 'Submit a task' }, [
      field('Creator id', el('input', { id: 'creator_id', name: 'creator_id', required: true, autocomplete: 'off' }), '1–64 of A–Z a–z 0–9 _ -'),
      field('Video id', el('input', { id: 'video_id', name: 'video_id', required: true, autocomplete: 'off' }), '1–64 of A–Z a–z 0–9 _ -'),
      field('Account name', el('input', { id: 'account_name', name: 'account_name', autocomplete: 'off' }), 'shown only; letters, digits, _ -'),
      field('Voice', el('select', { id: 'gender', name: 'gender' }, [el('option', { value: '0', text: 'provider default' }), el('option', { value: '1', text: 'male' }), el('option', { value: '2', text: 'female' })])),
      el('div', { class: 'field' }, [el('label', null, [el('input', { type: 'checkbox', id: 'export_video', name: 'export_video', checked: true }), ' Export the video (mp4)'])]),
      field('Source text', el('textarea', { id: 'source_text', name: 'source_text', rows: 6 }), 'empty: the stored source.txt of this creator and video'),
      field('Media (stills, clips)', el('input', { type: 'file', id: 'media', name: 'media', multiple: true, accept: '.png,.jpg,.jpeg,.webp,.mp4,.mov,.webm' })),
      field('Music', el('input', { type: 'file', id: 'music', name: 'music', accept: '.mp3,.wav,.m4a,.aac,.flac,.ogg' }), 'an uploaded file becomes the music of this task'),
      field('Music choice', el('select', { id: 'music_choice', name: 'music_choice' }, [el('option', { value: '', text: 'the uploaded file, else the first under music/' }), el('option', { value: 'none', text: 'no music' })])),
      field('Picture fit', el('select', { id: 'visual_fit', name: 'visual_fit' }, [el('option', { value: '', text: 'default (blur)' }), el('option', { value: 'blur', text: 'blur: whole, over a blurred copy' }), el('option', { value: 'cover', text: 'cover: fill the frame, cropped' })])),
      field('Caption style', el('select', { id: 'subtitle_style', name: 'subtitle_style' }, [el('option', { value: '', text: 'default (bold_outline)' }), el('option', { value: 'plain', text: 'plain' }), el('option', { value: 'bold_outline', text: 'bold_outline' }), el('option', { value: 'boxed', text: 'boxed' }), el('option', { value: 'word_highlight', text: 'word_highlight' })])),
      field('Music volume', el('input', { id: 'music_volume', name: 'music_volume', inputmode: 'decimal', autocomplete: 'off' }), '0–1, empty: 0.5'),
      field('Clip sound volume', el('input', { id: 'source_audio_volume', name: 'source_audio_volume', inputmode: 'decimal', autocomplete: 'off' }), '0–1, empty: 0 (muted)'),
      field('Webhook URL', el('input', { id: 'webhook_url', name: 'webhook_url', autocomplete: 'off' }), 'one signed POST when the task ends; its host must be allowed'),
      el('button', { type: 'submit', id: 'submit', text: 'Submit' }),
    ]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clear(result);
      var button = document.getElementById('submit');
      button.disabled = true;
      var data = new FormData(form);
      var creator = String(data.get('creator_id') || '');
      var video = String(data.get('video_id') || '');
      var body = { creator_id: creator, video_id: video, gender: Number(data.get('gender')), export_video: document.getElementById('export_video').checked };
      var account = String(data.get('account_name') || '');
      if (account) body.account_name = account;
      var text = String(data.get('source_text') || '');
      if (text) body.source_text = text;
      ['visual_fit', 'subtitle_style', 'webhook_url'].forEach(function (name) { var v = String(data.get(name) || ''); if (v) body[name] = v; });
      // Numbers as numbers when they read as one, else as typed: the API's sentence explains.
      ['music_volume', 'source_audio_volume'].forEach(function (name) { var v = String(data.get(name) || '').trim(); if (v) body[name] = v !== '' && isFinite(Number(v)) ? Number(v) : v; });
      var musicFile = document.getElementById('music').files[0];
      if (data.get('music_choice') === 'none') body.music = null;
      else if (musicFile) body.music = musicFile.name;
      var uploads = [];
      Array.prototype.forEach.call(document.getElementById('media').files, function (f) { uploads.push({ folder: 'media', file: f }); });
      Array.prototype.forEach.call(document.getElementById('music').files, function (f) { uploads.push({ folder: 'music', file: f }); });
      var base = API + '/sources/' + encodeURIComponent(creator) + '/' + encodeURIComponent(video) + '/';
      var chain = Promise.resolve(true);
      uploads.forEach(function (u) {
        chain = chain.then(function (ok) {
          if (!ok) return false;
          result.appendChild(el('p', { class: 'progress', text: 'Uploading ' + u.folder + '/' + u.file.name + '…' }));
          return send('PUT', base + u.folder + '/' + encodeURIComponent(u.file.name), u.file, u.file.type || 'application/octet-stream').then(function (a) {
            if (a.status >= 300) { result.appendChild(errorBox(a, 'Upload of ' + u.file.name)); return false; }
            return true;
          });
        });
      });
      chain.then(function (ok) {
        if (!ok) return;
        return send('POST', API + '/run', JSON.stringify(body)).then(function (a) {
          if (a.status !== 202) {
            result.appendChild(errorBox(a, 'Submission refused'));
            if (uploads.length) result.appendChild(el('p', { text: 'The uploaded files stay under this creator and video for the next submission.' }));
            return;
          }
          location.hash = '#/task/' + encodeURIComponent(a.body.task_id);
        });
      }).then(function () { button.disabled = false; });
    });
    main.appendChild(el('h1', { text: 'Submit a task' }));
    main.appendChild(form);
    main.appendChild(result);
  }

  function route() {
    view += 1;
    if (poller) clearTimeout(poller);
    clear(main);
    var hash = location.hash.replace(/^#/, '') || '/';
    var qi = hash.indexOf('?');
    var path = qi >= 0 ? hash.slice(0, qi) : hash;
    var params = new URLSearchParams(qi >= 0 ? hash.slice(qi + 1) : '');
    var links = document.querySelectorAll('nav a');
    var section = path.indexOf('/task/') === 0 ? 'tasks' : path === '/queue' ? 'queue' : path === '/submit' ? 'submit' : 'tasks';
    Array.prototype.forEach.call(links, function (a) { if (a.getAttribute('data-section') === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current'); });
    if (path.indexOf('/task/') === 0) {
      var id;
      try { id = decodeURIComponent(path.slice(6)); } catch (e) { id = path.slice(6); }
      renderTask(id);
    } else if (path === '/queue') renderQueue();
    else if (path === '/submit') renderSubmit();
    else renderTasks(params);
    main.focus();
  }
  window.addEventListener('hashchange', route);
  route();
})();
`;
