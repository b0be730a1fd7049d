// cryoviz consultation page: rotation and zoom from the ring of pictures the server drew ahead
// (cryoviz/deliver/app_turntable.py). A drag on the 3D view maps to (azimuth, elevation) like VTK's
// trackball camera style and shows the nearest ring picture in the next animation frame, with no server
// round trip; the wheel or a pinch scales the shown picture. On release the page sends the final angles
// once (trigger cv_turn) and the server's exact picture replaces the ring's. Without a ready ring the
// events go on to trame-vtk's remote view, as before.
(function () {
  'use strict';
  var T = window.cvTurn = {ring: null, jpegs: new Map(), bitmaps: new Map(), decoding: new Set(),
                           log: [], settle: [], drags: 0, seq: 0, off: false, synced: false};
  var MIN_READY = 15;                 // pictures received before the page takes a drag
  var BITMAP_BYTES = 96 * 1024 * 1024; // decoded pictures kept at once
  var drag = null, zoom = null, frameReq = 0, canvas = null, view = null, pending = null;

  function key(az, el) { return az.toFixed(1) + '/' + el.toFixed(1); }
  function wrap(a) { a = ((a + 180) % 360 + 360) % 360 - 180; return a === -180 ? 180 : a; }
  function angle(a, b) {  // degrees between the view directions of (az, el) pairs
    function u(az, el) { az *= Math.PI / 180; el *= Math.PI / 180;
      return [Math.cos(el) * Math.sin(az), Math.sin(el), Math.cos(el) * Math.cos(az)]; }
    var p = u(a[0], a[1]), q = u(b[0], b[1]);
    var d = Math.max(-1, Math.min(1, p[0] * q[0] + p[1] * q[1] + p[2] * q[2]));
    return Math.acos(d) * 180 / Math.PI;
  }
  function nearestRing(az, el) {  // the ring's grid point nearest to (az, el)
    var r = T.ring, step = r.az_step, els = r.els, best = els[0];
    for (var i = 1; i < els.length; i++) { if (Math.abs(els[i] - el) < Math.abs(best - el)) best = els[i]; }
    var a = wrap(Math.round(wrap(az) / step) * step);
    return [a === -180 ? 180 : a, best];
  }
  function nearestShown(az, el) {  // the nearest picture already decoded
    var want = nearestRing(az, el), k = key(want[0], want[1]);
    if (T.bitmaps.has(k)) return [want, k];
    decode(k);
    var best = null, bestA = 1e9;
    T.bitmaps.forEach(function (_bm, kk) {
      var p = kk.split('/').map(Number), a = angle(p, [az, el]);
      if (a < bestA) { bestA = a; best = [p, kk]; }
    });
    return best;
  }
  function bitmapBudget() { var r = T.ring; return Math.max(8, Math.floor(BITMAP_BYTES / (4 * r.w * r.h || 1))); }
  function decode(k) {
    if (T.bitmaps.has(k) || T.decoding.has(k) || !T.jpegs.has(k)) return;
    var token = T.ring.token;
    T.decoding.add(k);
    createImageBitmap(new Blob([T.jpegs.get(k)], {type: 'image/jpeg'})).then(function (bm) {
      T.decoding.delete(k);
      if (!T.ring || T.ring.token !== token) { bm.close(); return; }
      T.bitmaps.set(k, bm);
      var limit = bitmapBudget();
      if (T.bitmaps.size > limit) {  // drop the pictures farthest from where the view is now
        var at = drag ? [drag.az, drag.el] : [0, 0];
        var keys = Array.from(T.bitmaps.keys()).sort(function (a, b) {
          return angle(b.split('/').map(Number), at) - angle(a.split('/').map(Number), at); });
        for (var i = 0; T.bitmaps.size > limit && i < keys.length; i++) {
          if (keys[i] !== k) { T.bitmaps.get(keys[i]).close(); T.bitmaps.delete(keys[i]); }
        }
      }
    }).catch(function () { T.decoding.delete(k); });
  }
  function nearerThanKept(k) {  // nearer the view than the farthest decoded picture (decode drops that one)
    var at = drag ? [drag.az, drag.el] : [0, 0], a = angle(k.split('/').map(Number), at), far = -1;
    T.bitmaps.forEach(function (_bm, kk) { far = Math.max(far, angle(kk.split('/').map(Number), at)); });
    return a < far;
  }
  function reset(ring) {
    T.bitmaps.forEach(function (bm) { bm.close(); });
    T.bitmaps.clear(); T.jpegs.clear(); T.decoding.clear();
    T.ring = ring && ring.count ? ring : null;
  }
  function ready() {
    var st = window.trame && window.trame.state;
    return !T.off && T.ring && T.bitmaps.has(key(0, 0)) && T.jpegs.size >= MIN_READY && st && !st.get('playing')
      && !document.querySelector('#cv-frame.cv-on');
  }
  function show(k, scale) {
    var bm = T.bitmaps.get(k);
    if (!bm || !canvas) return false;
    if (canvas.width !== bm.width || canvas.height !== bm.height) { canvas.width = bm.width; canvas.height = bm.height; }
    canvas.getContext('2d').drawImage(bm, 0, 0);
    canvas.style.transform = scale && scale !== 1 ? 'scale(' + scale + ')' : '';
    canvas.style.visibility = 'visible';
    return true;
  }
  function frame(now) {  // one animation frame: the picture for the pointer's angle and zoom now
    frameReq = 0;
    if (!drag) return;
    var hit = nearestShown(drag.az, drag.el), changed = false;
    if (hit && hit[1] !== drag.shown) { changed = show(hit[1], drag.zoom); drag.shown = hit[1]; }
    else if (hit && drag.zoomed) { canvas.style.transform = 'scale(' + drag.zoom + ')'; }
    drag.zoomed = false;
    T.log.push({t: performance.now(), frame_t: now, input_t: drag.inputT, az: drag.az, el: drag.el, zoom: drag.zoom,
                shown: hit ? hit[0] : null, err: hit ? angle(hit[0], [drag.az, drag.el]) : null,
                changed: changed});
    if (T.log.length > 5000) T.log.splice(0, 1000);
  }
  function request() { if (!frameReq) frameReq = requestAnimationFrame(frame); }
  function stop(e) { e.stopPropagation(); if (e.cancelable) e.preventDefault(); }

  function start(e) {  // a drag (or a zoom) from the ring's camera
    var box = view.getBoundingClientRect();
    T.drags += 1;
    var r = T.ring;
    drag = {token: r.token, x0: e ? e.clientX : 0, y0: e ? e.clientY : 0, w: box.width, h: box.height,
            az: 0, el: 0, zoom: 1, pointers: new Map(), pinch0: 0, zoom0: 1, shown: null, inputT: 0};
    [-2, -1, 0, 1, 2].forEach(function (i) { r.els.forEach(function (el) {
      decode(key(wrap(i * r.az_step), el)); }); });
  }
  function finish() {
    var d = drag;
    drag = null;
    if (!d) return;
    if (Math.abs(d.az) < 1e-6 && Math.abs(d.el) < 1e-6 && d.zoom === 1) { hide(); return; }
    T.seq += 1;
    pending = {seq: T.seq, t0: performance.now(), az: d.az, el: d.el, zoom: d.zoom, token: d.token};
    window.trame.trigger('cv_turn', [d.token, d.az, d.el, d.zoom, T.seq]);
    setTimeout(function () { if (pending && pending.seq === T.seq) { pending = null; hide(); } }, 5000);
  }
  function hide() { if (canvas) { canvas.style.visibility = 'hidden'; canvas.style.transform = ''; } }
  function moveTo(e) {
    var p = drag.pointers;
    if (p.has(e.pointerId)) p.set(e.pointerId, [e.clientX, e.clientY]);
    if (p.size >= 2) {  // pinch: the zoom follows the distance between two fingers
      var v = Array.from(p.values()), dist = Math.hypot(v[0][0] - v[1][0], v[0][1] - v[1][1]);
      if (!drag.pinch0) { drag.pinch0 = dist; drag.zoom0 = drag.zoom; }
      drag.zoom = clampZoom(drag.zoom0 * dist / (drag.pinch0 || dist));
      drag.zoomed = true;
    } else if (e.pointerId === drag.first) {
      var el = T.ring.trackball_deg * (e.clientY - drag.y0) / drag.h, lim = T.ring.el_limit;
      drag.az = -T.ring.trackball_deg * (e.clientX - drag.x0) / drag.w;
      drag.el = Math.max(-lim, Math.min(lim, el));
    }
    drag.inputT = e.timeStamp;
    request();
  }
  function clampZoom(z) { var r = T.ring.zoom_range; return Math.max(r[0], Math.min(r[1], z)); }

  function onDown(e) {
    if (drag) {  // a second finger: pinch
      if (e.pointerType === 'touch' && drag.pointers.size === 1) {
        drag.pointers.set(e.pointerId, [e.clientX, e.clientY]); stop(e);
        var v = Array.from(drag.pointers.values());   // the pinch starts from the fingers' distance now
        drag.pinch0 = Math.hypot(v[0][0] - v[1][0], v[0][1] - v[1][1]); drag.zoom0 = drag.zoom;
      }
      return;
    }
    if (!ready() || e.button !== 0 || e.shiftKey || e.ctrlKey || e.altKey || e.metaKey) return;
    if (pending) return;  // the last turn's exact picture is on its way
    stop(e);
    start(e);
    drag.first = e.pointerId;
    drag.pointers.set(e.pointerId, [e.clientX, e.clientY]);
  }
  function onMove(e) { if (drag && drag.pointers.has(e.pointerId)) { stop(e); moveTo(e); } }
  function onUp(e) {
    if (!drag || !drag.pointers.has(e.pointerId)) return;
    stop(e);
    drag.pointers.delete(e.pointerId);
    if (drag.pointers.size === 0) finish();
  }
  function onWheel(e) {
    if (!(drag || ready()) || e.ctrlKey) return;
    stop(e);
    if (pending && !drag) return;  // the last turn's exact picture is on its way: this ring is stale
    if (!drag) { start(null); drag.wheel = true; }
    if (!drag.wheel) return;
    drag.zoom = clampZoom(drag.zoom * Math.pow(1.1, -e.deltaY / 100));
    drag.zoomed = true;
    drag.inputT = e.timeStamp;
    request();
    clearTimeout(drag.wheelEnd);
    drag.wheelEnd = setTimeout(function () { if (drag && drag.wheel) finish(); }, 250);
  }
  function onRemoteLoad(e) {  // the server's exact picture after a turn: the ring's picture goes
    var img = e.target;
    if (!pending || img.tagName !== 'IMG' || img.classList.contains('cv-frame')) return;
    var st = window.trame.state;
    if (st.get('turn_applied') !== pending.seq) return;
    T.settle.push({seq: pending.seq, ms: performance.now() - pending.t0, az: pending.az, el: pending.el,
                   zoom: pending.zoom, token: pending.token});
    pending = null;
    hide();
  }

  function attach() {
    view = document.querySelector('[aria-label="3D view"]');
    canvas = view && view.querySelector('canvas.cv-turn');
    var st = window.trame && window.trame.state;
    if (!view || !canvas || !st || !st.watch) { setTimeout(attach, 200); return; }
    view.addEventListener('pointerdown', onDown, true);
    window.addEventListener('pointermove', onMove, true);
    window.addEventListener('pointerup', onUp, true);
    window.addEventListener('pointercancel', onUp, true);
    view.addEventListener('wheel', onWheel, {capture: true, passive: false});
    view.addEventListener('load', onRemoteLoad, true);
    st.watch(['turn_ring'], function (ring) {
      if (!ring || !T.ring || ring.token !== T.ring.token) { reset(ring); }
      else { T.ring = ring; }
    });
    st.watch(['turn_batch'], function (b) {
      if (!b || !T.ring || b.token !== T.ring.token) return;
      b.items.forEach(function (it) {
        var k = key(it[0], it[1]);
        if (!T.jpegs.has(k)) {
          T.jpegs.set(k, it[2]);
          if (T.bitmaps.size + T.decoding.size < bitmapBudget() || nearerThanKept(k)) decode(k);
        }
      });
    });
    // the server draws the ring only once a page has its first 3D picture (not to delay it). The server
    // answers true; before its first story is shown it drops every trigger, and the picture this page
    // loaded first may be the empty window's: then the next picture (the story's first) asks again.
    var asked = false, asking = false, again = false;
    function ask() {
      if (asked) return;
      if (asking) { again = true; return; }
      asking = true; again = false;
      Promise.resolve(window.trame.trigger('cv_turn_sync')).then(function (ok) { return ok === true; },
                                                                  function () { return false; })
        .then(function (ok) { asking = false; asked = ok; T.synced = ok; if (!ok && again) ask(); });
    }
    var first = view.querySelector('img:not(.cv-frame)');
    if (first && first.complete && first.naturalWidth > 0) { ask(); }
    view.addEventListener('load', function (e) {
      if (e.target.tagName === 'IMG' && !e.target.classList.contains('cv-frame')) ask();
    }, true);
  }
  attach();
})();
