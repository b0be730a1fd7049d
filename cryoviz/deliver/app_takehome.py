"""The app's "Take home" button: the visit page and the summary go to the browser that pressed it.

:meth:`ConsultationApp.take_home <cryoviz.deliver.app.ConsultationApp.take_home>` writes both files beside
the screenshots on the server (the documented contract, kept). :class:`TakeHomeDownloads` then keeps their
bytes in memory under a fresh random token and answers the page's trigger with where to fetch them: paths
on this server's own web server (``GET /cryoviz-take-home/TOKEN/NAME``), same origin, no third-party code.
Only the page that pressed the button gets the answer (the trigger's reply, not the shared state), so a
second screen in the room does not download anything. The page (:data:`TAKE_HOME_JS`) saves both files
through ordinary links with ``download`` names, shows the links too (a browser may ask before saving a
second file) and says in the chosen language what was saved, as text (``textContent``), never as HTML.

The token is the only key to the files (256 bits from :mod:`secrets`, handed out over the authenticated
WebSocket only); the last :data:`KEEP_SETS` sets are kept, older ones are forgotten (bounded memory: one
set is about 3-4 MB). A request names a token and a file name; anything else, or a name that is not the
one stored, gets 404. The answers are attachments with ``nosniff`` and a ``sandbox`` content policy: the
visit page never runs as a page of the consultation's origin.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["KEEP_SETS", "ROUTE", "TAKE_HOME_JS", "TakeHomeDownloads"]

#: URL prefix of the take-home files on the app's own web server.
ROUTE = "/cryoviz-take-home"
#: Take-home sets kept in memory (the newest; each about 3-4 MB).
KEEP_SETS = 2
#: Media type of each kind of file.
MEDIA = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf"}
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")          # secrets.token_urlsafe(32)
_NAME = re.compile(r"^cryoviz-[a-z]+-[a-z]{2}-\d{8}-\d{6}\.(html|pdf)$")


class TakeHomeDownloads:
    """The take-home files of one consultation, served to the page that asked for them.

    Parameters
    ----------
    app : ConsultationApp
        Its :meth:`take_home` writes the files (and says where in the clinician panel).
    """

    def __init__(self, app):
        self.app = app
        self._sets: OrderedDict[str, dict[str, tuple[bytes, str]]] = OrderedDict()

    # ----------------------------------------------------------------------------- the trigger
    def trigger(self) -> dict:
        """The page's "Take home": write both files; return ``{"status", "files"}`` for that page.

        ``status`` is ``"saved"`` (``files`` lists ``{"kind", "name", "url"}``, the visit page first),
        ``"pending"`` (no result yet, nothing written) or ``"failed"`` (logged here; the page says so).
        """
        try:
            paths = self.app.take_home()
        except Exception:       # a full disk must not leave the patient's page waiting without a word
            log.exception("take-home files could not be written")
            return {"status": "failed", "files": []}
        if not paths:
            return {"status": "pending", "files": []}
        token = secrets.token_urlsafe(32)
        files: dict[str, tuple[bytes, str]] = {}
        for path in paths:
            path = Path(path)
            files[path.name] = (path.read_bytes(), MEDIA[path.suffix.lower()])
        self._sets[token] = files
        while len(self._sets) > KEEP_SETS:
            self._sets.popitem(last=False)
        return {"status": "saved",
                "files": [{"kind": name.rsplit(".", 1)[1], "name": name, "url": f"{ROUTE}/{token}/{name}"}
                          for name in files]}

    # ----------------------------------------------------------------------------- the web side
    def bind(self, ws_server) -> None:
        """Add the download route to the wslink aiohttp server (trame's ``on_server_bind``)."""
        ws_server.app.router.add_get(ROUTE + "/{token}/{name}", self.answer)

    def find(self, token, name) -> tuple[bytes, str] | None:
        """The bytes and media type stored under ``token`` and ``name``, or None (any bad value: None)."""
        if not isinstance(token, str) or not isinstance(name, str):
            return None
        if not _TOKEN.match(token) or not _NAME.match(name):
            return None
        files = self._sets.get(token)
        return None if files is None else files.get(name)

    async def answer(self, request):
        """``GET /cryoviz-take-home/{token}/{name}``: the file as an attachment, or 404."""
        from aiohttp import web

        token, name = request.match_info.get("token"), request.match_info.get("name")
        found = self.find(token, name)
        if found is None:
            return web.Response(status=404, text="not found\n")
        data, media = found
        return web.Response(body=data, headers={
            "Content-Type": media,
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        })


#: The page's side: press -> "making", the trigger's reply -> save both files, show the links, say so.
TAKE_HOME_JS = r"""
(function () {
  function words() { return (window.trame && window.trame.state && window.trame.state.get('labels')) || {}; }
  function box() { return document.getElementById('cv-take-home-status'); }
  function say(text, files) {
    var el = box();
    if (!el) { return; }
    el.textContent = '';
    var p = document.createElement('div');
    p.textContent = text || '';
    el.appendChild(p);
    (files || []).forEach(function (f) {
      var a = document.createElement('a');
      a.href = f.url;
      a.setAttribute('download', f.name);
      a.className = 'cv-take-home-link mr-3';
      a.textContent = (f.kind === 'pdf' ? words().take_home_link_pdf : words().take_home_link_html) || f.name;
      el.appendChild(a);
    });
  }
  function fill(text, files) {
    var names = {};
    (files || []).forEach(function (f) { names[f.kind] = f.name; });
    return String(text || '').replace('{html}', names.html || '').replace('{pdf}', names.pdf || '');
  }
  function save(f) {
    var a = document.createElement('a');
    a.href = f.url;
    a.setAttribute('download', f.name);
    a.style.display = 'none';
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
  function ok(f) {
    return f && typeof f.url === 'string' && f.url.indexOf('/cryoviz-take-home/') === 0 &&
      typeof f.name === 'string' && (f.kind === 'html' || f.kind === 'pdf');
  }
  var busy = false;
  document.addEventListener('click', function (e) {
    var btn = e.target && e.target.closest && e.target.closest('#cv-take-home');
    if (!btn || busy || !window.trame || !window.trame.trigger) { return; }
    busy = true;
    say(words().take_home_making);
    window.trame.trigger('cv_take_home').then(function (r) {
      var status = r && r.status;
      var files = ((r && r.files) || []).filter(ok);
      if (status === 'saved' && files.length) {
        files.forEach(save);
        say(fill(words().take_home_saved, files), files);
      } else if (status === 'pending') {
        say(words().take_home_pending);
      } else if (status === 'failed') {
        say(words().take_home_failed);
      } else {
        say(words().take_home_again);
      }
    }, function () { say(words().take_home_failed); }).then(function () { busy = false; });
  });
})();
"""
