/// The dashboard's stylesheet and script, embedded in the binary: the pages load nothing from
/// anywhere else (many hosts are offline, and the Content-Security-Policy says 'self' only).
enum WebAssets {
    static func response(_ name: String) -> WebResponse {
        switch name {
        case "app.css":
            return WebResponse(.ok, type: "text/css; charset=utf-8", css, headers: [("Cache-Control", "max-age=300")])
        case "app.js":
            return WebResponse(
                .ok, type: "text/javascript; charset=utf-8", script, headers: [("Cache-Control", "max-age=300")])
        default:
            return .text("no such asset: \(name)", status: .notFound)
        }
    }

    static let css = """
        :root { --ok: #2e7d32; --failed: #c62828; --outdated: #ef6c00; --running: #1565c0; --none: #757575;
          --fg: #1b1b1b; --bg: #fafafa; --line: #ddd; font-family: system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        body { margin: 0; }
        header nav { display: flex; gap: 1.2em; align-items: center; padding: .6em 1.2em; background: #263238; }
        header a { color: #eceff1; text-decoration: none; }
        header a[aria-current] { border-bottom: 2px solid #90caf9; }
        header .brand { font-weight: 700; }
        header .account { margin-left: auto; color: #cfd8dc; display: flex; gap: .6em; align-items: center; }
        main { padding: 1em 1.5em; max-width: 1200px; }
        h1 { font-size: 1.5em; margin: .2em 0 .6em; }
        h2 { font-size: 1.15em; margin: 1.4em 0 .5em; }
        table { border-collapse: collapse; width: 100%; font-size: .92em; }
        th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #eceff1; }
        code, pre { font-family: ui-monospace, monospace; font-size: .9em; }
        pre { white-space: pre-wrap; word-break: break-word; background: #f0f0f0; padding: .5em; }
        .badge { display: inline-block; padding: .05em .5em; border-radius: .8em; color: white; font-size: .85em; background: var(--none); }
        .badge.ok { background: var(--ok); } .badge.failed { background: var(--failed); }
        .badge.outdated { background: var(--outdated); } .badge.running { background: var(--running); }
        .none { color: var(--none); }
        .badge.none { color: white; }
        .error, .exception strong { color: var(--failed); }
        .summary { display: flex; flex-wrap: wrap; gap: 1.5em; margin: 0; }
        .summary div { min-width: 7em; } .summary dt { color: var(--none); font-size: .85em; } .summary dd { margin: 0; font-size: 1.2em; }
        .definition dl { display: grid; grid-template-columns: max-content 1fr; gap: .3em 1em; }
        .definition dt { color: var(--none); } .definition dd { margin: 0; }
        progress { width: 14em; vertical-align: middle; }
        .filters { display: flex; gap: 1em; align-items: center; margin: .5em 0; }
        .filters a[aria-current] { font-weight: 700; }
        form.inline { display: inline; }
        form.run { display: flex; flex-wrap: wrap; gap: 1em; align-items: end; }
        form.run .parameters { display: flex; flex-direction: column; }
        .title { color: var(--none); font-size: .85em; }
        .tag { background: #e3f2fd; padding: 0 .4em; border-radius: .3em; text-decoration: none; }
        .log .message { white-space: pre-wrap; font-family: ui-monospace, monospace; }
        .log .level-30 td { background: #fff8e1; } .log .level-40 td, .log .level-50 td { background: #ffebee; }
        .log .level-10 td { color: var(--none); }
        td.depth-1 { padding-left: 1.6em; } td.depth-2 { padding-left: 2.6em; } td.depth-3 { padding-left: 3.6em; }
        td.depth-4, td.depth-5, td.depth-6 { padding-left: 4.6em; }
        svg.graph .node rect { fill: var(--none); stroke: #333; }
        svg.graph .node.ok rect { fill: var(--ok); } svg.graph .node.failed rect { fill: var(--failed); }
        svg.graph .node.outdated rect { fill: var(--outdated); } svg.graph .node.running rect { fill: var(--running); }
        svg.graph .node.focus rect { stroke-width: 3; }
        svg.graph .node text { fill: white; font-size: 13px; }
        svg.graph .edge { fill: none; stroke: #607d8b; stroke-width: 1.5; }
        svg.graph .arrowhead { fill: #607d8b; }
        svg.timeline { max-width: 100%; height: auto; }
        svg.timeline .tick { stroke: #e0e0e0; }
        svg.timeline text.label { fill: #757575; font-size: 10px; }
        svg.timeline text { font-size: 12px; fill: var(--fg); }
        svg.timeline .run { fill: var(--running); } svg.timeline .dense { fill: #90caf9; }
        .login { display: flex; gap: 1em; align-items: end; }
        .hint { color: var(--none); font-size: .9em; }
        """

