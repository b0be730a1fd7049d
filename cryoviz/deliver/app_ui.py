"""Layout of the consultation page (trame + vuetify 3), built once by :func:`build_ui`.

Every control carries the accessible name of ``docs/design-contract.md``. Vuetify components drop keyword
arguments they do not declare, so names go in as ``raw_attrs`` or through native elements (``<input
type="range">``, ``<select>``, ``<input type="checkbox">`` inside a ``<label>``) whose names browsers and
screen readers read directly. Visible words come from the language file (``labels`` in the state).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from trame.ui.vuetify3 import VAppLayout
from trame.widgets import client, html
from trame.widgets import vtk as vtk_widgets
from trame.widgets import vuetify3 as v3

from cryoviz.deliver.app_play import FRAME_JS
from cryoviz.deliver.app_takehome import TAKE_HOME_JS, TakeHomeDownloads

__all__ = ["build_ui"]

#: The page's drag and zoom on the ring of pictures the server drew ahead (app_turntable)
_TURN_JS = (Path(__file__).parent / "web" / "turntable.js").read_text(encoding="utf-8")

_CSS = """
.cv-grid { display: flex; gap: 8px; padding: 6px; height: calc(100vh - 48px - 36px); }
.cv-main { flex: 2 1 0; display: flex; flex-direction: column; min-width: 0; }
.cv-view { flex: 1 1 auto; min-height: 160px; position: relative;
           max-width: 1920px; max-height: 1200px; width: 100%; align-self: center; }
/* the playing picture has its own compositing layer: a new picture repaints only it (round 3: Chromium
   45-46 against 51 ms CPU per picture) */
