"""What tests against a kindlike cluster look like."""
import json
import textwrap


def test_every_node_is_ready(kindlike_cluster):
    nodes = json.loads(kindlike_cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == len(kindlike_cluster.nodes)
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]


def test_deployment_from_a_local_image(kindlike_cluster, namespace, app_image):
    kindlike_cluster.apply(textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: app, namespace: {namespace}}}
        spec:
          replicas: 2
          selector: {{matchLabels: {{app: app}}}}
          template:
            metadata: {{labels: {{app: app}}}}
            spec:
              containers:
              - name: app
                image: {app_image}
                imagePullPolicy: Never      # loaded by kindlike, never pulled
                command: ["sh", "-c", "echo started; sleep 3600"]
        """))
    kindlike_cluster.kubectl("-n", namespace, "rollout", "status", "deployment/app", "--timeout=180s", timeout=240)
    out = kindlike_cluster.kubectl("-n", namespace, "exec", "deploy/app", "--", "sh", "-c", "echo hello").stdout
    assert out.strip() == "hello"


def test_configmap_round_trip(kindlike_cluster, namespace):
    kindlike_cluster.kubectl("-n", namespace, "create", "configmap", "settings", "--from-literal=mode=test")
    got = kindlike_cluster.kubectl("-n", namespace, "get", "configmap", "settings",
                                   "-o", "jsonpath={.data.mode}").stdout
    assert got == "test"