    /// Live updates: the overview's running builds (`/api/v1/events/running`), and a running
    /// build's progress and log (`GetProgress`/`GetLogs` with `follow=1`). Without it the pages
    /// still show everything as of their loading.
    static let script = """
        'use strict';
        function el(tag, attrs, text) {
          const node = document.createElement(tag);
          for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
          if (text !== undefined) node.textContent = text;
          return node;
        }
        function bar(current, total) {
          const cell = el('td', {class: 'progress'});
          const p = el('progress', {value: String(Math.max(0, Math.min(current, total))), max: String(Math.max(total, 1))});
          cell.append(p, ' ', el('span', {class: 'count'}, current + '/' + total));
          return cell;
        }
        function shortTime(iso) { return iso ? iso.replace('T', ' ').replace(/\\..*$/, '').replace('Z', '') : '—'; }
        function follow(url, onReply, onEnd) {
          const source = new EventSource(url);
          source.addEventListener('reply', (event) => onReply(JSON.parse(event.data)));
          source.addEventListener('end', () => { source.close(); if (onEnd) onEnd(); });
          // The daemon refused (the build is gone, say): stop, do not reconnect.
          source.addEventListener('failure', () => { source.close(); });
          source.addEventListener('error', () => { if (source.readyState === EventSource.CLOSED && onEnd) onEnd(); });
          return source;
        }
        function liveRunning(tbody) {
          const source = new EventSource('/api/v1/events/running');
          source.addEventListener('running', (event) => {
            const builds = JSON.parse(event.data).builds;
            tbody.replaceChildren(...builds.map((b) => {
              const row = el('tr', {'data-build': String(b.id)});
              const id = el('td'); id.append(el('a', {href: '/builds/' + b.id}, '#' + b.id));
              const job = el('td'); job.append(el('a', {href: '/jobs/' + encodeURIComponent(b.job_id)}, b.job_id));
              row.append(id, job, b.total ? bar(b.current, b.total) : el('td', {class: 'progress'}), el('td', {}, shortTime(b.start_time)));
              return row;
            }));
            const count = document.getElementById('running-count');
            if (count) count.textContent = String(builds.length);
            const empty = tbody.closest('section').querySelector('.empty');
            if (empty) empty.hidden = builds.length > 0;
          });
        }
        function liveBuild(root) {
          const id = root.dataset.liveBuild;
          const progress = document.getElementById('progress');
          const log = document.getElementById('log');
          let ended = 0;
          const done = () => { ended += 1; if (ended === 2) location.reload(); };
          follow('/api/v1/GetProgress?follow=1&build=' + id, (reply) => {
            progress.replaceChildren(...reply.groups.map((g) => {
              const parts = g.group.split('::');
              const row = el('tr', {'data-group': g.group});
              row.append(el('td', {class: 'depth-' + Math.min(parts.length - 1, 6)}, g.group ? parts[parts.length - 1] : '(build)'),
                bar(g.current, g.total), el('td', {}, g.status || ''));
              return row;
            }));
            const empty = progress.closest('section').querySelector('.empty');
            if (empty) empty.hidden = reply.groups.length > 0;
          }, done);
          if (root.dataset.afterId === undefined) { ended += 1; return; }  // the log was cut: not followed
          const level = root.dataset.minLevel;
          let url = '/api/v1/GetLogs?follow=1&build=' + id + '&after_id=' + root.dataset.afterId;
          if (level !== '0') url += '&min_level=' + level;
          let shown = Number(root.dataset.afterId);
          follow(url, (reply) => {
            for (const r of reply.logs) {
              if (r.id <= shown) continue;  // already on the page (after a reconnect)
              shown = r.id;
              const row = el('tr', {class: 'level-' + Math.floor(r.level / 10) * 10, 'data-level': String(r.level)});
              row.append(el('td', {}, shortTime(r.created)), el('td', {}, r.level_name), el('td', {}, r.logger), el('td', {class: 'message'}, r.message));
              log.append(row);
            }
            const empty = log.closest('section').querySelector('.empty');
            if (empty && reply.logs.length) empty.hidden = true;
          }, done);
        }
        document.addEventListener('DOMContentLoaded', () => {
          const running = document.querySelector('tbody#running');
          if (running && running.closest('[data-live-running]')) liveRunning(running);
          const build = document.querySelector('[data-live-build]');
          if (build) liveBuild(build);
          const select = document.getElementById('min-level');
          if (select) select.addEventListener('change', () => select.form.submit());
        });
        """
}
