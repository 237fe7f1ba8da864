"""A user's test of an image pushed to the session's registry: the
`kindlike_registry` fixture's push gives the reference a pod names."""
import os

import kindlike


def test_pushed_image_runs(kindlike_cluster, kindlike_registry):
    assert isinstance(kindlike_registry, kindlike.LocalRegistry)
    ref = kindlike_registry.push(os.environ["KINDLIKE_PLUGIN_IMAGE"], "e2e/plugin:1")
    assert ref == f"{kindlike_registry.address}/e2e/plugin:1"
    kindlike_cluster.kubectl("run", "pushed", f"--image={ref}", "--image-pull-policy=Always", "--restart=Never",
                             "--command", "--", "sleep", "100000")
    kindlike_cluster.kubectl("wait", "--for=condition=Ready", "pod/pushed", "--timeout=180s")
