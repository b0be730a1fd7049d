"""A long consultation holds one result, one story and one renderer, however often the patient is re-sized.

The 10-minute soak (``cryoviz bench soak``) measures the server's memory; these tests pin down, in process,
what it is made of: each accepted sizing change re-simulates (a preview, then the full result, memory-mapped
from the cache on the second pass), and the app must let go of the previous patient's story, thermal result
and render window when it installs the next.
"""

from __future__ import annotations

import gc
import re
import weakref

import numpy as np
from _apphelpers import SCENE

SIZE = (240, 180)


def test_resimulations_let_go_of_each_previous_story_result_and_renderer(tmp_path, monkeypatch):
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.model.scene_load import load_scene

    monkeypatch.setenv("CRYOVIZ_CACHE", str(tmp_path / "cache"))
    app = ConsultationApp(load_scene(SCENE), size=SIZE, preview_grid_mm=6.0, full_grid_mm=5.0,
                          screenshot_dir=tmp_path / "shots")
    try:
        if app.future is not None:
            app.future.result(timeout=600)
            app.process_pending()
        shown = []      # weak references to what each install showed: the app's own objects only
        for volume in (25.0, 40.0, 25.0, 40.0, 30.0, 25.0):   # the second pass loads from the cache
            app.state.volume_ml = volume
            app._on_sizing(volume, app.state.rectum_gap_mm, app.state.hydrodissection, app.state.preset)
            app.future.result(timeout=600)
            assert app.process_pending() >= 2     # the anatomy chapters or a preview, then the result
            assert app.state.sim_status == "full"
            app.map_thread.join(timeout=60)
            app._show_now()
            assert app.renderer.image().astype(np.int16).std() > 5
            shown.append([weakref.ref(o) for o in (app.story, app.story.result, app.story.result.temps_c,
                                                   app.renderer, app.renderer.plotter)])
        assert app.scene.anatomy.volume_ml == 25.0 and app.state.sim_status == "full"
        gc.collect()
        alive = [[ref() is not None for ref in refs] for refs in shown]
        assert alive[-1] == [True] * 5
        assert alive[:-1] == [[False] * 5] * (len(shown) - 1), alive
    finally:
        app._on_exit()


def test_the_page_never_asks_for_a_larger_picture_than_the_server_draws():
    """The 3D view's CSS box is capped at the server's largest view size: a legitimate page on a 4K screen
    gets pictures of the size it asked for (trame-vtk's remote view waits for exactly that size), and only a
    hostile client is clamped."""
    from cryoviz.deliver.app_security import VIEW_PX
    from cryoviz.deliver.app_ui import _CSS

    rule = re.search(r"\.cv-view \{([^}]*)\}", _CSS).group(1)
    width = int(re.search(r"max-width:\s*(\d+)px", rule).group(1))
    height = int(re.search(r"max-height:\s*(\d+)px", rule).group(1))
    assert (width, height) == VIEW_PX[1]
    # about 70 bytes a drawn pixel while playing: the largest picture must leave the 1 GB goal room
    assert width * height * 70 / 2**20 < 200



def test_the_server_asks_glibc_to_return_large_freed_buffers():
    """``serve`` fixes glibc's mmap threshold, so freed picture buffers do not stay in the process."""
    import subprocess
    import sys

    code = """
import sys, numpy as np
if sys.argv[1] == "tuned":
    from cryoviz.deliver.app_serve import tune_allocator
    assert tune_allocator()
base = int(open('/proc/self/statm').read().split()[1])
big = np.ones(4_000_000 // 8); del big          # a freed 4 MB buffer: glibc raises its mmap threshold
keep = []
for i in range(60):
    a = np.ones((2_700_000 + 20_000 * i) // 8)  # a picture buffer, a little larger each time
    keep.append(np.ones(64 + i))               # something small that lives on, allocated after it
    del a
print((int(open('/proc/self/statm').read().split()[1]) - base) * 4096)
"""
    kept = {}
    for mode in ("plain", "tuned"):
        out = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        kept[mode] = int(out.stdout.strip())
    assert kept["tuned"] < 2**20 < kept["plain"], kept   # plain glibc keeps the last buffers' pages
