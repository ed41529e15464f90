"use strict";
/* The operator's view: polls /operator/status and draws it. Every value is put in place as text
   (textContent, attributes set one by one), never parsed as markup. */
(function () {
  var POLL_MS = 2000;
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function pct(x) {
    return x === null ? "-" : (100 * x).toFixed(1) + " %";
  }

  /* One bar per outcome (locked, failed, in progress) and one per failure phase. */
  function chart(b) {
    var rows = [["locked", b.locked, "bar-locked"], ["failed", b.failed, "bar-failed"],
                ["in progress", b.in_progress, "bar-progress"]];
    b.phases.forEach(function (p) { rows.push(["fail: " + p.phase, p.n, "bar-phase"]); });
    var max = 1;
    rows.forEach(function (r) { if (r[1] > max) max = r[1]; });
    var h = 18, w = 320, lw = 110;
    var s = svg("svg", {width: w, height: rows.length * h + 4, role: "img",
                        "class": "chart", viewBox: "0 0 " + w + " " + (rows.length * h + 4)});
    var title = svg("title", {});
    title.textContent = "outcomes and failures by phase of batch " + b.batch;
    s.appendChild(title);
    rows.forEach(function (r, i) {
      var y = i * h + 2;
      var label = svg("text", {x: 0, y: y + 12});
      label.textContent = r[0];
      s.appendChild(label);
      var bw = Math.round((w - lw - 40) * r[1] / max);
      s.appendChild(svg("rect", {x: lw, y: y + 2, width: Math.max(bw, 1), height: h - 6,
                                 "class": r[2], "data-bar": r[0], "data-n": r[1]}));
      var n = svg("text", {x: lw + bw + 4, y: y + 12});
      n.textContent = String(r[1]);
      s.appendChild(n);
    });
    return s;
  }

  function batchCard(b) {
    var card = el("article", "batch-card");
    card.setAttribute("data-batch", b.batch);
    card.appendChild(el("h3", null, "batch " + b.batch));
    var q = svg("svg", {"class": "quota", width: 300, height: 8, viewBox: "0 0 300 8"});
    var used = b.quota ? Math.min(1, b.used / b.quota) : 1;
    q.appendChild(svg("rect", {x: 0, y: 0, width: 300, height: 8, "class": "quota-rest"}));
    q.appendChild(svg("rect", {x: 0, y: 0, width: Math.round(300 * used), height: 8,
                               "class": "quota-fill"}));
    card.appendChild(q);
    var dl = el("dl");
    [["quota used", "used", b.used + " of " + b.quota], ["quota left", "left", b.left],
     ["locked", "locked", b.locked], ["devices per hour", "per-hour", b.per_hour],
     ["yield", "yield", pct(b.yield)], ["failures", "failures", b.failures]]
      .forEach(function (f) {
        dl.appendChild(el("dt", null, f[0]));
        var dd = el("dd", null, f[2]);
        dd.setAttribute("data-field", f[1]);
        dl.appendChild(dd);
      });
    card.appendChild(dl);
    card.appendChild(chart(b));
    return card;
  }

  function row(cells, attrs) {
    var tr = el("tr");
    for (var k in attrs) tr.setAttribute(k, attrs[k]);
    cells.forEach(function (c) { tr.appendChild(el("td", c[0], c[1])); });
    return tr;
  }

  function fill(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (r) { tbody.appendChild(r); });
  }

  function draw(s) {
    var box = document.getElementById("batches");
    while (box.firstChild) box.removeChild(box.firstChild);
    if (!s.batches.length) box.appendChild(el("p", "empty", "no batch yet"));
    s.batches.forEach(function (b) { box.appendChild(batchCard(b)); });

    fill(document.querySelector("#stations tbody"), s.stations.map(function (st) {
      var d = st.last || {uid: "-", batch: "-", state: "-"};
      return row([["name", st.name], ["seen", st.seen_s_ago + " s ago"], ["uid", d.uid],
                  ["batch", d.batch], ["state", d.state]],
                 {"data-station": st.name, "data-state": d.state});
    }));
    fill(document.querySelector("#recent tbody"), s.recent.map(function (d) {
      return row([["uid", d.uid], ["batch", d.batch], ["state", d.state],
                  ["station", d.station], ["failures", d.failures], ["at", d.at]],
                 {"data-uid": d.uid, "data-state": d.state,
                  "data-failed": d.failures ? "yes" : "no"});
    }));
    document.getElementById("bridge").textContent =
      s.sessions_in_flight + " session(s) in flight" + (s.shutting_down ? ", stopping" : "") +
      "; updated " + s.now;
  }

  function setConn(state, text) {
    var c = document.getElementById("conn");
    c.setAttribute("data-state", state);
    c.textContent = text;
  }

  var polls = 0;
  function poll() {
    fetch("/operator/status", {cache: "no-store", credentials: "same-origin"})
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (s) {
        draw(s);
        polls++;
        document.body.setAttribute("data-polls", String(polls));
        setConn("live", "live");
      })
      .catch(function (e) { setConn("error", "no answer from the bridge: " + e.message); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
