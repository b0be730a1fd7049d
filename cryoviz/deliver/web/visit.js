/* cryoviz take-home viewer: the story's key moments as a 3D scene, drawn with three.js (vendored).
 * Reads the scene from <script id="cv-scene"> (JSON) and <script id="cv-blob"> (gzip + base64 binary):
 * nothing is fetched, so the file works from a USB stick with no network. */
(function () {
  "use strict";
  const T = window.THREE;
  const data = JSON.parse(document.getElementById("cv-scene").textContent);
  const canvas = document.getElementById("cv-canvas");
  const labelLayer = document.getElementById("cv-labels");
  const state = { moment: 0, hidden: new Set(), section: "none", labels: true };

  async function inflate() {
    const b64 = document.getElementById("cv-blob").textContent.trim();
    const bin = atob(b64);
    const raw = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) raw[i] = bin.charCodeAt(i);
    const stream = new Blob([raw]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).arrayBuffer();
  }

  function geometries(buf) {
    return data.geometries.map((g) => {
      const geo = new T.BufferGeometry();
      geo.setAttribute("position", new T.BufferAttribute(new Float32Array(buf, g.points[0], g.points[1]), 3));
      if (g.colours) {
        const c = new Uint8Array(buf, g.colours[0], g.colours[1]);
        geo.setAttribute("color", new T.BufferAttribute(c, g.colour_size || 3, true));
      }
      if (g.kind === "mesh") {
        geo.setIndex(new T.BufferAttribute(new Uint32Array(buf, g.triangles[0], g.triangles[1]), 1));
        geo.computeVertexNormals();
      }
      return { kind: g.kind, geo: geo };
    });
  }

  const renderer = new T.WebGLRenderer({ canvas: canvas, antialias: true, preserveDrawingBuffer: true });
  renderer.localClippingEnabled = true;
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  const scene = new T.Scene();
  scene.background = new T.Color(data.background);
  const camera = new T.PerspectiveCamera(30, 1, 1, 5000);
  scene.add(new T.HemisphereLight(0xffffff, 0x444444, 1.6));
  const key = new T.DirectionalLight(0xffffff, 1.6);
  camera.add(key);
  key.position.set(0.4, 0.6, 1);
  scene.add(camera);
  const group = new T.Group();
  scene.add(group);
  const controls = new T.OrbitControls(camera, canvas);
  controls.enableDamping = false;
  controls.addEventListener("change", draw);
  const c = data.centre_mm;
  const planes = {
    none: null,
    sagittal: new T.Plane(new T.Vector3(-1, 0, 0), c[0]),
    transverse: new T.Plane(new T.Vector3(0, 0, -1), c[2]),
  };
  let geos = [];

  function build() {
    group.clear();
    const m = data.moments[state.moment];
    const plane = planes[state.section];
    for (const a of m.actors) {
      // an organ is drawn whole ("organ:NAME") or, in the renderer's section views, as its capped cut
      // ("section:VIEW:NAME"); one toggle hides both
      const part = /^(?:organ|section:[a-z]+):(.+)$/.exec(a.name);
      const organ = part ? part[1] : null;
      if (organ && state.hidden.has(organ)) continue;
      const g = geos[a.geometry];
      const clip = plane && a.cut ? [plane] : [];
      const vertexAlpha = g.geo.getAttribute("color") && g.geo.getAttribute("color").itemSize === 4;
      const translucent = a.opacity < 0.999 || vertexAlpha;
      let obj;
      if (g.kind === "points") {
        obj = new T.Points(g.geo, new T.PointsMaterial({
          color: new T.Color().setRGB(a.colour[0], a.colour[1], a.colour[2], T.SRGBColorSpace),
          size: Math.max(a.point_size, 2), sizeAttenuation: false, transparent: translucent,
          opacity: a.opacity }));
      } else {
        const mat = new T.MeshPhongMaterial({
          color: g.geo.getAttribute("color") ? 0xffffff
            : new T.Color().setRGB(a.colour[0], a.colour[1], a.colour[2], T.SRGBColorSpace),
          vertexColors: !!g.geo.getAttribute("color"), transparent: translucent, opacity: a.opacity,
          depthWrite: !translucent, side: T.DoubleSide, clippingPlanes: clip, shininess: 25,
          specular: 0x222222 });
        obj = new T.Mesh(g.geo, mat);
        obj.renderOrder = translucent ? 1 : 0;
      }
      obj.matrixAutoUpdate = false;
      obj.matrix.fromArray(a.matrix);
      obj.name = a.name;
      group.add(obj);
      if (a.name.startsWith("lesion:") && g.kind === "mesh") {
        // as the renderer does: a faint copy drawn over everything, so a lesion behind the urethra or
        // inside the ice still shows where it is
        const ghost = new T.Mesh(g.geo, new T.MeshBasicMaterial({
          color: obj.material.color, transparent: true, opacity: data.lesion_ghost_opacity,
          depthTest: false, depthWrite: false, clippingPlanes: clip }));
        ghost.renderOrder = 10;
        ghost.matrixAutoUpdate = false;
        ghost.matrix.fromArray(a.matrix);
        group.add(ghost);
      }
    }
  }

  function setCamera() {
    const m = data.moments[state.moment].camera;
    const f = new T.Vector3().fromArray(m.focal);
    const p = new T.Vector3().fromArray(m.position);
    let up = new T.Vector3().fromArray(m.up);
    const dist = p.distanceTo(f);
    if (state.section === "sagittal") {
      p.set(f.x + dist, f.y, f.z); up = new T.Vector3(0, 0, 1);
    } else if (state.section === "transverse") {
      p.set(f.x, f.y, f.z + dist); up = new T.Vector3(0, -1, 0);
    }
    camera.position.copy(p);
    camera.up.copy(up);
    camera.fov = m.angle;
    controls.target.copy(f);
    camera.lookAt(f);
    controls.update();
  }

  function resize() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    draw();
  }

  function placeLabels() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    for (const el of labelLayer.children) {
      const organ = el.dataset.organ;
      // in the lesion moment only the lesion is named, so no other label covers it
      const lesionOnly = data.moments[state.moment].id === "lesion" && !organ.startsWith("lesion:");
      const shown = state.labels && !state.hidden.has(organ) && state.section === "none" && !lesionOnly;
      if (!shown) { el.hidden = true; continue; }
      const v = new T.Vector3().fromArray(data.label_anchors[organ]).project(camera);
      el.hidden = v.z > 1 || Math.abs(v.x) > 1 || Math.abs(v.y) > 1;
      // beside the point it names (8 px to the right), not on top of it
      el.style.transform = "translate(" + ((v.x + 1) / 2 * w + 8).toFixed(1) + "px," +
        ((1 - v.y) / 2 * h).toFixed(1) + "px) translateY(-50%)";
    }
  }

  let frames = 0;
  function draw() {
    renderer.render(scene, camera);
    placeLabels();
    frames += 1;
    document.body.dataset.frames = String(frames);
  }

  function showMoment(i) {
    state.moment = i;
    document.querySelectorAll("[data-moment]").forEach((b) => {
      b.setAttribute("aria-pressed", String(Number(b.dataset.moment) === i));
    });
    document.querySelectorAll("[data-moment-text]").forEach((s) => {
      s.hidden = Number(s.dataset.momentText) !== i;
    });
    canvas.setAttribute("aria-label", data.ui.view_3d + ": " + data.moments[i].title);
    build();
    setCamera();
    draw();
  }

  function wire() {
    document.querySelectorAll("[data-moment]").forEach((b) => {
      b.addEventListener("click", () => showMoment(Number(b.dataset.moment)));
    });
    document.querySelectorAll("[data-organ-toggle]").forEach((box) => {
      box.addEventListener("change", () => {
        if (box.checked) state.hidden.delete(box.dataset.organToggle);
        else state.hidden.add(box.dataset.organToggle);
        build(); draw();
      });
    });
    document.querySelectorAll("input[name=cv-section]").forEach((r) => {
      r.addEventListener("change", () => { state.section = r.value; build(); setCamera(); draw(); });
    });
    document.getElementById("cv-names").addEventListener("change", (e) => {
      state.labels = e.target.checked; draw();
    });
    const turn = (rad) => {
      const off = camera.position.clone().sub(controls.target);
      off.applyAxisAngle(camera.up.clone().normalize(), rad);
      camera.position.copy(controls.target).add(off);
      camera.lookAt(controls.target); controls.update(); draw();
    };
    const zoom = (k) => {
      const off = camera.position.clone().sub(controls.target).multiplyScalar(k);
      camera.position.copy(controls.target).add(off); controls.update(); draw();
    };
    document.getElementById("cv-left").addEventListener("click", () => turn(-Math.PI / 8));
    document.getElementById("cv-right").addEventListener("click", () => turn(Math.PI / 8));
    document.getElementById("cv-in").addEventListener("click", () => zoom(0.8));
    document.getElementById("cv-out").addEventListener("click", () => zoom(1.25));
    document.getElementById("cv-reset").addEventListener("click", () => { setCamera(); draw(); });
    new ResizeObserver(resize).observe(canvas);
  }

  inflate().then((buf) => {
    geos = geometries(buf);
    wire();
    resize();
    showMoment(0);
    document.body.dataset.ready = "1";
    renderer.getContext().finish();  // the first frame is really drawn before the clock is read
    window.cvLoadedMs = performance.now();
  }).catch((err) => {
    document.getElementById("cv-error").hidden = false;
    document.body.dataset.ready = "error";
    console.error(err);
  });
})();