.cv-frame { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain;
            pointer-events: none; background: #000; display: none; will-change: transform; }
.cv-frame.cv-on { display: block; }
.cv-turn { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain;
           pointer-events: none; visibility: hidden; background: #000; transform-origin: 50% 50%; }
.cv-view { overflow: hidden; touch-action: none; }
.cv-take-home:empty { display: none; }
.cv-take-home a { color: #90CAF9; text-decoration: underline; }
/* a sizing change (app_withdraw): the old result's picture goes with the words, before the empty window's
   picture arrives (the server is building the new anatomy meanwhile: 0.4-0.9 s at load 3-6) */
.cv-view.cv-withdrawn { background: #141b24; }
.cv-view.cv-withdrawn > * { visibility: hidden; }
.cv-side { flex: 1 1 0; overflow-y: auto; min-width: 250px; max-width: 440px; }
.cv-caption { font-size: 1.6rem; line-height: 1.3; font-weight: 500; min-height: 4.2rem; }
.cv-chapter-title { font-size: 1.1rem; opacity: .85; }
.cv-panel { border: 1px solid rgba(255,255,255,.15); border-radius: 6px; padding: 8px 10px;
            margin-bottom: 8px; }
.cv-panel h2 { font-size: 1rem; margin: 0; display: inline; }
.cv-panel summary { cursor: pointer; margin-bottom: 4px; }
.cv-panel details:not([open]) summary { margin-bottom: 0; }
.cv-row { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.cv-row label { display: inline-flex; align-items: center; gap: 4px; font-size: .95rem; }
.cv-range { flex: 1 1 auto; min-width: 120px; accent-color: #56B4E9; }
.cv-swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px; margin-right: 6px; }
.cv-disclaimer { font-size: 1rem; font-weight: 600; width: 100%; text-align: center; }
.cv-us img { width: 100%; image-rendering: auto; background: #000; }
.cv-small { font-size: .85rem; }
.cv-nowrap, .cv-nowrap label, .cv-nowrap .v-label { white-space: nowrap !important;
  overflow-wrap: normal !important; word-break: keep-all !important; }
select.cv-select { background: #222a35; color: #f4f4f4; border: 1px solid #667; border-radius: 4px;
                   padding: 2px 6px; }
/* a focus ring that shows on every background of the page (yellow, 3 px, outside the control) */
:focus-visible, .v-btn:focus-visible, summary:focus-visible {
  outline: 3px solid #FFD54F !important; outline-offset: 2px; }
.v-btn:focus-visible > .v-btn__overlay { opacity: 0 !important; }
/* tablet: narrower side column, smaller caption */
@media (max-width: 1100px) {
  .cv-side { min-width: 230px; max-width: 330px; }
  .cv-caption { font-size: 1.3rem; min-height: 3.4rem; }
}
/* phone: one column, the 3D view first, the page scrolls */
@media (max-width: 700px) {
  .cv-grid { flex-direction: column; height: auto; padding: 4px 4px 72px 4px; }
  .cv-main, .cv-side { flex: none; max-width: none; min-width: 0; overflow: visible; }
  .cv-view { flex: none; height: min(56vh, 80vw); }
  .cv-caption { font-size: 1.15rem; min-height: 0; }
  .cv-chapters { flex-wrap: nowrap; overflow-x: auto; padding-bottom: 4px; }
  .cv-chapters .v-btn { flex: none; }
  .cv-apptitle, .cv-lang-word { display: none; }
  .cv-appbar .v-btn { min-width: 44px; padding: 0 10px; }
  .cv-appbar .mr-3 { margin-right: 8px !important; }
  .cv-appbar .v-toolbar__content { padding-left: 8px; }
  .cv-shot-label { display: none; }
  .cv-footer { height: auto !important; min-height: 36px; }
  .cv-disclaimer { font-size: .85rem; }
}
"""

# Keyboard, anywhere on the page but in a text field or a select: space plays/pauses, left/right arrows
# step 5 s of story, PageUp/PageDown step chapters, Home/End go to the start/end. On the Timeline slider
# the browser's own arrows step 1 s; PageUp/PageDown/Home/End there also go by chapters and ends.
_KEYS_JS = """
window.addEventListener('keydown', function (e) {
  var t = e.target || {};
  var tag = (t.tagName || '').toUpperCase();
  var key = e.key === ' ' ? 'space' : e.key;
  var onSlider = tag === 'INPUT' && t.getAttribute('aria-label') === 'Timeline';
  var paging = ['PageUp', 'PageDown', 'Home', 'End'].indexOf(key) >= 0;
  if (!(onSlider && paging)) {
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || t.isContentEditable) { return; }
  }
  if (e.altKey || e.ctrlKey || e.metaKey) { return; }
  if (['space', 'ArrowLeft', 'ArrowRight', 'PageUp', 'PageDown', 'Home', 'End'].indexOf(key) < 0) {
    return;
  }
  if (key === 'space' && (tag === 'BUTTON' || tag === 'SUMMARY')) { return; }
  e.preventDefault();
  if (window.trame && window.trame.trigger) { window.trame.trigger('cv_key', [key]); }
});
"""

# trame-vtk's remote view draws its picture in an <img> without text: give it the page's words for "3D view"
_ALT_JS = """
new MutationObserver(function () {
  var words = ((window.trame && window.trame.state && window.trame.state.get('labels')) || {}).view_3d;
  document.querySelectorAll('[aria-label="3D view"] img:not([alt])').forEach(function (img) {
    img.setAttribute('alt', words || '3D view');
  });
}).observe(document.documentElement, {childList: true, subtree: true});
"""


#: Accessible name of a pending chapter button: its title and why it is closed.
_PENDING_NAME = ":aria-label=\"ch.title + ' (' + (labels.pending_chapter || pending_text) + ')'\""


def _label(key: str, fallback: str) -> str:
    """A template expression for a visible word from the language file."""
    return f"{{{{ labels.{key} || '{fallback}' }}}}"


def build_ui(app) -> VAppLayout:
    """Build the page of one :class:`~cryoviz.deliver.app.ConsultationApp`; return the layout."""
    server = app.server
    server.trigger("cv_key")(app.on_key)
    server.trigger("cv_chapter")(app.goto_chapter)
    server.trigger("cv_organ")(app.toggle_organ)
    server.trigger("cv_play")(app.toggle_play)
    server.trigger("cv_reset_view")(app.reset_view)
    server.trigger("cv_shot")(app.screenshot)
    # the files go to the page that pressed the button (app_takehome), and stay on the server too
    app.take_home_web = TakeHomeDownloads(app)
    server.trigger("cv_take_home")(app.take_home_web.trigger)
    server.controller.on_server_bind.add(app.take_home_web.bind)
    server.trigger("cv_frame")(app.frame_shown)
    server.trigger("cv_turn")(app.turn_to)
    server.trigger("cv_turn_sync")(app.turn_resend)

    with VAppLayout(server, theme="dark", full_height=True) as layout:
        server.state.trame__title = "cryoviz"
        client.Style(_CSS)
        client.Script(_KEYS_JS + _ALT_JS + FRAME_JS + _TURN_JS + TAKE_HOME_JS)
        with v3.VAppBar(density="compact", flat=True, classes="cv-appbar"):
            v3.VToolbarTitle("{{ labels.app_title || 'cryoviz' }}", classes="text-subtitle-1 cv-apptitle")
            with html.Label(classes="mr-3"):
                html.Span(_label("language", "Language"), classes="cv-lang-word")
                with html.Select(raw_attrs=['v-model="lang"', 'aria-label="Language"'],
                                 classes="cv-select ml-1"):
                    html.Option("{{ l.title }}", v_for="l in langs", key="l.value", value=("l.value",))
            v3.VSwitch(v_model=("clinician",), label=("clinician ? (labels.clinician || 'Clinician') "
                                                      ": (labels.patient || 'Patient')",),
                       hide_details=True, density="compact", color="primary",
                       classes="mr-3 flex-grow-0 cv-nowrap",
                       raw_attrs=['aria-label="Clinician view"'])
            with v3.VBtn(click="trigger('cv_shot')", variant="outlined", prepend_icon="mdi-camera",
                         classes="mr-2 text-none", raw_attrs=['aria-label="Screenshot"']):
                html.Span(_label("screenshot", "Screenshot"), classes="cv-shot-label")
            # pressed in the page's own script (app_takehome.TAKE_HOME_JS): it saves the files the reply names
            with v3.VBtn(variant="outlined", prepend_icon="mdi-download", classes="mr-2 text-none",
                         raw_attrs=['aria-label="Take home"', 'id="cv-take-home"']):
                html.Span(_label("take_home", "Take home"), classes="cv-shot-label")
        with v3.VMain(), html.Div(classes="cv-grid"):
            with html.Div(classes="cv-main"):
                _main_column(app)
            with html.Div(classes="cv-side"):
                _side_column(app)
        with v3.VFooter(app=True, height=36, classes="py-0 cv-footer"):
            html.Div("{{ disclaimer }}", classes="cv-disclaimer", raw_attrs=['role="note"'])
    return layout


def _main_column(app) -> None:
    with html.Div(classes="cv-view", raw_attrs=['role="region"', 'aria-label="3D view"',
                                                ":class=\"{'cv-withdrawn': withdrawn}\""]):
        # while the doctor drags, the server draws smaller, cheaper pictures (app_view.DRAG_MODES)
        app.view = vtk_widgets.VtkRemoteView(app.render_window, still_quality=92,
                                             interactive_ratio=("drag_ratio",),
                                             interactive_quality=("drag_quality",),
                                             raw_attrs=[':key="view_epoch"'])   # app_start.stale_view_asked
        # while playing, the server's pictures arrive as JPEG over the remote view (app_play.FRAME_JS)
        html.Img(alt="", classes="cv-frame", raw_attrs=['id="cv-frame"'])
        # a drag or zoom shows the ring's pictures here, drawn by the page (web/turntable.js)
        html.Canvas(classes="cv-turn", raw_attrs=['aria-hidden="true"'])
    html.Div("{{ chapter_title }}", classes="cv-chapter-title mt-1")
    html.Div("{{ caption }}", classes="cv-caption", raw_attrs=['aria-live="polite"', 'role="status"'])
    with html.Div(classes="cv-row my-1"):
        v3.VBtn("{{ playing ? (labels.pause || 'Pause') : (labels.play || 'Play') }}",
                click="trigger('cv_play')", color="primary", min_width=96,
                prepend_icon=("playing ? 'mdi-pause' : 'mdi-play'",),
                raw_attrs=[':aria-label="playing ? \'Pause\' : \'Play\'"'])
        html.Input(type="range", min=0, max=("duration_s",), step=1, classes="cv-range",
                   raw_attrs=['v-model.number="t_s"', 'aria-label="Timeline"',
                              ':aria-valuetext="clock + \' \' + chapter_title"'])
        html.Span("{{ clock }}", classes="cv-small cv-clock", style="min-width: 5.5rem",
                  raw_attrs=[':aria-label="(labels.clock || \'Procedure time\') + \' \' + clock"'])
        with html.Label():
            html.Span(_label("speed", "Speed"))
            with html.Select(raw_attrs=['v-model.number="speed"', 'aria-label="Speed"'], classes="cv-select"):
                html.Option("{{ s }}×", v_for="s in speeds", key="s", value=("s",))
    with html.Div(classes="cv-row cv-chapters", raw_attrs=['role="group"', 'aria-label="Chapters"']):
        v3.VBtn("{{ ch.title }}", v_for="(ch, i) in chapters", key="ch.id", size="small",
                variant=("ch.id === chapter_id ? 'flat' : 'tonal'",), color="secondary",
                classes="text-none", click="trigger('cv_chapter', [i])", raw_attrs=[':aria-label="ch.title"'])
        # chapters that need the thermal result: shown, but closed until it exists (app_pending)
        v3.VBtn("{{ ch.title }}", v_for="ch in pending_chapters", key="'pending-' + ch.id", size="small",
                variant="outlined", disabled=True, classes="text-none cv-pending-chapter",
                prepend_icon="mdi-timer-sand",
                raw_attrs=[_PENDING_NAME])
    # what "Take home" saved, in this page only (filled as text by app_takehome.TAKE_HOME_JS)
    html.Div(classes="cv-small cv-take-home", raw_attrs=['id="cv-take-home-status"', 'role="status"',
                                                        'aria-live="polite"'])
    with html.Div(v_if="pending_text", classes="cv-row cv-small cv-pending", raw_attrs=['role="status"']):
        v3.VProgressCircular(indeterminate=True, size=16, width=2, color="primary",
                             raw_attrs=['aria-hidden="true"'])
        html.Span("{{ pending_text }}")


@contextmanager
def _panel(title: str, region: str | None = None, classes: str = "", fold: bool = True, **kwargs):
    """A side panel that folds (``fold``): ``<details open>`` whose summary is the panel's heading.

    ``region`` keeps the panel's accessible name (a landmark) from the design contract.
    """
    attrs = ['role="region"', f'aria-label="{region}"'] if region else []
    with html.Div(classes=f"cv-panel {classes}".strip(), raw_attrs=attrs, **kwargs):
        if not fold:
            html.H2(title, classes="d-block mb-1")
            yield
            return
        with html.Details(open=True):
            with html.Summary():
                html.H2(title)
            yield


def _side_column(app) -> None:
    # not folding: "What was spared" is also a chapter button's name, and this panel is the one to keep open
    with _panel("{{ spared_title || 'What was spared' }}", "What was spared", fold=False):
        html.Div("{{ line }}", v_for="line in spared_lines", key="line")
        html.Div("{{ sim_busy ? '… ' : '' }}{{ labels['sim_' + sim_status] || sim_status }}"
                 "{{ grid_mm ? ' · ' + grid_mm + ' mm' : '' }} {{ sim_error }}",
                 classes="cv-small mt-1",
                 raw_attrs=['aria-live="polite"', 'id="cv-sim"', ':data-gen="sim_generation"',
                            ':data-sim="sim_busy ? \'busy\' : sim_status"', ':data-stage="sim_status"'])
        v3.VProgressLinear(v_if="sim_busy", indeterminate=True, color="primary", height=4, classes="mt-1",
                           raw_attrs=['aria-label="Simulating"'])
    _sizing_panel()
    with _panel(_label("ultrasound_view", "Ultrasound view"), "Ultrasound view", classes="cv-us"):
        html.Img(v_if="us_src", src=("us_src",), alt="Ultrasound picture at this moment")
        # no probe, no picture; before the result exists, no picture either (it is drawn from the result)
        html.Div("{{ pending_text || labels.ultrasound_off }}", v_if="!us_src", classes="cv-small")
    with _panel(_label("organs", "Organs")), html.Div(classes="cv-row"):
        with html.Label(v_for="o in organs", key="o.key"):
            html.Input(type="checkbox", checked=("organs_visible[o.key]",),
                       change="trigger('cv_organ', [o.key, $event.target.checked])")
            html.Span("{{ o.label }}")
        with html.Label():
            html.Input(type="checkbox", raw_attrs=['v-model="cutaway"', 'aria-label="Cut-away"'])
            html.Span(_label("cutaway", "Cut-away"))
    with html.Div(classes="cv-row mb-2"):
        with html.Label():
            html.Span(_label("view_section", "Section view"), classes="mr-1")
            with html.Select(raw_attrs=['v-model="section_view"', 'aria-label="Section view"'],
                             classes="cv-select"):
                for key, word in (("story", "As the story shows it"), ("sagittal", "Side cut"),
                                  ("transverse", "Cross cut")):
                    html.Option(_label(f"view_{key}", word), value=key)
        v3.VBtn(_label("view_reset", "Reset view"), click="trigger('cv_reset_view')", variant="outlined",
                size="small", prepend_icon="mdi-camera-retake", raw_attrs=['aria-label="Reset view"'])
    with _panel(_label("isotherms", "Ice lines")):
        with html.Div(classes="cv-row"):
            for key, name in (("iso_0", "0"), ("iso_m20", "−20"), ("iso_m40", "−40")):
                with html.Label():
                    html.Input(type="checkbox", raw_attrs=[f'v-model="{key}"',
                                                           f'aria-label="Isotherm {name} °C"'])
                    html.Span(f"{name} °C")
        with html.Div(classes="cv-small mt-1"), html.Div(v_for="item in legend", key="item.label"):
            html.Span(classes="cv-swatch", style=("{ background: item.colour }",))
            html.Span("{{ item.label }}")
    _clinician_panel()


def _sizing_panel() -> None:
    with _panel("{{ labels.sizing || 'This patient' }}", "This patient"):
        with html.Label(classes="d-flex"):
            html.Span("{{ labels.volume || 'Prostate volume' }} {{ volume_ml }} ml", style="min-width: 11rem")
            html.Input(type="range", min=15, max=100, step=1, classes="cv-range",
                       value=("volume_ml",), change="volume_ml = Number($event.target.value)",
                       raw_attrs=['aria-label="Prostate volume"'])
        with html.Label(classes="d-flex"):
            html.Span("{{ labels.rectum_gap || 'Gap to rectum' }} {{ rectum_gap_mm }} mm",
                      style="min-width: 11rem")
            html.Input(type="range", min=3, max=15, step=0.5, classes="cv-range",
                       value=("rectum_gap_mm",), change="rectum_gap_mm = Number($event.target.value)",
                       raw_attrs=['aria-label="Rectum gap"'])
        with html.Div(classes="cv-row"):
            with html.Label():
                html.Input(type="checkbox", raw_attrs=['v-model="hydrodissection"',
                                                       'aria-label="Hydrodissection"'])
                html.Span("{{ labels.hydrodissection || 'Hydrodissection' }}")
            with html.Label():
                html.Span("{{ labels.layout || 'Probe layout' }}")
                with html.Select(raw_attrs=['v-model="preset"', 'aria-label="Probe layout"'],
                                 classes="cv-select"):
                    html.Option("{{ p.label }}", v_for="p in presets", key="p.key", value=("p.key",))


def _clinician_panel() -> None:
    with _panel("{{ labels.sensors || 'Sensors' }}", "Clinician", v_if="clinician"):
        # an <img> of the SVG, never v-html: sensor names come from the scene file and must stay text
        html.Img(v_if="sensor_svg", alt="Sensor temperatures", classes="cv-sensors",
                 src=("'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(sensor_svg)",))
        with html.Label(v_if="has_lesions", classes="cv-small"):  # issue #17: most recurrences do not show
            html.Input(type="checkbox",
                       raw_attrs=['v-model="lesion_us"', 'aria-label="Lesion on ultrasound"'])
            html.Span("{{ labels.lesion_us || 'Lesion on ultrasound' }}")
        html.H2("{{ labels.probes || 'Probes' }}", classes="mt-2")
        with html.Table(classes="cv-small", style="width: 100%"):
            with html.Tr():
                for head in ("name", "hole", "x mm", "y mm", "depth mm", "group"):
                    html.Th(head, style="text-align: left")
            with html.Tr(v_for="r in probe_rows", key="r.name"):
                for col in ("name", "hole", "x_mm", "y_mm", "depth_mm", "group"):
                    html.Td(f"{{{{ r.{col} }}}}")
        with html.Div(classes="cv-small mt-2"):
            html.Div("{{ n.name }}: {{ n.value }}", v_for="n in numbers", key="n.name + n.value")
        html.Div("{{ screenshot_path }}", v_if="screenshot_path", classes="cv-small mt-1")
        html.Div("{{ take_home_path }}", v_if="take_home_path", classes="cv-small mt-1",
                 raw_attrs=['role="status"'])
