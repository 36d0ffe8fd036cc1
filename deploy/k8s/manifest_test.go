// Package k8s checks deploy/k8s/siogo.yaml offline: each document
// decodes strictly (no unknown or misspelt field) into the type of
// k8s.io/api its kind names, and the manifest keeps what shared sessions
// need: a Service without session affinity, pods ready on /readyz, and
// SIOGO_SESSIONS=shared with a Redis adapter. Its own module keeps
// k8s.io/api out of siogo's go.mod.
package k8s

import (
	"bytes"
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// documents splits a multi-document YAML file.
func documents(b []byte) [][]byte {
	var out [][]byte
	for _, d := range bytes.Split(b, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func TestManifest(t *testing.T) {
	b, err := os.ReadFile("siogo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	deployments := map[string]*appsv1.Deployment{}
	services := map[string]*corev1.Service{}
	for i, d := range documents(b) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(d, &head); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			var dep appsv1.Deployment
			if err := yaml.UnmarshalStrict(d, &dep); err != nil {
				t.Fatalf("document %d (Deployment): %v", i, err)
			}
			deployments[dep.Name] = &dep
		case "v1 Service":
			var svc corev1.Service
			if err := yaml.UnmarshalStrict(d, &svc); err != nil {
				t.Fatalf("document %d (Service): %v", i, err)
			}
			services[svc.Name] = &svc
		default:
			t.Fatalf("document %d: unexpected %s %s", i, head.APIVersion, head.Kind)
		}
	}
	dep, svc := deployments["siogo"], services["siogo"]
	if dep == nil || svc == nil || deployments["redis"] == nil || services["redis"] == nil {
		t.Fatalf("want Deployments and Services siogo and redis; have %v %v", deployments, services)
	}
	if svc.Spec.SessionAffinity != corev1.ServiceAffinityNone {
		t.Errorf("siogo's Service has session affinity %q, want None", svc.Spec.SessionAffinity)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Errorf("siogo runs %v replicas: a cluster wants several", dep.Spec.Replicas)
	}
	// The Service selects the pods, and each Deployment its own.
	for name, d := range deployments {
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("Deployment %s: its selector %s=%s does not match its pods", name, k, v)
			}
		}
		if s := services[name]; s != nil {
			for k, v := range s.Spec.Selector {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("Service %s: its selector %s=%s does not match the pods", name, k, v)
				}
			}
		}
	}
	c := dep.Spec.Template.Spec.Containers
	if len(c) != 1 {
		t.Fatalf("siogo's pod has %d containers", len(c))
	}
	env := map[string]string{}
	for _, e := range c[0].Env {
		env[e.Name] = e.Value
	}
	if env["SIOGO_SESSIONS"] != "shared" {
		t.Errorf("SIOGO_SESSIONS=%q, want shared", env["SIOGO_SESSIONS"])
	}
	if a := env["SIOGO_ADAPTER"]; !strings.HasPrefix(a, "redis://redis:6379") {
		t.Errorf("SIOGO_ADAPTER=%q, want the redis Service", a)
	}
	if p := c[0].ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Errorf("siogo's readiness probe: %+v, want GET /readyz", p)
	}
	if p := c[0].LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("siogo's liveness probe: %+v, want GET /healthz", p)
	}
	// The Service's target port is the container's, by name.
	ports := map[string]int32{}
	for _, p := range c[0].Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, p := range svc.Spec.Ports {
		if _, ok := ports[p.TargetPort.String()]; !ok {
			t.Errorf("Service port %s targets %s, which the container does not name", p.Name, p.TargetPort.String())
		}
	}
	if ports["http"] != 3000 || env["SIOGO_ADDR"] != ":3000" {
		t.Errorf("container port %d, SIOGO_ADDR %q: want 3000 both", ports["http"], env["SIOGO_ADDR"])
	}
}
